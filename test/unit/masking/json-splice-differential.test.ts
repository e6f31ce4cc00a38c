// The json/jsonb splice (maskTrustedJson's fast path) against two references:
//   - the splice as it was before QuoteCursor (each hit searched back to the nearest
//     unescaped quote and forward to its string's end, copied below): the same edits;
//   - the walker (maskJsonDocument untrusted): the same masked text.
// The hits come from a detector that puts them wherever the generator says (at quotes,
// right before and after them, in numbers, in whitespace, at the first and last
// character), over documents whose strings are made of escapes, backslash runs, JSON
// punctuation and non-ASCII text, and from the real detectors over the same documents.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ALL_DETECTORS } from '../../../src/masking/detectors/registry.js';
import { maskJsonDocument, maskTrustedJson, type Edit } from '../../../src/masking/json-masker.js';
import { createMasker } from '../../../src/masking/masker.js';
import { Oid } from '../../../src/masking/pg-types.js';
import { Scanner } from '../../../src/masking/scanner.js';
import { markerFor, type Detector, type Match } from '../../../src/masking/types.js';
import { dataRow, field, rowFields } from './helpers.js';

// ---- the splice before 3518616 (reference): per-hit quote searches; the Splicer as now ----
function refIsWs(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}
function refClosingQuote(s: string, q: number): number {
  let from = q + 1;
  for (;;) {
    const e = s.indexOf('"', from);
    if (e < 0) return -1;
    let k = e - 1;
    while (k > q && s.charCodeAt(k) === 0x5c) k--;
    if ((e - 1 - k) % 2 === 0) return e;
    from = e + 1;
  }
}
function refIsNumberChar(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2b || c === 0x2e || c === 0x65 || c === 0x45;
}
class RefSplicer {
  readonly edits: Edit[] = [];
  private from = 0;
  constructor(private readonly s: string) {}
  inString(m: Match): void {
    this.edits.push({ start: m.start, end: m.end, text: markerFor(m.kind) });
    this.from = m.end;
  }
  asNumber(m: Match, next: number): boolean {
    const s = this.s;
    // Not in 3518616^: the two checks that keep a number's hits to one edit inside it.
    if (m.start < this.from) return m.end <= this.from;
    for (let k = m.start; k < m.end; k++) if (!refIsNumberChar(s.charCodeAt(k))) return false;
    let a = m.start;
    while (a > this.from && refIsNumberChar(s.charCodeAt(a - 1))) a--;
    let b = m.end;
    while (b < s.length && refIsNumberChar(s.charCodeAt(b))) b++;
    const c = s.charCodeAt(a);
    if (!((c >= 0x30 && c <= 0x39) || c === 0x2d) || b > next) return false;
    this.edits.push({ start: a, end: b, text: JSON.stringify(markerFor(m.kind)) });
    this.from = b;
    return true;
  }
}
function refSpliceHits(s: string, matches: readonly Match[]): Edit[] | null {
  const out = new RefSplicer(s);
  let q = -1;
  let e = -1;
  for (const m of matches) {
    while (e < m.start) {
      q = s.indexOf('"', e + 1);
      if (q < 0) {
        q = e = s.length;
        break;
      }
      e = refClosingQuote(s, q);
      if (e < 0) return null;
    }
    if (q < m.start && m.end <= e) {
      out.inString(m);
      continue;
    }
    if (m.end > q || !out.asNumber(m, q)) return null;
  }
  return out.edits;
}
function refQuoteBefore(s: string, h: number): number {
  for (let q = s.lastIndexOf('"', h); q >= 0; q = q > 0 ? s.lastIndexOf('"', q - 1) : -1) {
    let k = q - 1;
    while (k >= 0 && s.charCodeAt(k) === 0x5c) k--;
    if ((q - 1 - k) % 2 === 0) return q;
  }
  return -1;
}
function refQuoteOpens(s: string, q: number): number {
  let a = q - 1;
  while (a >= 0 && refIsWs(s.charCodeAt(a))) a--;
  const before = a < 0 ? -1 : s.charCodeAt(a);
  if (before !== -1 && before !== 0x7b && before !== 0x5b && before !== 0x3a && before !== 0x2c) return 0;
  let c = q + 1;
  while (c < s.length && refIsWs(s.charCodeAt(c))) c++;
  const after = c >= s.length ? -1 : s.charCodeAt(c);
  if (after !== -1 && after !== 0x3a && after !== 0x2c && after !== 0x7d && after !== 0x5d) return 1;
  return -1;
}
function refSpliceHitsLocally(s: string, matches: readonly Match[]): Edit[] | null | undefined {
  const out = new RefSplicer(s);
  for (const m of matches) {
    const q = refQuoteBefore(s, m.start);
    if (q === m.start) return null;
    const opens = q < 0 ? 0 : refQuoteOpens(s, q);
    if (opens < 0) return undefined;
    if (opens === 1) {
      const e = refClosingQuote(s, q);
      if (e < 0 || m.end > e) return null;
      out.inString(m);
      continue;
    }
    let next = s.indexOf('"', m.start);
    if (next < 0) next = s.length;
    if (m.end > next || !out.asNumber(m, next)) return null;
  }
  return out.edits;
}
function refSpliceEdits(s: string, matches: readonly Match[]): Edit[] | null {
  const local = refSpliceHitsLocally(s, matches);
  return local === undefined ? refSpliceHits(s, matches) : local;
}

function applyEditsForTest(s: string, edits: readonly Edit[]): string {
  let out = '';
  let from = 0;
  for (const e of edits) {
    expect(e.start).toBeGreaterThanOrEqual(from);
    out += s.slice(from, e.start) + e.text;
    from = e.end;
  }
  return out + s.slice(from);
}

