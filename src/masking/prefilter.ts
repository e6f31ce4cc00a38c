// One pass over a field's raw UTF-8 bytes that says which detectors could possibly fire,
// before the bytes are even decoded to a string. Most rows of a trace result contain
// nothing to mask; for them this pass is the whole cost of masking, so the loop does
// one table lookup per byte and real work only at rare bytes and inside digit runs.
//
// Each trigger is a NECESSARY condition of its detectors, read off their patterns (a
// hit the detector would report always sets its bit), never a heuristic:
//   email        an '@'
//   jwt          "eyJ" after a non-token byte (the detector's boundary)
//   vendors      their prefix after a non-token byte: openai "sk-", anthropic "sk-ant-",
//                stripe "sk_"/"rk_"/"whsec_", github "gh?_"/"github_", gitlab "gl...-",
//                slack "xox?-"/"xapp-" or "hooks.slack.com/"
//   awsAccess    "AKIA", "ASIA", "ABIA" or "ACCA"
//   gcpApiKey    "AIza"
//   awsSecret    a run of [A-Za-z0-9/+] of 40+ holding a capital letter (the secret
//                mixes case) with "aws" or "secret" (any case) shortly before it
//   privateKey   "PRIV" (of PRIVATE KEY)
//   bearer       "bearer" or "authoriz" in any case
//   phone, card, ipv4   a run of digits and " .()+-" starting with a digit, '+' or '(',
//                as detectors/number-runs.ts has it (every such hit lies inside one),
//                holding: phone, digit groups of 3, 3, 4 in a row, or a '+' and 8+
//                digits, or a 2-5 digit group starting with 0 and 9+ digits from it;
//                card, 13+ digits; ipv4, 3 dots. A first group glued to a letter
//                ("a456-...") is not counted: no hit may start after a letter or digit
//   ipv6         "::", or 6+ colons in one run of hex digits, ':' and '.', found at a
//                colon between two hex digits (every colon of a full form is)
//   iban         an IBAN country code, then two digits
// Column and key hints (an "authorization" column) are added by the caller.
// Escapes: the scanner reads "\n", "\"", "\\" ... as two spaces, so here their letter is
// skipped and separates runs too (but the b of "\b", which may start "bearer" in text
// scanned as written); "\u" and "\/" stand for any character: every bit, as they do
// after any run of backslashes ("\\\\u0041": JSON inside a record or array literal).
import { IBAN_LENGTHS } from './detectors/iban.js';
import type { NumberRun } from './detectors/number-runs.js';

export const Trigger = {
  email: 1 << 0,
  jwt: 1 << 1,
  openai: 1 << 2,
  awsAccess: 1 << 3,
  awsSecret: 1 << 4,
  privateKey: 1 << 5,
  bearer: 1 << 6,
  phone: 1 << 7,
  card: 1 << 8,
  ipv4: 1 << 9,
  ipv6: 1 << 10,
  iban: 1 << 11,
  anthropic: 1 << 12,
  stripe: 1 << 13,
  github: 1 << 14,
  gitlab: 1 << 15,
  slack: 1 << 16,
  gcpApiKey: 1 << 17,
  all: (1 << 18) - 1,
} as const;

/** What a prefilter pass hands the scanner: the bits, and the digit runs it measured. */
export interface ScanHints {
  readonly triggers: number;
  /** Qualifying digit runs as UTF-16 ranges, or null when the scanner must find them. */
  readonly runs: readonly NumberRun[] | null;
  /** Where an IBAN may start (ScanContext.ibanStarts), or null (or absent): the detector looks. */
  readonly ibans?: readonly number[] | null;
}

export const SCAN_ALL: ScanHints = { triggers: Trigger.all, runs: null };

/**
 * Not a trigger: set in prefilter's result when the bytes may not all be ASCII (a byte
 * of 0x80 or more was seen, or the pass stopped early). Without it the bytes are ASCII,
 * and decode to the same string as latin1 as they do as UTF-8, at less cost.
 */
export const NOT_ASCII = 1 << 30;

/**
 * JSON member keys the pass looks for (a column rule's jsonPaths), so that a document
 * whose bytes hold none of a rule's keys is relayed without being decoded. A key is
 * seen where its JSON spelling (quotes included, ASCII) ends right before a ':', after
 * optional whitespace: every member key is. Any other spelling of a key needs a "\u"
 * or "\/" escape, and with one of those in the bytes every key counts as seen.
 */
