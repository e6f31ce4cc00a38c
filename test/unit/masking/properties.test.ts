// Properties over generated input (fast-check):
//   - the byte prefilter never changes a result: masking a field through a DataRow (with
//     the prefilter) equals masking its text with every detector (without it);
//   - masked JSON stays JSON, planted secrets are gone, everything else is unchanged,
//     however the document spells its strings (escapes included);
//   - masked text stays well-formed UTF-8 and DataRow lengths stay consistent.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createMasker, type ColumnResolver } from '../../../src/masking/masker.js';
import { Oid } from '../../../src/masking/pg-types.js';
import { markerFor, type DetectorKind } from '../../../src/masking/types.js';
import { dataRow, field, rowFields, rowTexts } from './helpers.js';

const masker = createMasker({ detectors: 'all' });
const noColumns: ColumnResolver = () => undefined;
const textPlan = masker.planResult([field('t', Oid.text)], noColumns, { exempt: false });
const twoTextPlan = masker.planResult([field('a', Oid.text), field('b', Oid.varchar, { format: 1 })], noColumns, { exempt: false });
const jsonbPlan = masker.planResult([field('j', Oid.jsonb, { format: 1 })], noColumns, { exempt: false });
if (textPlan === null || twoTextPlan === null || jsonbPlan === null) throw new Error('expected plans');

/** Secrets that identify themselves, each with what it must be replaced by. */
const SECRETS: ReadonlyArray<[string, string]> = (
  [
    ['alice.smith@example.com', 'email'],
    ['jörg@bücher.de', 'email'],
    ['4111 1111 1111 1111', 'credit-card'],
    ['5500-0000-0000-0004', 'credit-card'],
    ['DE89 3704 0044 0532 0130 00', 'iban'],
    ['+44 20 7946 0958', 'phone'],
    ['(415) 555-2671', 'phone'],
    ['eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U', 'jwt'],
    ['AKIAIOSFODNN7EXAMPLE', 'aws-access-key'],
    ['ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8', 'github-token'],
    ['glpat-xYz12AbC34dEf56GhI78', 'gitlab-token'],
    ['xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx', 'slack-token'],
    ['sk_live_4eC39HqLyjWDarjtT1zdp7dc', 'stripe-key'],
    ['sk-proj-Ab3dEf6hIj9kLmN0pQr2sTu4vWx6yZ8aBc_DeFgHiJk', 'openai-key'],
    ['sk-ant-api03-Xk9vQ2mN8pL4rT6wY1zB3cD5eF7gH9jK0lM2nP4qR6sT8uV0wX', 'anthropic-key'],
    ['-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----', 'private-key'],
    ['AIzaSyDEMO-1a2B3c4D5e6F7g8H9i0J1k2L3m4N5o', 'gcp-api-key'],
    ['192.168.10.20', 'ipv4'],
    ['2001:db8::42', 'ipv6'],
  ] as const
).map(([s, k]) => [s, markerFor(k as DetectorKind)]);

// Prose that no detector may fire on: lowercase words, non-ASCII, punctuation without
// digits, '@', ':' or '-'. ("bearer" is left out: before a planted secret it is a cue.)
const word = fc.constantFrom('the', 'agent', 'asked', 'about', 'a', 'refund', 'é', 'straße', '日本語', '👋', 'ok,', 'done.', 'secret', 'key', 'token', 'quote"d', 'back\\slash');
const cue = fc.constantFrom('sk-', 'sk_live_', 'eyJ', 'AKIA', 'AIza', 'PRIVATE KEY', '-----BEGIN RSA PRIVATE KEY-----', 'Bearer ', 'bearer', 'Authorization: ', 'aws_secret=', 'hooks.slack.com/', 'ghp_', 'glpat-', 'xoxb-');
const prose = fc.array(word, { minLength: 0, maxLength: 6 }).map((w) => w.join(' '));

interface Planted {
  text: string;
  expected: string;
}

const plantedString: fc.Arbitrary<Planted> = fc
  .tuple(prose, fc.option(fc.constantFrom(...SECRETS), { nil: undefined }), prose)
  .map(([a, secret, b]) => (secret ? { text: `${a} ${secret[0]} ${b}`, expected: `${a} ${secret[1]} ${b}` } : { text: a, expected: a }));

type Doc = { json: unknown; expected: unknown };

