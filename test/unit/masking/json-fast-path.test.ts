// The fast path of a json/jsonb field (a prefilter pass over its bytes that also looks
// for the rules' keys, the document relayed undecoded when nothing can fire, hits
// spliced in place by the quote nearest before them, or by hopping over every string)
// against the full path: the document decoded, every detector run without a prefilter
// and the structure walked with every rule (ruleTextMask, or maskJsonDocument untrusted).
// Documents carry planted secrets in plain and escaped spellings ("\u0040" for '@',
// "\/" in URLs, "\n" in PEM blocks), multi-byte UTF-8 and JSON punctuation right
// around them, near misses, deep nesting, and keys a rule names, spelled plainly, with
// escapes, or not ASCII. Every format: json text, jsonb text, jsonb binary.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileColumnRules, ruleTextMask } from '../../../src/masking/column-rules.js';
import { ALL_DETECTORS } from '../../../src/masking/detectors/registry.js';
import { maskJsonDocument } from '../../../src/masking/json-masker.js';
import { SCAN_ALL } from '../../../src/masking/prefilter.js';
import { createMasker, type ColumnResolver } from '../../../src/masking/masker.js';
import { Oid } from '../../../src/masking/pg-types.js';
import { Scanner } from '../../../src/masking/scanner.js';
import type { ColumnRule } from '../../../src/masking/types.js';
import { ValueMasker } from '../../../src/masking/value-masker.js';
import { dataRow, field, rowFields } from './helpers.js';

const TABLE_OID = 16384;
const columnOf: ColumnResolver = (oid, attnum) => (oid === TABLE_OID && attnum === 1 ? { table: 'public.t', column: 'doc' } : undefined);

const SECRETS = [
  'alice.smith@example.com',
  'jörg@bücher.de',
  '4111 1111 1111 1111',
  '4111111111111111',
  'DE89 3704 0044 0532 0130 00',
  '+44 20 7946 0958',
  '(212) 555-0199',
  'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U',
  'AKIAIOSFODNN7EXAMPLE',
  'aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  'ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8',
  'glpat-xYz12AbC34dEf56GhI78',
  'xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx',
  'https://hooks.slack.com/services/T000/B000/XXXXXXXX',
  'sk_live_4eC39HqLyjWDarjtT1zdp7dc',
  'sk-proj-Ab3dEf6hIj9kLmN0pQr2sTu4vWx6yZ8aBc_DeFgHiJk',
  'sk-ant-api03-Xk9vQ2mN8pL4rT6wY1zB3cD5eF7gH9jK0lM2nP4qR6sT8uV0wX',
  'Authorization: Bearer abc123def456ghi789',
  '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----',
  'AIzaSyDEMO-1a2B3c4D5e6F7g8H9i0J1k2L3m4N5o',
  '192.168.10.20',
  '2001:db8::42',
  'fe80:0:0:0:0:0:0:1',
];
const NEAR_MISSES = ['order 4111111111111112', 'v1.2.3', 'sk-learn-compatible-wrapper', 'user@localhost', 'DE12 product', '2025-01-01 07:24:54.161+00', '95f89eef-8172-4875-a0b3-31a25b49974e', 'a bearer token'];
// Punctuation at a string's edges makes its quotes look like the other kind ('", x'):
// the splice must then hop over the strings instead of reading the nearest quote.
const AROUND = ['', ' ', 'é', '日本語 ', '👋', 'straße:', '\u00a0', 'x', '"', '\\', '\n', ', ', ': ', '} ', ']', ' ,', '{', '"a": '];

const text = fc
  .tuple(fc.constantFrom(...AROUND), fc.constantFrom(...SECRETS, ...NEAR_MISSES, 'plain words', ''), fc.constantFrom(...AROUND))
  .map(([a, s, b]) => `${a}${s}${b}`);
const KEYS = ['user', 'email', 'credentials', 'contraseña', 'password', 'role', 'content', 'authorization', 'private_key', 'aws_secret', 'odd/key', 'ip'];

type Json = string | number | boolean | null | Json[] | { [k: string]: Json };

const value: fc.Arbitrary<Json> = fc.letrec<{ v: Json }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    text,
    fc.constantFrom(4111111111111111, 42, -1.5e3, null, true, false),
    fc.array(tie('v'), { maxLength: 3 }),
    fc.dictionary(fc.oneof(fc.constantFrom(...KEYS), text), tie('v'), { maxKeys: 4 }),
  ),
})).v;

/** A document whose root holds ruled members now and then, next to random ones. */
const rootDoc: fc.Arbitrary<Json> = fc
  .tuple(
    fc.dictionary(fc.oneof(fc.constantFrom(...KEYS), text), value, { maxKeys: 3 }),
    fc.option(fc.dictionary(fc.constantFrom('email', 'name', 'password'), value, { maxKeys: 2 }), { nil: undefined }),
    fc.option(value, { nil: undefined }),
    fc.option(fc.constantFrom('contraseña', 'odd/key', 'ip', 'password'), { nil: undefined }),
  )
  .map(([rest, user, credentials, extra]) => {
    const doc: { [k: string]: Json } = { ...rest };
    if (user !== undefined) doc['user'] = user;
    if (credentials !== undefined) doc['credentials'] = credentials;
    if (extra !== undefined) doc[extra] = 'hunter2 ' + extra;
    return doc;
  });

