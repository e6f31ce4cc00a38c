// The paths that skip work on ASCII text, against the paths that do it all:
//   - the IBAN detector checking only the places a prefilter pass noted, against its
//     regex over the whole text;
//   - the phone detector skipping the digit runs a prefilter pass found cannot hold a
//     phone, against it looking at every run;
//   - json/jsonb fields whose hits are written straight into the output frame as edits
//     of the field's own bytes (byte-edits.ts), against the document masked as a string
//     by the walker with every detector and no prefilter, field by field, in rows that
//     mix such fields with NULLs, text, non-ASCII documents, and a jsonb array whose
//     elements need their bytes built (fieldBytes).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ALL_DETECTORS } from '../../../src/masking/detectors/registry.js';
import { ibanDetector } from '../../../src/masking/detectors/iban.js';
import { findNumberRuns, type NumberRun } from '../../../src/masking/detectors/number-runs.js';
import { phoneDetector } from '../../../src/masking/detectors/phone.js';
import { maskJsonDocument } from '../../../src/masking/json-masker.js';
import { createMasker, type ColumnResolver } from '../../../src/masking/masker.js';
import { Oid } from '../../../src/masking/pg-types.js';
import { prefilter } from '../../../src/masking/prefilter.js';
import { Scanner } from '../../../src/masking/scanner.js';
import type { Match, ScanContext } from '../../../src/masking/types.js';
import { dataRow, field, rowFields } from './helpers.js';

const IBANS = ['DE89 3704 0044 0532 0130 00', 'DE89370400440532013000', 'GB82 WEST 1234 5698 7654 32', 'GB82WEST12345698765432', 'FR14 2004 1010 0505 0001 3M02 606', 'NO9386011117947', 'MT84MALT011000012345MTLCAST001S'];
const IBAN_NEAR = ['DE12 product', 'DE89 3704 0044 0532 0130 01', 'XX89370400440532013000', 'aDE89370400440532013000', 'DE893704004405320130001', 'DE89  3704', 'QQ12', 'AB12CD34', 'de89370400440532013000'];
const AROUND = ['', ' ', 'é', '日本語', '👋', 'x', 'X', 'Z', '1', '"', '\\n', '\\"', '\\\\', '\\u0040', '\\/', ', ', ':', '-', '(', '+', '.', 'IBAN:', 'DE', 'GB8'];

const ibanText = fc.array(fc.oneof(fc.constantFrom(...IBANS, ...IBAN_NEAR, ...AROUND), fc.stringMatching(/^[A-Z]{1,3}[0-9]{1,4}$/), fc.string({ maxLength: 3 })), { maxLength: 16 }).map((p) => p.join(''));

function context(starts: readonly number[] | null): ScanContext {
  return { hint: undefined, numberRuns: () => [], privateKeyBlocks: () => [], ibanStarts: () => starts };
}

const JSON_SECRETS = [
  'alice.smith@example.com',
  '4111 1111 1111 1111',
  '5500-0000-0000-0004',
  'DE89 3704 0044 0532 0130 00',
  '+44 20 7946 0958',
  '(212) 555-0199',
  'AKIAIOSFODNN7EXAMPLE',
  'ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8',
  'sk-ant-api03-Xk9vQ2mN8pL4rT6wY1zB3cD5eF7gH9jK0lM2nP4qR6sT8uV0wX',
  'Authorization: Bearer abc123def456ghi789',
  '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----',
  '192.168.10.20',
  '2001:db8::42',
  '95f89eef-8172-4875-a0b3-31a25b49974e',
  'order 4111111111111112',
];
const EDGES = ['', ' ', 'x', '"', '\\', '\n', ', ', ': ', '} ', ']', '{', '"a": ', 'é', '\u0040'];

type Json = string | number | boolean | null | Json[] | { [k: string]: Json };

const str = fc.tuple(fc.constantFrom(...EDGES), fc.constantFrom(...JSON_SECRETS, 'plain words', ''), fc.constantFrom(...EDGES)).map(([a, s, b]) => `${a}${s}${b}`);
const value: fc.Arbitrary<Json> = fc.letrec<{ v: Json }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    str,
    fc.constantFrom(4111111111111111, 42, -1.5e3, 1921681020, null, true, false),
    fc.array(tie('v'), { maxLength: 3 }),
    fc.dictionary(fc.oneof(fc.constantFrom('email', 'card', 'note', 'ip'), str), tie('v'), { maxKeys: 4 }),
  ),
})).v;