const doc: fc.Arbitrary<Doc> = fc.letrec<{ value: Doc }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    plantedString.map((p) => ({ json: p.text, expected: p.expected })),
    fc.integer({ min: -1000, max: 100000 }).map((n) => ({ json: n, expected: n })),
    fc.constant({ json: 4111111111111111, expected: markerFor('credit-card') }),
    fc.constantFrom(true, false, null).map((v) => ({ json: v, expected: v })),
    fc.array(tie('value'), { maxLength: 4 }).map((items) => ({ json: items.map((i) => i.json), expected: items.map((i) => i.expected) })),
    fc.array(fc.tuple(plantedString, tie('value')), { maxLength: 4 }).map((members) => {
      const json: Record<string, unknown> = {};
      const expected: Record<string, unknown> = {};
      for (const [k, v] of members) {
        if (k.text in json || k.expected in expected) continue;
        json[k.text] = v.json;
        expected[k.expected] = v.expected;
      }
      return { json, expected };
    }),
  ),
})).value;

/** JSON text with some characters of its strings written as \uXXXX escapes. */
function stringifyWithEscapes(value: unknown, escape: (i: number) => boolean): string {
  let n = 0;
  const str = (s: string): string =>
    JSON.stringify(s).replace(/[^"\\]/g, (ch) => (ch.charCodeAt(0) < 0x7f && escape(n++) ? `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}` : ch));
  const walk = (v: unknown): string => {
    if (typeof v === 'string') return str(v);
    if (Array.isArray(v)) return `[${v.map(walk).join(', ')}]`;
    if (v !== null && typeof v === 'object') return `{${Object.entries(v).map(([k, x]) => `${str(k)}: ${walk(x)}`).join(', ')}}`;
    return JSON.stringify(v);
  };
  return walk(value);
}

function jsonbField(text: string): Buffer {
  return Buffer.concat([Buffer.of(1), Buffer.from(text, 'utf8')]);
}

describe('properties', () => {
  it('masked JSON parses, planted secrets are gone and the rest is unchanged', () => {
    fc.assert(
      fc.property(doc, fc.array(fc.boolean(), { minLength: 1, maxLength: 64 }), (d, bits) => {
        const text = stringifyWithEscapes(d.json, (i) => bits[i % bits.length] === true && i % 3 === 0);
        const out = rowFields(jsonbPlan.maskDataRow(dataRow([jsonbField(text)])))[0] as Buffer;
        expect(out[0]).toBe(1);
        const masked = out.toString('utf8', 1);
        expect(JSON.parse(masked)).toEqual(d.expected);
        for (const [secret] of SECRETS) expect(masked).not.toContain(secret);
      }),
      { numRuns: 400 },
    );
  });

  it('the prefilter never changes what masking does', () => {
    const fragment = fc.oneof(
      word,
      fc.constantFrom(...SECRETS.map((s) => s[0])),
      fc.constantFrom(' ', '\\n', '\\u0040', '\\/', '\\', '"', '{', '}', ':', '::', '.', '-', '_', '+', '(', ')', '@', '/', '=', ',', '\n'),
      cue,
      fc.stringMatching(/^[0-9]{1,6}$/),
      fc.stringMatching(/^[A-Za-z0-9/+]{1,44}$/),
      fc.stringMatching(/^[0-9a-f:]{1,12}$/),
      fc.stringMatching(/^[A-Z]{2}[0-9]{2}$/),
      fc.string({ maxLength: 4 }),
    );
    fc.assert(
      fc.property(fc.array(fragment, { maxLength: 24 }), (parts) => {
        const text = parts.join('');
        const viaRow = rowTexts(textPlan.maskDataRow(dataRow([text])))[0];
        expect(viaRow).toBe(masker.maskText(text));
      }),
      { numRuns: 2000 },
    );
  });

  it('masked text is well-formed UTF-8 and field lengths match', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string({ unit: 'grapheme' }), fc.constantFrom(...SECRETS.map((s) => s[0]))), { maxLength: 8 }), (parts) => {
        const text = parts.join(' ');
        const frame = twoTextPlan.maskDataRow(dataRow([text, text]));
        expect(frame.readInt32BE(1)).toBe(frame.length - 1);
        for (const f of rowFields(frame)) {
          const bytes = f as Buffer;
          expect(Buffer.from(bytes.toString('utf8'), 'utf8').equals(bytes)).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });
});