/** JSON text with some characters written as escapes, spaced as jsonb_out does or not. */
function render(v: Json, style: { compact: boolean; escapeEvery: number }): string {
  let n = 0;
  const str = (s: string): string => {
    const out = JSON.stringify(s);
    if (style.escapeEvery === 0 || n++ % style.escapeEvery !== 0) return out;
    // '@' and letters as \u escapes, '/' as \/: spellings of the same string.
    return out.replace(/[@a-z/]/g, (c) => (c === '/' ? '\\/' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
  };
  const walk = (x: Json): string => {
    if (typeof x === 'string') return str(x);
    if (Array.isArray(x)) return `[${x.map(walk).join(style.compact ? ',' : ', ')}]`;
    if (x !== null && typeof x === 'object') return `{${Object.entries(x).map(([k, y]) => `${str(k)}${style.compact ? ':' : ': '}${walk(y)}`).join(style.compact ? ',' : ', ')}}`;
    return JSON.stringify(x);
  };
  return walk(v);
}

const RULE_SETS: ReadonlyArray<Omit<ColumnRule, 'column'> | null> = [
  null,
  { jsonPaths: ['$.user.email', '$.credentials'], strategy: 'redact' },
  { jsonPaths: ['$..password', '$.contraseña'], strategy: 'partial', keep: 2 },
  { jsonPaths: ['$["odd/key"]', '$..ip'], strategy: 'hash' },
];

const FORMATS = [
  { name: 'jsonb binary', typeOid: Oid.jsonb, format: 1 as const },
  { name: 'jsonb text', typeOid: Oid.jsonb, format: 0 as const },
  { name: 'json', typeOid: Oid.json, format: 0 as const },
];

describe('json field fast path against the full path', () => {
  it.each(RULE_SETS.map((r, i) => [i, r] as const))('rule set %i: same bytes, and the same frame when nothing changes', (_i, rule) => {
    const cfg = { hashKey: 'test-hash-key-0123456789', detectors: 'all' as const, columns: rule === null ? [] : [{ column: 'public.t.doc', ...rule }] };
    const masker = createMasker(cfg);
    const values = new ValueMasker(new Scanner(ALL_DETECTORS));
    const compiled = compileColumnRules(cfg.columns, cfg.hashKey, (s) => values.maskString(s)).get('public.t.doc');
    // The walker over the whole document, every detector without a prefilter.
    const full = (doc: string): string => {
      if (compiled === undefined) return maskJsonDocument(doc, values.scanner, []) ?? doc;
      return ruleTextMask(compiled, Oid.jsonb, values)(doc) ?? doc;
    };
    const note = field('note', Oid.text);
    const plans = FORMATS.map((f) => ({ ...f, plan: masker.planResult([field('doc', f.typeOid, { tableOid: TABLE_OID, columnNumber: 1, format: f.format }), note], columnOf, { exempt: false }) }));
    // The next field may hold every ruled key: it must not count for this document.
    const neighbours = ['', 'é', '{"credentials": "x", "user": {"email": "y"}, "password": "z", "contraseña": "w", "odd/key": 1, "ip": 2}'];
    fc.assert(
      fc.property(fc.oneof(rootDoc, value), fc.boolean(), fc.constantFrom(0, 1, 3), fc.constantFrom(...neighbours), (doc, compact, escapeEvery, neighbour) => {
        const json = render(doc, { compact, escapeEvery });
        const expected = full(json);
        for (const { name, format, plan } of plans) {
          if (plan === null) throw new Error(`no plan for ${name}`);
          const raw = format === 1 ? Buffer.concat([Buffer.of(1), Buffer.from(json, 'utf8')]) : Buffer.from(json, 'utf8');
          const frame = dataRow([raw, neighbour]);
          const out = plan.maskDataRow(frame);
          const got = rowFields(out)[0] ?? null;
          const want = format === 1 ? Buffer.concat([Buffer.of(1), Buffer.from(expected, 'utf8')]) : Buffer.from(expected, 'utf8');
          expect(got?.equals(want), `${name}: ${got?.toString('utf8')} !== ${want.toString('utf8')}`).toBe(true);
          expect(rowFields(out)[1]?.toString('utf8'), name).toBe(neighbour);
          if (expected === json) expect(out, name).toBe(frame);
        }
      }),
      { numRuns: 400 },
    );
  });
});

describe('many hits in one document, spliced by the quotes read left to right', () => {
  // The splice reads each hit's quotes from where the last hit's reading ended: strings
  // holding many hits between escaped quotes and backslash runs, strings that begin or
  // end with punctuation (quotes that do not tell their kind), padding around strings,
  // and numbers between them, against the walker.
  const scanner = new Scanner(ALL_DETECTORS);
  const piece = fc.constantFrom('alice.smith@example.com', '4111 1111 1111 1111', '192.168.10.20', 'AKIAIOSFODNN7EXAMPLE', 'x', ' ', '"', '\\', '\\\\"', '", ', ': "', '{', ']', 'plain words ');
  const str = fc.array(piece, { minLength: 1, maxLength: 12 }).map((p) => JSON.stringify(p.join('')));
  const pad = fc.constantFrom('', ' ', '   \n ');
  const member = fc.oneof(
    fc.tuple(pad, str, pad).map(([a, s, b]) => `${a}${s}${b}`),
    fc.constantFrom('4111111111111111', '42', '-1.5e3', 'null', 'true'),
  );
  const doc = fc.array(member, { minLength: 1, maxLength: 10 }).map((ms) => `[${ms.join(',')}]`);

  it('masks what the walker masks', () => {
    fc.assert(
      fc.property(doc, (json) => {
        // Trusted: the splice, with the walker only where it cannot decide.
        expect(maskJsonDocument(json, scanner, [], SCAN_ALL, true)).toBe(maskJsonDocument(json, scanner, []));
      }),
      { numRuns: 1500 },
    );
  });
});