export class KeyProbe {
  /** Bit k set: keys[k] was seen. */
  seen = 0;
  /** Per byte, the keys whose last character before the closing quote is that byte. */
  private readonly byLast = new Uint32Array(256);

  /** `keys`: each key's JSON spelling in ASCII, at most 30 of them (the bits of `seen`). */
  constructor(readonly keys: readonly Uint8Array[]) {
    if (keys.length > 30) throw new RangeError('KeyProbe takes at most 30 keys');
    keys.forEach((k, i) => {
      const last = k[k.length - 2] as number;
      this.byLast[last] = (this.byLast[last] as number) | (1 << i);
    });
  }

  reset(): void {
    this.seen = 0;
  }

  seeAll(): void {
    this.seen = (1 << this.keys.length) - 1;
  }

  /** The ':' at `colon`, in a field starting at `start`: marks the key ending before it, if any. */
  colon(b: Uint8Array, start: number, colon: number): void {
    let q = colon - 1;
    while (q >= start && isJsonSpace(b[q] as number)) q--;
    if (q <= start || b[q] !== 0x22) return;
    // Most member keys end in a byte no rule key ends in: one lookup, no comparison.
    let candidates = (this.byLast[b[q - 1] as number] as number) & ~this.seen;
    while (candidates !== 0) {
      const k = 31 - Math.clz32(candidates);
      candidates &= ~(1 << k);
      const key = this.keys[k] as Uint8Array;
      const from = q + 1 - key.length;
      if (from < start) continue;
      let j = 0;
      while (j < key.length && b[from + j] === key[j]) j++;
      if (j === key.length) this.seen |= 1 << k;
    }
  }
}

function isJsonSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

const NUM = 2; // continues a number run: [0-9 .()+-]
const NUM_START = 4; // starts one: [0-9+(]
const CHECK = 8; // a byte with a check of its own
const TOKEN = 16; // [A-Za-z0-9_-]: what a token boundary must not be
const HEX = 32; // [0-9A-Fa-f]
const ADDR = 64; // [0-9A-Fa-f:.]
const B64 = 128; // [A-Za-z0-9/+]

const CLASS = new Uint8Array(256);
function mark(chars: string, flag: number): void {
  for (let i = 0; i < chars.length; i++) {
    const c = chars.charCodeAt(i);
    CLASS[c] = (CLASS[c] as number) | flag;
  }
}
const UPPERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
mark('0123456789', NUM | NUM_START | TOKEN | HEX | ADDR | B64);
mark(' .()+-', NUM);
mark('+(', NUM_START);
mark(UPPERS + 'abcdefghijklmnopqrstuvwxyz_-', TOKEN);
mark(UPPERS + 'abcdefghijklmnopqrstuvwxyz/+', B64);
mark('ABCDEFabcdef', HEX | ADDR);
mark(':.', ADDR);
mark(UPPERS + '@\\:/-_bz', CHECK);

function at(b: Uint8Array, i: number, start: number, end: number): number {
  return i >= start && i < end ? (b[i] as number) : -1;
}

function lower(c: number): number {
  return c | 0x20;
}

/** Bytes [i, i + lit.length) equal `lit` (lowercased first when `caseless`). */
function isAt(b: Uint8Array, i: number, start: number, end: number, lit: string, caseless: boolean): boolean {
  if (i < start || i + lit.length > end) return false;
  for (let k = 0; k < lit.length; k++) {
    const c = b[i + k] as number;
    if ((caseless ? lower(c) : c) !== lit.charCodeAt(k)) return false;
  }
  return true;
}

function has(b: Uint8Array, i: number, start: number, end: number, flag: number): boolean {
  const c = at(b, i, start, end);
  return c >= 0 && ((CLASS[c] as number) & flag) !== 0;
}

// Nothing token-like before p, or an escape letter ("\nsk-..."): counted as a boundary.
function boundary(b: Uint8Array, p: number, start: number, end: number): boolean {
  return !has(b, p - 1, start, end, TOKEN) || at(b, p - 2, start, end) === 0x5c;
}

