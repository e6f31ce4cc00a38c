// Masks one JSON document (a json/jsonb value, or text that is JSON) and keeps it valid
// JSON:
//
//   1. The detectors scan the whole document once, with escapes decoded. No hit and no
//      path rule: the document is returned as is, without being parsed (most rows).
//   2. A json/jsonb value from the server without path rules, whose hits all sit inside
//      strings or numbers: the hits are spliced in place, no structure walked. Whether
//      a hit is in a string is read off the quote nearest before it and that quote's
//      neighbours (spliceHitsLocally); when they do not tell, by hopping from string
//      to string with indexOf from the start (spliceHits).
//   3. Otherwise a single iterative walk (no recursion, so nesting depth cannot blow
//      the stack; it also checks that text which merely looks like JSON is JSON)
//      visits every token and records edits:
//      - a value at a column rule's path is replaced whole by the rule's strategy
//        (objects and arrays included; everything inside them is dropped);
//      - a hit inside a string (a value or an object KEY: keys carry emails too) is
//        replaced in place by its marker, which needs no escaping;
//      - a hit that does not sit inside one string (it crosses a quote) makes each
//        string it touches be decoded, scanned alone (with its key as hint) and
//        re-encoded with JSON.stringify;
//      - a hit in a number (a card number stored as 4111111111111111) turns the number
//        into the marker string.
//   The edits are spliced into the original text, so untouched parts keep their bytes.
import type { JsonPath, PathStep } from './json-path.js';
import { pathMatches } from './json-path.js';
import { SCAN_ALL, type ScanHints } from './prefilter.js';
import type { Scanner } from './scanner.js';
import { replaceMatches } from './scanner.js';
import { REDACTED, type StrategyFn } from './strategies.js';
import { markerFor, type Match, type MaskStrategy } from './types.js';

export interface PathRule {
  path: JsonPath;
  strategy: MaskStrategy;
  apply: StrategyFn;
}

export interface Edit {
  start: number;
  end: number;
  text: string;
}

const OBJECT = 0;
const ARRAY = 1;

interface Frame {
  type: typeof OBJECT | typeof ARRAY;
  start: number;
  /** The enclosing container: an array's values take the key it sits under as hint. */
  parent: Frame | undefined;
  /** Raw range of the current member's key (objects). */
  keyStart: number;
  keyEnd: number;
  index: number;
  rule: PathRule | null;
}

