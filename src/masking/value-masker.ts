// Detector masking of one typed value, in text or binary result format, by the value's
// kind (pg-types.ts). Builds, once per result column, the function the row masker calls
// per field; a column whose values never need looking at gets no function at all.
//
// A field function returns new bytes, null (the field becomes SQL NULL), or undefined
// (unchanged: the relay keeps the original bytes). Strings and JSON are masked in place
// with markers; values whose type would not parse a marker (int8, numeric, inet, bytea,
// binary values of unknown layout) become NULL when a detector fires on them.
import { maskArrayText } from './array-text.js';
import { byteEdits, ByteEdits, editedBytes } from './byte-edits.js';
import { MALFORMED, maskBinaryArray, maskBinaryRecord } from './binary-composites.js';
import { int8Text, numericText } from './binary-scalars.js';
import { maskJsonDocument, maskTrustedJson, type PathRule } from './json-masker.js';
import { ARRAY_ELEMENT, Oid, valueKind } from './pg-types.js';
import type { NumberRun } from './detectors/number-runs.js';
import { hintTriggers, KeyProbe, NOT_ASCII, prefilter, SCAN_ALL, type ScanHints } from './prefilter.js';
import { maskRecordText } from './record-text.js';
import type { Scanner } from './scanner.js';

/**
 * A field's bytes in, its masked bytes out: new bytes (or edits of its own bytes, which
 * the row writes straight into its frame), null (SQL NULL), or undefined (unchanged).
 */
export type FieldMask = (buf: Buffer, start: number, end: number) => Buffer | ByteEdits | null | undefined;

/** A FieldMask's result for a caller that needs the bytes themselves (composite values). */
export function fieldBytes(r: Buffer | ByteEdits | null | undefined, buf: Buffer, start: number, end: number): Buffer | null | undefined {
  return r instanceof ByteEdits ? editedBytes(buf, start, end, r) : r;
}
export type TextMask = (text: string) => string | null | undefined;

/** Arrays of records of arrays...: deeper than this, a value is NULL rather than walked. */
const MAX_DEPTH = 8;
const JSONB_VERSION = 1;

// bytea's hex output (bytea_output = hex, the default; the escape format spells printable
// bytes as themselves, which the detectors read as text), anywhere in a field: a bytea,
// or one inside an array or a nested record, whose backslash each level doubles.
const BYTEA_HEX_RUN = /\\+x((?:[0-9a-fA-F]{2})+)/g;

/** The bytes of every bytea hex output in `text`, decoded as UTF-8, or null if there is none. */
function byteaHexRuns(text: string): string | null {
  let out: string | null = null;
  for (const m of text.matchAll(BYTEA_HEX_RUN)) out = (out === null ? '' : `${out}\n`) + Buffer.from(m[1] as string, 'hex').toString('utf8');
  return out;
}

const EMPTY: readonly PathRule[] = [];
const NO_HINTS: ScanHints = { triggers: 0, runs: [] };
const SCRATCH_BYTES = 64;

/** What pathsCannotMatch needs of the rules: the keys their paths name. */
interface RuleKeys {
  /** Every distinct key, as JSON.stringify spells it (quotes included). */
  readonly keys: readonly string[];
  /** Per key, the code unit before its closing quote: compared before the whole key. */
  readonly lastChars: readonly number[];
  /** Per rule, the indexes into `keys` of the keys its path names. */
  readonly rules: readonly (readonly number[])[];
  /** The keys as bytes, for a prefilter pass to look for; null when one is not ASCII. */
  readonly bytes: readonly Uint8Array[] | null;
}