/** The vendor whose prefix ends with the '-' or '_' at i, as its trigger bit (or 0). */
function vendorAt(b: Uint8Array, i: number, start: number, end: number): number {
  // Every prefix ends in a lowercase letter before its '-' or '_' ("sk-", "ghp_"); most
  // dashes and underscores here are in dates, ids and JSON keys, and stop at this test.
  const prev = at(b, i - 1, start, end);
  if (prev < 0x61 || prev > 0x7a) return 0;
  if (b[i] === 0x2d) {
    if (isAt(b, i - 2, start, end, 'sk', false) && boundary(b, i - 2, start, end)) {
      return isAt(b, i + 1, start, end, 'ant-', false) ? Trigger.anthropic : Trigger.openai;
    }
    if (isAt(b, i - 4, start, end, 'xox', false) || isAt(b, i - 4, start, end, 'xapp', false)) {
      return boundary(b, i - 4, start, end) ? Trigger.slack : 0;
    }
    // gl + 2 to 5 lowercase letters (glpat-, gldt-, glagent-, ...). Every start in the
    // letter run is tried: an escape's letter may precede ("\nglpat-").
    let p = i;
    while (p > start && p > i - 8 && (b[p - 1] as number) >= 0x61 && (b[p - 1] as number) <= 0x7a) p--;
    for (; p <= i - 4; p++) if (isAt(b, p, start, end, 'gl', false) && boundary(b, p, start, end)) return Trigger.gitlab;
    return 0;
  }
  const ghKind = prev === 0x70 || prev === 0x6f || prev === 0x75 || prev === 0x73 || prev === 0x72; // p o u s r
  // "sk_", "rk_", "whsec_", "github_", "gh?_": a JSON key's underscore ("prompt_tokens",
  // "request_id") has none of their last letters before it, and stops here.
  if (prev !== 0x6b && prev !== 0x63 && prev !== 0x62 && !ghKind) return 0;
  if (isAt(b, i - 2, start, end, 'sk', false) || isAt(b, i - 2, start, end, 'rk', false)) {
    return boundary(b, i - 2, start, end) ? Trigger.stripe : 0;
  }
  if (isAt(b, i - 5, start, end, 'whsec', false)) return boundary(b, i - 5, start, end) ? Trigger.stripe : 0;
  if (isAt(b, i - 6, start, end, 'github', false)) return boundary(b, i - 6, start, end) ? Trigger.github : 0;
  return ghKind && isAt(b, i - 3, start, end, 'gh', false) && boundary(b, i - 3, start, end) ? Trigger.github : 0;
}

/**
 * Bits a column name or JSON key adds: some detectors fire on a value because of the
 * name it sits under (an "authorization" column, a "private_key_id", "aws_secret").
 */
export function hintTriggers(hint: string | undefined): number {
  if (hint === undefined) return 0;
  let t = 0;
  if (/authorization/i.test(hint)) t |= Trigger.bearer;
  if (/private_key/i.test(hint)) t |= Trigger.privateKey;
  if (/aws|secret/i.test(hint)) t |= Trigger.awsSecret;
  return t;
}

// Two capitals that are an IBAN country code: the detector's own table, so a country
// it knows is never missed here.
const IBAN_COUNTRIES = new Set(Object.keys(IBAN_LENGTHS).map((cc) => cc.charCodeAt(0) * 256 + cc.charCodeAt(1)));

const MIN_RUN_HIT = 7;

const HINT_WINDOW_CHARS = 100; // the detector looks 100 characters (UTF-16 units) back

/**
 * Where the window of the HINT_WINDOW_CHARS characters before byte p starts: UTF-8
 * lead bytes counted back, each a code point of one or two UTF-16 units, so the window
 * holds the detector's (and is 100 bytes of ASCII, not the 400 a byte bound needs).
 */
function hintWindowStart(b: Buffer, start: number, p: number): number {
  let k = p;
  let chars = 0;
  while (k > start && chars < HINT_WINDOW_CHARS) {
    k--;
    if (((b[k] as number) & 0xc0) !== 0x80) chars++;
  }
  return k;
}

const HINT_WORD = /aws|secret/i;

/** "aws" or "secret", any case, in bytes [from, to): one native regex test, not a loop. */
function hintWordIn(b: Buffer, from: number, to: number): boolean {
  return HINT_WORD.test(b.toString('latin1', from, to));
}

/**
 * Scan state and the work done away from the byte loop: digit runs, base64 and address
 * runs, and the checks anchored on rare bytes ('@', '-', '_', '/', 'b', 'z'). The loop
 * itself stays a table lookup per byte, with capitals and colons handled in it.
 */