// ---- documents ----
// Raw fragments of a JSON string's body: escapes (so backslash runs of any length and
// parity form where they meet), punctuation that makes a quote's kind unreadable,
// non-ASCII, and secrets.
const FRAGMENTS = [
  'a', 'x y', ' ', '\\"', '\\\\', '\\n', '\\/', '\\u0040', '\\u00e9', ', ', ': ', ',', ':', '}', ']', '{', '[', ' ,', '} ',
  'é', '日本', '👋', '\u00a0', 'alice.smith@example.com', 'alice\\u0040example.com', '4111 1111 1111 1111', '4111111111111111',
  '192.168.10.20', 'AKIAIOSFODNN7EXAMPLE', 'Bearer abc123def456ghi789', 'e', '-', '1',
];
const body = fc.array(fc.constantFrom(...FRAGMENTS), { maxLength: 8 }).map((p) => p.join(''));
const ws = fc.constantFrom('', '', ' ', '\n', ' \t ', '\r\n');
const NUMBERS = ['0', '42', '-1.5e3', '1E+5', '4111111111111111', '-4111111111111111', '4111111111111111.5555555555554444', '5555555555554444e-4111111111111111', '0.4111111111111111', '192'];
const LITERALS = ['true', 'false', 'null'];

const value: fc.Arbitrary<string> = fc.letrec<{ v: string }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    body.map((b) => `"${b}"`),
    fc.constantFrom(...NUMBERS, ...LITERALS),
    fc.array(fc.tuple(ws, tie('v'), ws), { maxLength: 4 }).map((ms) => `[${ms.map(([a, v, b]) => a + v + b).join(',')}]`),
    fc.array(fc.tuple(ws, body, ws, ws, tie('v'), ws), { maxLength: 4 }).map((ms) => `{${ms.map(([a, k, b, c, v, d]) => `${a}"${k}"${b}:${c}${v}${d}`).join(',')}}`),
  ),
})).v;
const doc = fc.tuple(ws, value, ws).map(([a, v, b]) => a + v + b);

// ---- hits wherever the generator says ----
interface Spot {
  /** Near the k-th quote (mod their count), or at position k (mod the length) when no quote. */
  k: number;
  atQuote: boolean;
  delta: number;
  len: number;
}
const spot = fc.record({ k: fc.nat(), atQuote: fc.boolean(), delta: fc.integer({ min: -3, max: 3 }), len: fc.integer({ min: 1, max: 24 }) });

function placedDetector(spots: readonly Spot[]): Detector {
  return {
    kind: 'email',
    scan(text: string, out: Match[]): void {
      const n = text.length;
      if (n === 0) return;
      const quotes: number[] = [];
      for (let i = text.indexOf('"'); i >= 0; i = text.indexOf('"', i + 1)) quotes.push(i);
      for (const p of spots) {
        const base = p.atQuote && quotes.length > 0 ? (quotes[p.k % quotes.length] as number) : p.k % n;
        const start = Math.min(n - 1, Math.max(0, base + p.delta));
        const end = Math.min(n, start + p.len);
        // As the real detectors: no hit starts or ends on a space, so none splits an
        // escape (findEscaped scans "\n" as two spaces).
        if (text.charCodeAt(start) === 0x20 || text.charCodeAt(end - 1) === 0x20) continue;
        out.push({ start, end, kind: 'email' });
      }
    },
  };
}

function check(json: string, scanner: Scanner): void {
  JSON.parse(json); // the generator makes JSON only
  const matches = scanner.findEscaped(json, undefined, false);
  const fast = maskTrustedJson(json, scanner);
  const walker = maskJsonDocument(json, scanner, []) ?? json;
  const ref = matches.length === 0 ? [] : refSpliceEdits(json, matches);
  if (Array.isArray(fast)) {
    if (ref !== null) expect(fast).toEqual(ref);
    const got = applyEditsForTest(json, fast);
    expect(got).toBe(walker);
    JSON.parse(got);
  } else {
    expect(ref).toBeNull();
    expect(fast).toBe(walker);
  }
}

describe('json splice against the splice before QuoteCursor and against the walker', () => {
  it('hits placed anywhere: at quotes, around them, in numbers, whitespace and at the ends', () => {
    fc.assert(
      fc.property(doc, fc.array(spot, { minLength: 1, maxLength: 12 }), (json, spots) => {
        check(json, new Scanner([placedDetector(spots)]));
      }),
      { numRuns: 8000 },
    );
  });

  it('the real detectors over the same documents', () => {
    const scanner = new Scanner(ALL_DETECTORS);
    fc.assert(
      fc.property(doc, (json) => check(json, scanner)),
      { numRuns: 3000 },
    );
  });

  it('a number holding two card numbers becomes one marker (jsonb keeps 4111111111111111.5555555555554444)', () => {
    const scanner = new Scanner(ALL_DETECTORS);
    for (const json of ['{"a":4111111111111111.5555555555554444}', '[4111111111111111.4111111111111111, "x"]', '[1, -4111111111111111.5555555555554444e1]']) {
      check(json, scanner);
    }
  });

  it('a json field whose number holds two card numbers is written into its DataRow as one marker, the row well formed', () => {
    const plan = createMasker({ detectors: 'all' }).planResult([field('a', Oid.json), field('b', Oid.jsonb)], () => undefined, { exempt: false });
    if (plan === null) throw new Error('expected a plan');
    const doc = '{"a":4111111111111111.5555555555554444}';
    const out = plan.maskDataRow(dataRow([doc, '[1, "tail"]']));
    expect(out.readInt32BE(1)).toBe(out.length - 1);
    const got = rowFields(out).map((f) => f?.toString('utf8'));
    expect(got).toEqual(['{"a":"[redacted:credit-card]"}', '[1, "tail"]']);
  });
});