/** Null when a rule names no key ($, $[0], $.*), or too many keys: a document is then always walked. */
function ruleKeys(rules: readonly PathRule[]): RuleKeys | null {
  const keys: string[] = [];
  const out: number[][] = [];
  for (const r of rules) {
    const idx: number[] = [];
    for (const seg of r.path.segments) {
      if (seg.type !== 'key') continue;
      const k = JSON.stringify(seg.key);
      if (!keys.includes(k)) keys.push(k);
      idx.push(keys.indexOf(k));
    }
    if (idx.length === 0) return null;
    out.push(idx);
  }
  // pathsCannotMatch keeps the keys seen in the bits of an int.
  if (keys.length > 30) return null;
  // JSON.stringify leaves non-ASCII as it is: such a key is looked for in the decoded text.
  const ascii = keys.every((k) => Buffer.byteLength(k, 'utf8') === k.length);
  return { keys, lastChars: keys.map((k) => k.charCodeAt(k.length - 2)), rules: out, bytes: ascii ? keys.map((k) => Buffer.from(k, 'latin1')) : null };
}

/** True when every rule misses one of its keys, given the keys seen (bit k: keys[k]). */
function rulesMissKeys(rk: RuleKeys, seen: number): boolean {
  for (const rule of rk.rules) if (rule.every((k) => (seen & (1 << k)) !== 0)) return false;
  return true;
}

/**
 * True when no rule can match the JSON document `s`: each misses one of its keys. A
 * member's key is a string followed by a ':' (after optional whitespace), so every ':'
 * is looked at, and the keys are compared with what ends right before it, spelled as
 * JSON.stringify spells them. Any other spelling of a key needs a "\u" or "\/"
 * escape, so a document with either is assumed to match.
 */
function pathsCannotMatch(rk: RuleKeys, s: string): boolean {
  for (let i = s.indexOf('\\'); i >= 0; i = s.indexOf('\\', i + 2)) {
    const c = s.charCodeAt(i + 1);
    if (c === 0x75 || c === 0x2f) return false;
  }
  const { keys, lastChars } = rk;
  let seen = 0;
  let seenCount = 0;
  for (let colon = s.indexOf(':'); colon >= 0 && seenCount < keys.length; colon = s.indexOf(':', colon + 1)) {
    let q = colon - 1;
    while (q >= 0 && isJsonSpace(s.charCodeAt(q))) q--;
    if (s.charCodeAt(q) !== 0x22) continue;
    const last = s.charCodeAt(q - 1);
    for (let k = 0; k < keys.length; k++) {
      if ((seen & (1 << k)) !== 0 || lastChars[k] !== last) continue;
      const key = keys[k] as string;
      if (q + 1 >= key.length && s.startsWith(key, q + 1 - key.length)) {
        seen |= 1 << k;
        seenCount++;
      }
    }
  }
  return rulesMissKeys(rk, seen);
}

function isJsonSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function looksLikeJson(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x7b || c === 0x5b) return true;
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return false;
  }
  return false;
}

function utf8(buf: Buffer, start: number, end: number): string {
  return buf.toString('utf8', start, end);
}

/** Runs a text mask on a field's UTF-8 bytes; undefined when the text did not change. */
function onText(mask: TextMask): FieldMask {
  return (buf, start, end) => {
    const r = mask(utf8(buf, start, end));
    return r === undefined || r === null ? r : Buffer.from(r, 'utf8');
  };
}

function jsonbBytes(text: string): Buffer {
  const out = Buffer.allocUnsafe(1 + Buffer.byteLength(text, 'utf8'));
  out[0] = JSONB_VERSION;
  out.write(text, 1, 'utf8');
  return out;
}

export class ValueMasker {
  readonly scanner: Scanner;
  private readonly ipv4: boolean;
  private readonly ipv6: boolean;

  /** Bytes of short ASCII text for a prefilter pass (asciiBytes); read only during that pass. */
  private readonly scratch = Buffer.allocUnsafeSlow(SCRATCH_BYTES);

  constructor(scanner: Scanner) {
    this.scanner = scanner;
    this.ipv4 = scanner.detectors.some((d) => d.kind === 'ipv4');
    this.ipv6 = scanner.detectors.some((d) => d.kind === 'ipv6');
  }