class PrefilterState {
  t = 0;
  // Ends of the last address and base64 runs measured, so no run is measured twice
  // (the byte loop reads b64End).
  private addrEnd: number;
  b64End: number;

  constructor(
    private readonly b: Buffer,
    private readonly start: number,
    private readonly end: number,
    private readonly runs: NumberRun[] | undefined,
    private readonly keys: KeyProbe | undefined,
    private readonly ibans: number[] | undefined,
  ) {
    this.addrEnd = start;
    this.b64End = start;
  }

  /** Measures the digit run starting at i; returns the index of the byte after it. */
  numberRun(i: number): number {
    const { b, start, end } = this;
    const cls = CLASS;
    const firstIsDigit = isDigitByte(b[i] as number);
    const p1 = at(b, i - 1, start, end);
    if (firstIsDigit && isUpper(p1)) this.ibanAt(i, p1);
    // Most runs are short numbers (counts, ids, times). Every hit of the run detectors
    // is 7 characters at least ("1.2.3.4"), so a shorter run has none to find.
    let runEnd = i + 1;
    while (runEnd < end && (cls[b[runEnd] as number] as number) & NUM) runEnd++;
    if (runEnd - i < MIN_RUN_HIT) return runEnd;
    return this.longRun(i, firstIsDigit, p1);
  }

  /** The digit at i follows the capital p1: two capitals of a country code, two digits, may start an IBAN. */
  private ibanAt(i: number, p1: number): void {
    const { b, start, end } = this;
    const p2 = at(b, i - 2, start, end);
    if (isUpper(p2) && IBAN_COUNTRIES.has(p2 * 256 + p1) && isDigitByte(at(b, i + 1, start, end))) {
      this.t |= Trigger.iban;
      this.ibans?.push(i - 2 - start);
    }
  }

  /** A run of 7 bytes or more at i: its digit groups, dots and '+' decide the bits. */
  private longRun(i: number, firstIsDigit: boolean, p1: number): number {
    const { b, start, end } = this;
    const cls = CLASS;
    const runStart = i;
    const first = b[i] as number;
    let allDigits = 0; // every digit, as findNumberRuns counts
    let digits = 0; // digits a hit may hold: not those of a first group glued to a letter
    let dots = 0;
    let plus = first === 0x2b;
    let zeroAt = -1; // digits before the first 2-5 digit group starting with 0
    let prev1 = 0;
    let prev2 = 0;
    let threeThreeFour = false;
    // Glued: the run starts with a digit right after a letter (not an escape's letter,
    // which the scanner blanks). After '+' or '(' the first group is free to start a hit.
    let glued = firstIsDigit && isLetter(p1) && at(b, i - 2, start, end) !== 0x5c;
    if (!firstIsDigit) i++;
    for (;;) {
      const groupStart = i;
      while (i < end && isDigitByte(b[i] as number)) i++;
      const group = i - groupStart;
      if (group > 0) {
        allDigits += group;
        if (glued) {
          glued = false;
        } else {
          if (group === 4 && prev1 === 3 && prev2 === 3) threeThreeFour = true;
          if (b[groupStart] === 0x30 && group >= 2 && group <= 5 && zeroAt < 0) zeroAt = digits;
          digits += group;
          prev2 = prev1;
          prev1 = group;
        }
      }
      const c = i < end ? (b[i] as number) : 0;
      if (!((cls[c] as number) & NUM)) break;
      if (c === 0x2e) dots++;
      else if (c === 0x2b) plus = true;
      i++;
    }
    let bits = 0;
    const phone = threeThreeFour || (plus && digits >= 8) || (zeroAt >= 0 && digits - zeroAt >= 9);
    if (digits >= 13) bits |= Trigger.card;
    if (phone) bits |= Trigger.phone;
    if (dots >= 3) bits |= Trigger.ipv4;
    if (bits !== 0) {
      this.t |= bits;
      this.runs?.push({ start: runStart - start, end: i - start, digits: allDigits, dots, phone });
    }
    return i;
  }