function isWs(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

class Walker {
  private readonly edits: Edit[] = [];
  private mi = 0;
  private readonly stack: Frame[] = [];
  private readonly path: PathStep[] = [];
  /** Stack depth of the container a rule replaces whole; -1 when none is open. */
  private replacing = -1;

  constructor(
    private readonly s: string,
    private readonly scanner: Scanner,
    private readonly matches: readonly Match[],
    private readonly rules: readonly PathRule[],
  ) {}

  /** The masked document, or null when `s` is not JSON. */
  run(): string | null {
    const s = this.s;
    const n = s.length;
    const stack = this.stack;
    const tracking = this.rules.length > 0;
    let i = 0;
    let expectValue = true;
    for (;;) {
      while (i < n && isWs(s.charCodeAt(i))) i++;
      if (expectValue) {
        if (i >= n) return null;
        const rule = tracking && this.replacing < 0 ? this.ruleAt() : null;
        const c = s.charCodeAt(i);
        if (c === 0x7b || c === 0x5b) {
          const parent = stack[stack.length - 1];
          stack.push({ type: c === 0x7b ? OBJECT : ARRAY, start: i, parent, keyStart: 0, keyEnd: 0, index: 0, rule });
          if (rule) this.replacing = stack.length;
          i++;
          while (i < n && isWs(s.charCodeAt(i))) i++;
          if (s.charCodeAt(i) === (c === 0x7b ? 0x7d : 0x5d)) {
            i = this.closeContainer(i + 1);
            expectValue = false;
          } else if (c === 0x7b) {
            i = this.key(i);
            if (i < 0) return null;
          } else if (tracking) {
            this.path.push(0);
          }
          continue;
        }
        if (c === 0x22) {
          const end = this.stringEnd(i);
          if (end < 0) return null;
          this.stringValue(i, end, rule);
          i = end + 1;
        } else {
          const end = this.scalarEnd(i);
          if (end === i) return null;
          this.scalarValue(i, end, rule);
          i = end;
        }
        expectValue = false;
        continue;
      }
      const top = stack[stack.length - 1];
      if (top === undefined) return i === n ? this.result() : null;
      const c = s.charCodeAt(i);
      if (c === 0x2c) {
        if (tracking) this.path.pop();
        i++;
        while (i < n && isWs(s.charCodeAt(i))) i++;
        if (top.type === OBJECT) {
          i = this.key(i);
          if (i < 0) return null;
        } else {
          top.index++;
          if (tracking) this.path.push(top.index);
        }
        expectValue = true;
      } else if (c === (top.type === OBJECT ? 0x7d : 0x5d)) {
        if (tracking) this.path.pop();
        i = this.closeContainer(i + 1);
      } else {
        return null;
      }
    }
  }

  /** The key a value directly inside `frame` sits under (through arrays), if any. */
  private hintIn(frame: Frame | undefined): string | undefined {
    let f = frame;
    while (f !== undefined && f.type === ARRAY) f = f.parent;
    return f === undefined ? undefined : this.decodeString(f.keyStart - 1, f.keyEnd);
  }

  private ruleAt(): PathRule | null {
    for (const r of this.rules) if (pathMatches(r.path, this.path)) return r;
    return null;
  }

  /** Parses `"key" :` at i in the top (object) frame; returns the index after ':' or -1. */
  private key(i: number): number {
    const s = this.s;
    const top = this.stack[this.stack.length - 1] as Frame;
    if (s.charCodeAt(i) !== 0x22) return -1;
    const end = this.stringEnd(i);
    if (end < 0) return -1;
    top.keyStart = i + 1;
    top.keyEnd = end;
    if (this.rules.length > 0) this.path.push(this.decodeString(i, end));
    if (this.replacing < 0) this.stringMatches(i, end, null);
    let j = end + 1;
    while (j < s.length && isWs(s.charCodeAt(j))) j++;
    return s.charCodeAt(j) === 0x3a ? j + 1 : -1;
  }

  private closeContainer(after: number): number {
    const frame = this.stack.pop() as Frame;
    if (frame.rule && this.replacing === this.stack.length + 1) {
      this.replacing = -1;
      const raw = this.s.slice(frame.start, after);
      // Keeping the tail of a serialised object would show its closing members.
      const out = frame.rule.strategy === 'partial' ? REDACTED : frame.rule.apply(raw);
      this.edit(frame.start, after, out === null ? 'null' : JSON.stringify(out));
    }
    return after;
  }

  /** Index of the closing quote of the string opening at q, or -1. */
  private stringEnd(q: number): number {
    return closingQuote(this.s, q);
  }

  private scalarEnd(i: number): number {
    const s = this.s;
    switch (s.charCodeAt(i)) {
      case 0x74: // t
        return s.startsWith('true', i) ? i + 4 : i;
      case 0x66: // f
        return s.startsWith('false', i) ? i + 5 : i;
      case 0x6e: // n
        return s.startsWith('null', i) ? i + 4 : i;
    }
    let j = i;
    for (; j < s.length; j++) {
      const c = s.charCodeAt(j);
      if (!((c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2b || c === 0x2e || c === 0x65 || c === 0x45)) break;
    }
    return j;
  }

  /** The decoded string whose quotes are at q and e. */
  private decodeString(q: number, e: number): string {
    const s = this.s;
    const bs = s.indexOf('\\', q + 1);
    if (bs < 0 || bs > e) return s.slice(q + 1, e);
    return JSON.parse(s.slice(q, e + 1)) as string;
  }

  private stringValue(q: number, e: number, rule: PathRule | null): void {
    if (this.replacing >= 0) return;
    if (rule) {
      const out = rule.apply(this.decodeString(q, e));
      this.edit(q, e + 1, out === null ? 'null' : JSON.stringify(out));
      return;
    }
    this.stringMatches(q, e, this.stack[this.stack.length - 1]);
  }

  private scalarValue(a: number, b: number, rule: PathRule | null): void {
    if (this.replacing >= 0) return;
    if (rule) {
      const raw = this.s.slice(a, b);
      if (raw === 'null') return;
      const out = rule.apply(raw);
      this.edit(a, b, out === null ? 'null' : JSON.stringify(out));
      return;
    }
    const first = this.firstOverlap(a, b);
    if (first >= 0) this.edit(a, b, JSON.stringify(markerFor((this.matches[first] as Match).kind)));
  }

  /** Index of the first hit overlapping [a, b), or -1; earlier hits are passed for good. */
  private firstOverlap(a: number, b: number): number {
    const ms = this.matches;
    while (this.mi < ms.length && (ms[this.mi] as Match).end <= a) this.mi++;
    return this.mi < ms.length && (ms[this.mi] as Match).start < b ? this.mi : -1;
  }

  /** `container` is the frame a value sits in (its key is the hint); null for a key itself. */
  private stringMatches(q: number, e: number, container: Frame | null | undefined): void {
    const first = this.firstOverlap(q + 1, e);
    if (first < 0) return;
    const ms = this.matches;
    let inside = true;
    let j = first;
    for (; j < ms.length && (ms[j] as Match).start < e; j++) {
      const m = ms[j] as Match;
      if (m.start < q + 1 || m.end > e) inside = false;
    }
    if (inside) {
      for (let k = first; k < j; k++) {
        const m = ms[k] as Match;
        this.edit(m.start, m.end, markerFor(m.kind));
      }
      return;
    }
    const decoded = this.decodeString(q, e);
    const hint = container ? this.hintIn(container) : undefined;
    this.edit(q, e + 1, JSON.stringify(replaceMatches(decoded, this.scanner.find(decoded, hint))));
  }

  private edit(start: number, end: number, text: string): void {
    this.edits.push({ start, end, text });
  }

  private result(): string {
    return applyEdits(this.s, this.edits);
  }
}

/** Index of the closing quote of the string opening at q, or -1 (escape-aware). */
function closingQuote(s: string, q: number): number {
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

function isNumberChar(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2b || c === 0x2e || c === 0x65 || c === 0x45;
}

/** A splice's edits, left to right: the document's text with hits replaced. */
class Splicer {
  readonly edits: Edit[] = [];
  private from = 0;

  constructor(private readonly s: string) {}

  /** A hit inside a string: its marker, which needs no escaping. */
  inString(m: Match): void {
    this.edits.push({ start: m.start, end: m.end, text: markerFor(m.kind) });
    this.from = m.end;
  }

  /**
   * A hit between strings, where only numbers, literals and punctuation are (`next` is
   * where the next string opens): the number it is in becomes the marker string. False
   * when it is not in a number.
   */
  asNumber(m: Match, next: number): boolean {
    const s = this.s;
    // In the number the last edit turned into a marker (two cards in
    // 4111111111111111.5555555555554444): already masked, no second edit over it.
    if (m.start < this.from) return m.end <= this.from;
    // A hit reaching past its number (into whitespace, a comma, a bracket) is the
    // walker's to decide: the edit below would swallow what follows the number.
    for (let k = m.start; k < m.end; k++) if (!isNumberChar(s.charCodeAt(k))) return false;
    let a = m.start;
    while (a > this.from && isNumberChar(s.charCodeAt(a - 1))) a--;
    let b = m.end;
    while (b < s.length && isNumberChar(s.charCodeAt(b))) b++;
    const c = s.charCodeAt(a);
    if (!((c >= 0x30 && c <= 0x39) || c === 0x2d) || b > next) return false;
    this.edits.push({ start: a, end: b, text: JSON.stringify(markerFor(m.kind)) });
    this.from = b;
    return true;
  }
}

/** `s` with the (sorted, disjoint) edits applied. */
function applyEdits(s: string, edits: readonly Edit[]): string {
  if (edits.length === 0) return s;
  let out = '';
  let from = 0;
  for (const e of edits) {
    out += s.slice(from, e.start) + e.text;
    from = e.end;
  }
  return out + s.slice(from);
}

/**
 * The fast path for a document known to be JSON (a json/jsonb value from the server)
 * with no path rules: hop from string to string with indexOf and splice each hit in
 * place, without walking the structure. Null when a hit crosses a string boundary or
 * is not inside a number either; the walker then decides.
 */
function spliceHits(s: string, matches: readonly Match[]): Edit[] | null {
  const out = new Splicer(s);
  let q = -1;
  let e = -1;
  for (const m of matches) {
    while (e < m.start) {
      q = s.indexOf('"', e + 1);
      if (q < 0) {
        q = e = s.length;
        break;
      }
      e = closingQuote(s, q);
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

function isUnescaped(s: string, q: number): boolean {
  let k = q - 1;
  while (k >= 0 && s.charCodeAt(k) === 0x5c) k--;
  return (q - 1 - k) % 2 === 0;
}

/**
 * Whether the quote at q (a delimiter of valid JSON) opens a string, read off its
 * neighbours: 1 opens, 0 closes, -1 cannot tell. An opening quote follows '{', '[',
 * ':', ',' or nothing (whitespace aside); a closing quote is followed by ':', ',',
 * '}', ']' or nothing. A quote failing one of the two is the other kind.
 */
function quoteOpens(s: string, q: number): number {
  let a = q - 1;
  while (a >= 0 && isWs(s.charCodeAt(a))) a--;
  const before = a < 0 ? -1 : s.charCodeAt(a);
  if (before !== -1 && before !== 0x7b && before !== 0x5b && before !== 0x3a && before !== 0x2c) return 0;
  let c = q + 1;
  while (c < s.length && isWs(s.charCodeAt(c))) c++;
  const after = c >= s.length ? -1 : s.charCodeAt(c);
  if (after !== -1 && after !== 0x3a && after !== 0x2c && after !== 0x7d && after !== 0x5d) return 1;
  return -1;
}

/**
 * The quotes around a document's hits, read left to right. The hits come sorted, and
 * each question starts where the last one's answer ended: searched afresh per hit, a
 * string of 16,000 emails took 3.5 s of the event loop (each hit searched back to the
 * string's opening quote, and forward to its closing one).
 */
class QuoteCursor {
  /** The last hit's start, and the unescaped quote nearest before or at it. */
  private at = -1;
  private quote = -1;
  /** The first quote (escaped or not) after some position at or before `at + 1`. */
  private ahead = -1;
  /** The last string asked about: its opening quote, whether it opens, and its closing quote. */
  private asked = -1;
  private opens = 0;
  private closing = -1;
  /** The first quote at or after the last hit between strings, or the text's length. */
  private nextQuote = -1;

  constructor(private readonly s: string) {}

  /** The unescaped quote nearest before or at h (h at or after the last call's), or -1. */
  before(h: number): number {
    const s = this.s;
    if (this.ahead <= this.at) {
      this.ahead = s.indexOf('"', this.at + 1);
      if (this.ahead < 0) this.ahead = s.length;
    }
    let found = -1;
    // Only the quotes after the last hit are read, `ahead` the first of them: before
    // them, the last answer holds.
    if (this.ahead <= h) {
      for (let q = s.lastIndexOf('"', h); ; q = s.lastIndexOf('"', q - 1)) {
        if (isUnescaped(s, q)) {
          found = q;
          break;
        }
        if (q <= this.ahead) break;
      }
    }
    this.quote = found >= 0 ? found : this.quote;
    this.at = h;
    return this.quote;
  }

  /** quoteOpens of the quote at q. */
  opensAt(q: number): number {
    this.ask(q);
    return this.opens;
  }

  /** closingQuote of the string opening at q. */
  closingOf(q: number): number {
    this.ask(q);
    if (this.closing === -2) this.closing = closingQuote(this.s, q);
    return this.closing;
  }

  /** The first quote at or after h (h at or after the last call's), or the text's length. */
  next(h: number): number {
    if (this.nextQuote < h) {
      this.nextQuote = this.s.indexOf('"', h);
      if (this.nextQuote < 0) this.nextQuote = this.s.length;
    }
    return this.nextQuote;
  }

  private ask(q: number): void {
    if (q === this.asked) return;
    this.asked = q;
    this.opens = quoteOpens(this.s, q);
    this.closing = -2;
  }
}

/**
 * spliceHits without hopping over every string before the hits: whether a hit is in a
 * string is read off the quote nearest before it (quoteOpens). The same result as
 * spliceHits, or undefined when some quote's neighbours do not tell (a string starting
 * with ", "): spliceHits then decides.
 */
function spliceHitsLocally(s: string, matches: readonly Match[]): Edit[] | null | undefined {
  const out = new Splicer(s);
  const quotes = new QuoteCursor(s);
  for (const m of matches) {
    const q = quotes.before(m.start);
    // A hit starting at a delimiter is no string's and no number's: spliceHits's null.
    if (q === m.start) return null;
    const opens = q < 0 ? 0 : quotes.opensAt(q);
    if (opens < 0) return undefined;
    if (opens === 1) {
      const e = quotes.closingOf(q);
      if (e < 0 || m.end > e) return null;
      out.inString(m);
      continue;
    }
    // Between strings there is no backslash: the next quote opens the next string.
    const next = quotes.next(m.start);
    if (m.end > next || !out.asNumber(m, next)) return null;
  }
  return out.edits;
}

/**
 * A document known to be JSON (a json/jsonb value from the server) masked without path
 * rules: the edits that mask it when every hit is spliced in place ([] when nothing
 * matched), else the walker's result (maskJsonDocument's: the masked text, or null when
 * `s` is not JSON). Each edit's text is ASCII: a marker, or a marker in quotes.
 */
export function maskTrustedJson(s: string, scanner: Scanner, hints: ScanHints = SCAN_ALL): Edit[] | string | null {
  const matches = scanner.enabled && hints.triggers !== 0 ? scanner.findEscaped(s, undefined, false, hints) : [];
  if (matches.length === 0) return [];
  return spliceEdits(s, matches) ?? walk(s, scanner, matches, []);
}

function spliceEdits(s: string, matches: readonly Match[]): Edit[] | null {
  const local = spliceHitsLocally(s, matches);
  return local === undefined ? spliceHits(s, matches) : local;
}

/**
 * `s` masked by the scanner's detectors (those `hints` allow) and the path rules;
 * `s` itself when nothing matched; null when `s` is not JSON (the caller then masks it
 * as plain text). `trusted`: `s` is known to be JSON (a json/jsonb value), so a
 * document without path rules may take the fast path.
 */
export function maskJsonDocument(s: string, scanner: Scanner, rules: readonly PathRule[], hints: ScanHints = SCAN_ALL, trusted = false): string | null {
  const matches = scanner.enabled && hints.triggers !== 0 ? scanner.findEscaped(s, undefined, false, hints) : [];
  if (matches.length === 0 && rules.length === 0) return s;
  if (trusted && rules.length === 0) {
    const edits = spliceEdits(s, matches);
    if (edits !== null) return applyEdits(s, edits);
  }
  return walk(s, scanner, matches, rules);
}

function walk(s: string, scanner: Scanner, matches: readonly Match[], rules: readonly PathRule[]): string | null {
  try {
    return new Walker(s, scanner, matches, rules).run();
  } catch (err) {
    // JSON.parse of one string token: only text that merely looks like JSON gets here.
    if (err instanceof SyntaxError) return null;
    throw err;
  }
}