  /**
   * Text (a string column, an error message): masked as JSON when it is JSON, else as
   * prose. `hints` narrow the detectors to those a prefilter pass allows.
   */
  maskString(s: string, hint?: string, hints: ScanHints = SCAN_ALL): string {
    if (!this.scanner.enabled) return s;
    if (looksLikeJson(s)) {
      const r = maskJsonDocument(s, this.scanner, EMPTY, hints);
      if (r !== null) return r;
    }
    return this.scanner.maskText(s, hint, hints);
  }

  /**
   * maskString after a prefilter pass over the text's bytes (ASCII text only; other
   * text is scanned whole): the same result, without running detectors that cannot
   * fire. For text not read from a field's bytes: a partial rule's kept tail, error
   * and notice fields.
   */
  maskStringPrefiltered(s: string): string {
    if (!this.scanner.enabled) return s;
    const buf = this.asciiBytes(s);
    if (buf === null) return this.maskString(s);
    const runs: NumberRun[] = [];
    const ibans: number[] = [];
    const triggers = prefilter(buf, 0, s.length, runs, undefined, ibans) & this.scanner.triggers;
    return triggers === 0 ? s : this.maskString(s, undefined, { triggers, runs, ibans });
  }

  /**
   * A buffer whose first s.length bytes are `s`, when it is ASCII; else null. Short
   * text (a partial rule's kept tail) is copied into the scratch buffer: no Buffer made
   * per value.
   */
  private asciiBytes(s: string): Buffer | null {
    if (s.length > SCRATCH_BYTES) return Buffer.byteLength(s, 'utf8') === s.length ? Buffer.from(s, 'latin1') : null;
    const buf = this.scratch;
    for (let k = 0; k < s.length; k++) {
      const c = s.charCodeAt(k);
      if (c >= 0x80) return null;
      buf[k] = c;
    }
    return buf;
  }

  /** A json/jsonb value from the server, with column-rule paths (text that is not JSON, masked as prose). */
  maskJson(s: string, rules: readonly PathRule[], hints: ScanHints = SCAN_ALL): string {
    return maskJsonDocument(s, this.scanner, rules, hints, true) ?? this.scanner.maskText(s, undefined, hints);
  }

  /**
   * Decodes a field after a prefilter pass over its bytes, limited to the enabled
   * detectors; null when no detector can fire, and the field need not be decoded at all.
   * `hintBits`: hintTriggers of the column's name, computed once per column. `keys`
   * is told the JSON keys seen, even when the result is null.
   */
  private prefiltered(buf: Buffer, start: number, end: number, hintBits: number, keys?: KeyProbe): { text: string; hints: ScanHints } | null {
    const runs: NumberRun[] = [];
    const ibans: number[] = [];
    const bits = prefilter(buf, start, end, runs, keys, ibans);
    const triggers = (bits | hintBits) & this.scanner.triggers;
    if (triggers === 0) return null;
    const maybeWide = (bits & NOT_ASCII) !== 0;
    const text = maybeWide ? utf8(buf, start, end) : buf.toString('latin1', start, end);
    // The prefilter's offsets are byte offsets: string positions only for ASCII.
    const ascii = !maybeWide || text.length === end - start;
    return { text, hints: { triggers, runs: ascii ? runs : null, ibans: ascii ? ibans : null } };
  }

  /** The per-field function for a column of this type and format, or null to relay untouched. */
  fieldMask(typeOid: number, format: 0 | 1, hint: string | undefined): FieldMask | null {
    return this.mask(typeOid, format, hint, 0);
  }

  /**
   * An anonymous record literal, each field masked as text (JSON when it is JSON). A
   * field has no type here, and a bytea in it is its hex output (`\x4f50...`): read as
   * a bytea column is (the 'bytes' kind), the field NULL when the bytes hold a hit.
   */
  private recordText(t: string): string | null {
    return maskRecordText(t, (f) => {
      const bytes = byteaHexRuns(f);
      if (bytes !== null && this.hits(bytes)) return null;
      const m = this.maskString(f);
      return m === f ? undefined : m;
    });
  }