  /** The check of the rare byte at i; returns the index of the next byte to look at. */
  rare(i: number): number {
    const { b, start, end } = this;
    const c = b[i] as number;
    switch (c) {
      case 0x40: // @
        this.t |= Trigger.email;
        break;
      case 0x2d: // -
      case 0x5f: // _
        this.t |= vendorAt(b, i, start, end);
        break;
      case 0x2f: // /
        if (isAt(b, i - 15, start, end, 'hooks.slack.com', false)) this.t |= Trigger.slack;
        break;
      case 0x62: // b of bearer
        if (lower(at(b, i + 1, start, end)) === 0x65 && isAt(b, i + 1, start, end, 'earer', true)) this.t |= Trigger.bearer;
        break;
      case 0x7a: // z of authoriz
        if (isAt(b, i - 7, start, end, 'authori', true)) this.t |= Trigger.bearer;
        break;
      default: {
        // A byte of 0x80 or more, and the bytes after it up to one that needs a look,
        // those of 0x80 or more among them: text in a non-Latin script costs no dispatch
        // per character.
        this.t |= NOT_ASCII;
        const actions = ACTION_AFTER_HIGH;
        let k = i + 1;
        while (k + 4 <= end && ((actions[b[k] as number] as number) | (actions[b[k + 1] as number] as number) | (actions[b[k + 2] as number] as number) | (actions[b[k + 3] as number] as number)) === SKIP) k += 4;
        while (k < end && actions[b[k] as number] === SKIP) k++;
        return k;
      }
    }
    return i + 1;
  }

  /** The base64 run around the capital at i, measured once: 40 bytes or more after a hint word make the AWS secret bit. */
  b64Run(i: number): void {
    const { b, start, end } = this;
    const cls = CLASS;
    let p = i;
    while (p > start && (cls[b[p - 1] as number] as number) & B64) p--;
    let q = i + 1;
    while (q < end && (cls[b[q] as number] as number) & B64) q++;
    // The secret detector also needs its hint word shortly before the run.
    if (q - p >= 40 && hintWordIn(b, hintWindowStart(b, start, p), p)) this.t |= Trigger.awsSecret;
    this.b64End = q;
  }

  /** The ':' at i sits between hex digits: 6 colons in its run of [0-9A-Fa-f:.] make an IPv6 full form. */
  address(i: number): number {
    const { b, start, end } = this;
    if (i < this.addrEnd) return 0;
    let p = i;
    while (p > start && (CLASS[b[p - 1] as number] as number) & ADDR) p--;
    let colons = 0;
    let q = p;
    for (; q < end && (CLASS[b[q] as number] as number) & ADDR; q++) if (b[q] === 0x3a) colons++;
    this.addrEnd = q;
    return colons >= 6 ? Trigger.ipv6 : 0;
  }
}

// What the byte loop does with each byte: nothing (most), start a digit run, take an
// escape, a colon, a capital, or a rare-byte check.
const SKIP = 0;
const RUN = 1;
const ESCAPE = 2;
const RARE = 3;
const COLON = 4;
const UPPER = 5;
const ACTION = new Uint8Array(256).map((_, c) => {
  const f = CLASS[c] as number;
  if (f & NUM_START) return RUN;
  if (c === 0x5c) return ESCAPE;
  if (c === 0x3a) return COLON;
  if (c >= 0x41 && c <= 0x5a) return UPPER;
  // A byte of 0x80 or more: NOT_ASCII, in rare().
  return f & CHECK || c >= 0x80 ? RARE : SKIP;
});
// The bytes rare() skips after one of 0x80 or more: those too.
const ACTION_AFTER_HIGH = ACTION.map((a, c) => (c >= 0x80 ? SKIP : a));

/**
 * The trigger bits for bytes [start, end) of `b`, and NOT_ASCII. The digit runs that set a bit are
 * appended to `runs`, and where an IBAN may start to `ibans`, as offsets from `start`:
 * equal to string positions when the bytes are ASCII, which the caller checks. Both
 * are complete only when the text has no "\u" or "\/" escape (the pass stops at the
 * first, every bit set). `keys`, when given, is reset and told the keys seen.
 */