/** JSON text, some strings with '@', letters or '/' written as escapes. */
function render(v: Json, escapeEvery: number, compact: boolean): string {
  let n = 0;
  const s = (x: string): string => {
    const out = JSON.stringify(x);
    if (escapeEvery === 0 || n++ % escapeEvery !== 0) return out;
    return out.replace(/[@a-z/]/g, (c) => (c === '/' ? '\\/' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
  };
  const walk = (x: Json): string => {
    if (typeof x === 'string') return s(x);
    if (Array.isArray(x)) return `[${x.map(walk).join(compact ? ',' : ', ')}]`;
    if (x !== null && typeof x === 'object') return `{${Object.entries(x).map(([k, y]) => `${s(k)}${compact ? ':' : ': '}${walk(y)}`).join(compact ? ',' : ', ')}}`;
    return JSON.stringify(x);
  };
  return walk(v);
}

/** A binary jsonb[] value (array_send): one dimension, lower bound 1, each element version 1. */
function jsonbArray(docs: readonly (string | null)[]): Buffer {
  const parts: Buffer[] = [];
  const head = Buffer.alloc(20);
  head.writeInt32BE(1, 0);
  head.writeInt32BE(docs.includes(null) ? 1 : 0, 4);
  head.writeUInt32BE(Oid.jsonb, 8);
  head.writeInt32BE(docs.length, 12);
  head.writeInt32BE(1, 16);
  parts.push(head);
  for (const d of docs) {
    const len = Buffer.alloc(4);
    if (d === null) {
      len.writeInt32BE(-1, 0);
      parts.push(len);
      continue;
    }
    const body = Buffer.concat([Buffer.of(1), Buffer.from(d, 'utf8')]);
    len.writeInt32BE(body.length, 0);
    parts.push(len, body);
  }
  return Buffer.concat(parts);
}

const full = new Scanner(ALL_DETECTORS);
/** The document masked as a string by the walker, every detector, no prefilter. */
function expectedJson(doc: string): string {
  return maskJsonDocument(doc, full, []) ?? doc;
}

const masker = createMasker({ detectors: 'all' });
const noColumns: ColumnResolver = () => undefined;
const JSONB_ARRAY = 3807;

describe('IBAN starts from the prefilter', () => {
  it('finds what the regex over the whole text finds', () => {
    fc.assert(
      fc.property(ibanText, (text) => {
        const buf = Buffer.from(text, 'utf8');
        const starts: number[] = [];
        prefilter(buf, 0, buf.length, [], undefined, starts);
        // Positions are byte offsets: the scanner uses them only for ASCII text without
        // \u or \/ escapes, which is what this compares.
        if (buf.length !== text.length || /\\[u/]/.test(text)) return;
        const fromStarts: Match[] = [];
        const fromRegex: Match[] = [];
        ibanDetector.scan(text, fromStarts, context(starts));
        ibanDetector.scan(text, fromRegex, context(null));
        expect(fromStarts).toEqual(fromRegex);
      }),
      { numRuns: 3000 },
    );
  });

  it('masks a text column as maskText does, IBANs among escapes and multi-byte text', () => {
    const plan = masker.planResult([field('t', Oid.text)], noColumns, { exempt: false });
    if (plan === null) throw new Error('expected a plan');
    fc.assert(
      fc.property(ibanText, (text) => {
        const got = rowFields(plan.maskDataRow(dataRow([text])))[0]?.toString('utf8');
        expect(got).toBe(masker.maskText(text));
      }),
      { numRuns: 1500 },
    );
  });
});

const PHONES = ['+44 20 7946 0958', '+1 415 555 2671', '+44 (0)20 7946 0958', '(415) 555-2671', '415-555-2671', '415.555.2671', '1-800-555-0199', '020 7946 0958', '030 1234567', '01 23 45 67 89', '+4915112345678'];
const PHONE_NEAR = ['2024-01-15', '15-01-2024', '12:30:00', 'v1.415.555.2671', 'ORD-415-555-2671', '4111111111111111', '192.168.1.20', '1234567890', '555 2671', '+12 3'];
const phoneText = fc
  .array(fc.oneof(fc.constantFrom(...PHONES, ...PHONE_NEAR), fc.stringMatching(/^[0-9 .()+-]{1,10}$/), fc.constantFrom(' ', 'x', 'call ', '(', ')', '+', '.', '-', 'a')), { maxLength: 10 })
  .map((p) => p.join(''));

function runsContext(runs: readonly NumberRun[]): ScanContext {
  return { hint: undefined, numberRuns: () => runs, privateKeyBlocks: () => [] };
}

describe('phone runs from the prefilter', () => {
  it('finds what looking at every run finds', () => {
    fc.assert(
      fc.property(phoneText, (text) => {
        const buf = Buffer.from(text, 'latin1');
        const runs: NumberRun[] = [];
        prefilter(buf, 0, buf.length, runs);
        const fromPrefilter: Match[] = [];
        const fromAll: Match[] = [];
        phoneDetector.scan(text, fromPrefilter, runsContext(runs));
        phoneDetector.scan(text, fromAll, runsContext(findNumberRuns(text)));
        expect(fromPrefilter).toEqual(fromAll);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('json fields written into the frame as edits of their bytes', () => {
  const plan = masker.planResult(
    [field('a', Oid.jsonb, { format: 1 }), field('b', Oid.json), field('n', Oid.text), field('c', Oid.jsonb), field('arr', JSONB_ARRAY, { format: 1 })],
    noColumns,
    { exempt: false },
  );
  if (plan === null) throw new Error('expected a plan');

  it('gives the walker\'s bytes for every field, and the same frame when nothing changes', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(value, fc.constantFrom(0, 1, 3), fc.boolean()), { minLength: 4, maxLength: 4 }),
        fc.constantFrom(null, 'plain note', 'mail alice.smith@example.com'),
        fc.boolean(),
        (docs, note, nullFirst) => {
          const texts = docs.map(([v, every, compact]) => render(v, every, compact));
          const [a, b, c, d] = texts as [string, string, string, string];
          const fields = [nullFirst ? null : Buffer.concat([Buffer.of(1), Buffer.from(a, 'utf8')]), b, note, c, jsonbArray([d, null, a])];
          const frame = dataRow(fields);
          const out = plan.maskDataRow(frame);
          const got = rowFields(out);
          expect(out.readInt32BE(1)).toBe(out.length - 1);
          expect(got[0]?.equals(Buffer.concat([Buffer.of(1), Buffer.from(expectedJson(a), 'utf8')])) ?? nullFirst).toBe(true);
          expect(got[1]?.toString('utf8')).toBe(expectedJson(b));
          expect(got[2]?.toString('utf8') ?? null).toBe(note === null ? null : masker.maskText(note));
          expect(got[3]?.toString('utf8')).toBe(expectedJson(c));
          expect(got[4]?.equals(jsonbArray([expectedJson(d), null, expectedJson(a)]))).toBe(true);
          const unchanged = expectedJson(a) === a && expectedJson(b) === b && expectedJson(c) === c && expectedJson(d) === d && (note === null || masker.maskText(note) === note);
          if (unchanged) expect(out).toBe(frame);
        },
      ),
      { numRuns: 600 },
    );
  });
});

describe('masked rows cut from shared slabs', () => {
  const plan = masker.planResult([field('id', Oid.int4), field('note', Oid.text)], noColumns, { exempt: false });
  if (plan === null) throw new Error('expected a plan');

  it('keeps every row a client and the recorder still hold as it was written, across slabs and for rows too big for one', () => {
    // Sizes from a few bytes to past the largest a slab takes, so rows fill slabs
    // unevenly, start new ones, and some are allocated alone.
    const notes = Array.from({ length: 400 }, (_, i) => `row ${i} mail user${i}@example.com ${'x'.repeat((i * 997) % 20000)}`);
    const outs = notes.map((n, i) => plan.maskDataRow(dataRow([Buffer.from(String(i)), n])));
    outs.forEach((out, i) => {
      expect(out.readInt32BE(1)).toBe(out.length - 1);
      expect(rowFields(out)[1]?.toString('utf8')).toBe(masker.maskText(notes[i] as string));
    });
  });
});