  /** Whether `text` holds a hit, as written or read with its escapes (JSON inside a composite's bytes). */
  private hits(text: string): boolean {
    return this.scanner.findEscaped(text, undefined, true).length > 0;
  }

  private inetEnabled(isV6: boolean): boolean {
    return isV6 ? this.ipv6 : this.ipv4;
  }

  /** Masks the text form of a value (text format, or an element of a text-format array). */
  textMask(typeOid: number, hint: string | undefined, depth: number): TextMask | null {
    if (!this.scanner.enabled) return null;
    if (depth > MAX_DEPTH) return () => null;
    switch (valueKind(typeOid)) {
      case 'safe':
        return null;
      case 'string':
        return (t) => {
          const r = this.maskString(t, hint);
          return r === t ? undefined : r;
        };
      case 'other':
        // A composite the catalog did not resolve still reads as a record literal: mask
        // it field by field so JSON inside stays JSON; anything else as text.
        return (t) => {
          const r = (t.startsWith('(') && t.endsWith(')') ? this.recordText(t) : null) ?? this.maskString(t, hint);
          return r === t ? undefined : r;
        };
      case 'json':
      case 'jsonb':
        return (t) => {
          const r = this.maskJson(t, EMPTY);
          return r === t ? undefined : r;
        };
      case 'number':
        return (t) => (this.hits(t) ? null : undefined);
      case 'inet':
        if (!this.ipv4 && !this.ipv6) return null;
        // An inet value is an address through and through: no need to scan it.
        return (t) => (this.inetEnabled(t.includes(':')) ? null : undefined);
      case 'bytes':
        return (t) => {
          const raw = t.startsWith('\\x') ? Buffer.from(t.slice(2), 'hex').toString('utf8') : t;
          return this.hits(raw) ? null : undefined;
        };
      case 'record':
        return (t) => {
          const r = this.recordText(t) ?? this.maskString(t);
          return r === t ? undefined : r;
        };
      case 'array': {
        const elem = this.textMask(ARRAY_ELEMENT.get(typeOid) ?? Oid.unknown, hint, depth + 1);
        if (elem === null) return null;
        return (t) => {
          const r = maskArrayText(t, elem);
          // Not the array_out form we read: mask it in place as text, the markers never
          // contain a delimiter.
          if (r === null) return this.maskString(t);
          return r === t ? undefined : r;
        };
      }
    }
  }

  // The hot paths: string and JSON columns, in either format, prefiltered on the bytes.
  private stringField(hint: string | undefined): FieldMask {
    const hintBits = hintTriggers(hint);
    return (buf, start, end) => {
      const p = this.prefiltered(buf, start, end, hintBits);
      if (p === null) return undefined;
      const r = this.maskString(p.text, hint, p.hints);
      return r === p.text ? undefined : Buffer.from(r, 'utf8');
    };
  }

  private jsonField(binaryJsonb: boolean): FieldMask {
    return this.jsonPathsField(EMPTY, binaryJsonb, (t) => this.scanner.maskText(t));
  }