export function prefilter(b: Buffer, start: number, end: number, runs?: NumberRun[], keys?: KeyProbe, ibans?: number[]): number {
  keys?.reset();
  const st = new PrefilterState(b, start, end, runs, keys, ibans);
  // The table in a local: TurboFan then keeps it in a register through the loop (a
  // module constant is reloaded per byte), about 15% of the loop's time.
  const actions = ACTION;
  const cls = CLASS;
  let i = start;
  while (i < end) {
    // Most bytes need nothing: a tight loop over them, the dispatch only at the others.
    // Four at a time first (SKIP is 0: one test for the four), one at a time at the end
    // of the stretch.
    if (actions[b[i] as number] === SKIP) {
      i++;
      while (i + 4 <= end && ((actions[b[i] as number] as number) | (actions[b[i + 1] as number] as number) | (actions[b[i + 2] as number] as number) | (actions[b[i + 3] as number] as number)) === SKIP) i += 4;
      while (i < end && actions[b[i] as number] === SKIP) i++;
      if (i >= end) break;
    }
    const action = actions[b[i] as number] as number;
    if (action === RUN) {
      i = st.numberRun(i);
    } else if (action === ESCAPE) {
      const e = at(b, i + 1, start, end);
      if (e === 0x75 || e === 0x2f) {
        keys?.seeAll();
        return Trigger.all | NOT_ASCII;
      }
      if (e === 0x5c) {
        // A run of backslashes: JSON inside a record or array literal (or deeper) has
        // its escapes' backslashes doubled, and "\\u0041" stands for a character too
        // (the scanner reads it so). Past the run's even part, the usual escape.
        let r = i + 2;
        while (r < end && b[r] === 0x5c) r++;
        const c = at(b, r, start, end);
        if (c === 0x75 || c === 0x2f) {
          keys?.seeAll();
          return Trigger.all | NOT_ASCII;
        }
        i = (r - i) % 2 === 0 ? r : r - 1;
        continue;
      }
      // n r t f " \ : a JSON escape, read as spaces by the scanner, and no trigger. Not
      // "\b": plain text is scanned as written too, where "\bearer" is the word bearer.
      i += e === 0x6e || e === 0x72 || e === 0x74 || e === 0x66 || e === 0x22 || e === 0x5c ? 2 : 1;
    } else if (action === UPPER) {
      // A capital: the literals that start or end at A, J, V, B or Z (upperAt), and the
      // base64 run it is in, unless that run was measured already.
      const c = b[i] as number;
      if (c === 0x41 || c === 0x4a || c === 0x56 || c === 0x42 || c === 0x5a) st.t |= upperAt(b, i, start, end);
      if (i >= st.b64End) st.b64Run(i);
      i++;
    } else if (action === COLON) {
      // Every ':' (most follow a JSON key): the key probe, then "::", or a colon between
      // hex digits as every colon of a full IPv6 form is. Here rather than in rare():
      // one in forty bytes of a JSON document is a colon.
      keys?.colon(b, start, i);
      const next = i + 1 < end ? (b[i + 1] as number) : 0;
      if (next === 0x3a) st.t |= Trigger.ipv6;
      else if ((cls[next] as number) & HEX && i > start && (cls[b[i - 1] as number] as number) & HEX) st.t |= st.address(i);
      i++;
    } else {
      i = st.rare(i);
    }
  }
  return st.t;
}

function isDigitByte(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function isUpper(c: number): boolean {
  return c >= 0x41 && c <= 0x5a;
}

function isLetter(c: number): boolean {
  return isUpper(c) || (c >= 0x61 && c <= 0x7a);
}

/** Checks anchored on a capital letter: AKIA.., AIza, eyJ, PRIV, BEARER, AUTHORIZ. */
function upperAt(b: Uint8Array, i: number, start: number, end: number): number {
  switch (b[i]) {
    case 0x41: // A
      // Every literal here has a capital second ("Account", "Agent" stop at this test).
      if (!isUpper(at(b, i + 1, start, end))) return 0;
      if (isAt(b, i, start, end, 'AIza', false)) return Trigger.gcpApiKey;
      return isAt(b, i, start, end, 'AKIA', false) || isAt(b, i, start, end, 'ASIA', false) || isAt(b, i, start, end, 'ABIA', false) || isAt(b, i, start, end, 'ACCA', false)
        ? Trigger.awsAccess
        : 0;
    case 0x4a: // J
      return isAt(b, i - 2, start, end, 'ey', false) && boundary(b, i - 2, start, end) ? Trigger.jwt : 0;
    case 0x56: // V
      return isAt(b, i - 3, start, end, 'PRI', false) ? Trigger.privateKey : 0;
    case 0x42: // B
      return isAt(b, i + 1, start, end, 'earer', true) ? Trigger.bearer : 0;
    case 0x5a: // Z
      return isAt(b, i - 7, start, end, 'authori', true) ? Trigger.bearer : 0;
    default:
      return 0;
  }
}