  /**
   * A json/jsonb field masked by the detectors and column-rule `rules`; `notJson` masks
   * a value that does not parse. The bytes are prefiltered; rules none of which can
   * match this document (a KeyProbe in the prefilter pass, or pathsCannotMatch on the
   * text when a key is not ASCII) are left out, so a document without hits is relayed
   * without being decoded.
   */
  jsonPathsField(rules: readonly PathRule[], binaryJsonb: boolean, notJson: (text: string) => string | null): FieldMask {
    const keys = rules.length === 0 ? null : ruleKeys(rules);
    // Reset by each prefilter pass and read right after it: one per column serves every
    // row, since a field is masked synchronously from start to end.
    const probe = keys?.bytes ? new KeyProbe(keys.bytes) : undefined;
    return (buf, start, end) => {
      let from = start;
      if (binaryJsonb) {
        // Only version 1 is defined; a layout we cannot read is not relayed.
        if (end - start < 1 || buf[start] !== JSONB_VERSION) return null;
        from++;
      }
      let p = this.prefiltered(buf, from, end, 0, probe);
      let live = rules;
      if (keys !== null && probe !== undefined) {
        if (rulesMissKeys(keys, probe.seen)) live = EMPTY;
        else p ??= { text: utf8(buf, from, end), hints: NO_HINTS };
      } else if (rules.length > 0) {
        const text = p === null ? utf8(buf, from, end) : p.text;
        if (keys !== null && pathsCannotMatch(keys, text)) live = EMPTY;
        else p ??= { text, hints: NO_HINTS };
      }
      if (p === null) return undefined;
      let r: string | null;
      if (live.length === 0 && p.text.length === end - from) {
        // ASCII: the hits' string positions are byte offsets, spliced into the bytes.
        const m = maskTrustedJson(p.text, this.scanner, p.hints);
        if (Array.isArray(m)) return m.length === 0 ? undefined : byteEdits(m, from, end - start);
        r = m ?? notJson(p.text);
      } else {
        r = maskJsonDocument(p.text, this.scanner, live, p.hints, true) ?? notJson(p.text);
      }
      if (r === p.text) return undefined;
      if (r === null) return null;
      return binaryJsonb ? jsonbBytes(r) : Buffer.from(r, 'utf8');
    };
  }

  private mask(typeOid: number, format: 0 | 1, hint: string | undefined, depth: number): FieldMask | null {
    if (!this.scanner.enabled) return null;
    const kind = valueKind(typeOid);
    // Strings and json are the same bytes in both formats; jsonb differs by a version byte.
    if (kind === 'string') return this.stringField(hint);
    if (kind === 'json' || kind === 'jsonb') return this.jsonField(kind === 'jsonb' && format === 1);
    if (format === 0) {
      const t = this.textMask(typeOid, hint, depth);
      return t === null ? null : onText(t);
    }
    if (depth > MAX_DEPTH) return () => null;
    switch (kind) {
      case 'safe':
        return null;
      case 'number':
        return (buf, start, end) => {
          const t = typeOid === Oid.int8 ? int8Text(buf, start, end) : numericText(buf, start, end);
          return t === null || this.hits(t) ? null : undefined;
        };
      case 'inet':
        if (!this.ipv4 && !this.ipv6) return null;
        // inet_send: family 2 (PGSQL_AF_INET) or 3 (PGSQL_AF_INET6), bits, is_cidr, length, bytes.
        return (buf, start, end) => (end - start < 1 || this.inetEnabled(buf[start] !== 2) ? null : undefined);
      case 'bytes':
      case 'other':
        return (buf, start, end) => (this.hits(utf8(buf, start, end)) ? null : undefined);
      case 'array':
      case 'record': {
        const elem = ARRAY_ELEMENT.get(typeOid);
        if (elem !== undefined && valueKind(elem) === 'safe') return null;
        // Element masks by element OID, built on first use: a record mixes types.
        const masks = new Map<number, FieldMask | null>();
        const each = (oid: number, b: Buffer, s: number, e: number): Buffer | null | undefined => {
          let m = masks.get(oid);
          if (m === undefined) {
            m = this.mask(oid, 1, hint, depth + 1);
            masks.set(oid, m);
          }
          return m === null ? undefined : fieldBytes(m(b, s, e), b, s, e);
        };
        const walk = elem !== undefined ? maskBinaryArray : maskBinaryRecord;
        return (buf, start, end) => {
          const r = walk(buf, start, end, each);
          return r === MALFORMED ? null : r;
        };
      }
    }
  }
}
