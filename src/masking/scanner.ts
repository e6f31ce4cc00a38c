// Runs the enabled detectors over one string and turns their hits into a masked string.
// Hits may overlap (an email inside a bearer token, a PEM that is also a GCP key): they
// are merged into one range named by the first-starting, longest, most specific hit, so
// a masked range always covers everything any detector flagged.
//
// Escapes. Text with backslashes is scanned as it reads, not only as it is written:
//   - "\n", "\t", "\"", "\\" ... are replaced by two spaces in a same-length copy, so
//     "\nsk-ant-..." has a boundary before the key and positions need no mapping; no
//     detector starts or ends a hit on a space, so a hit never splits an escape;
//   - "\u0040" or "\/" (which stand for characters a secret is made of) make the text be
//     decoded fully (json-unescape.ts) and hits mapped back, onto escape boundaries.
// JSON documents are scanned that way only; plain text is scanned as written too, since
// there a backslash may be just a character.
import { findNumberRuns, type NumberRun } from './detectors/number-runs.js';
import { findPrivateKeyBlocks } from './detectors/private-key.js';
import { DETECTOR_PRIORITY, TRIGGER_OF } from './detectors/registry.js';
import { unescapeJsonText, unescapeNestedJsonText, type Unescaped } from './json-unescape.js';
import { SCAN_ALL, type ScanHints } from './prefilter.js';
import { markerFor, type Detector, type Match, type ScanContext, type TextRange } from './types.js';

function byPosition(a: Match, b: Match): number {
  return a.start - b.start || b.end - a.end || DETECTOR_PRIORITY[a.kind] - DETECTOR_PRIORITY[b.kind];
}

/**
 * Sorts by byPosition, stably: insertion sort for the few hits a value usually has
 * (Array.prototype.sort's comparator calls cost more there), the built-in sort beyond.
 */
function sortHits(hits: Match[]): void {
  if (hits.length > 16) {
    hits.sort(byPosition);
    return;
  }
  for (let i = 1; i < hits.length; i++) {
    const h = hits[i] as Match;
    let j = i - 1;
    while (j >= 0 && byPosition(hits[j] as Match, h) > 0) {
      hits[j + 1] = hits[j] as Match;
      j--;
    }
    hits[j + 1] = h;
  }
}

/** Sorted, non-overlapping ranges; adjacent hits stay separate, overlapping ones merge. */
export function resolveMatches(hits: Match[]): Match[] {
  if (hits.length <= 1) return hits;
  sortHits(hits);
  const out: Match[] = [];
  let cur = hits[0] as Match;
  for (let i = 1; i < hits.length; i++) {
    const h = hits[i] as Match;
    if (h.start < cur.end) {
      if (h.end > cur.end) cur = { start: cur.start, end: h.end, kind: cur.kind };
    } else {
      out.push(cur);
      cur = h;
    }
  }
  out.push(cur);
  return out;
}

/** `s` with each (sorted, disjoint) range replaced by its kind's marker. */
export function replaceMatches(s: string, matches: readonly Match[]): string {
  if (matches.length === 0) return s;
  let out = '';
  let from = 0;
  for (const m of matches) {
    out += s.slice(from, m.start) + markerFor(m.kind);
    from = m.end;
  }
  return out + s.slice(from);
}

/**
 * True when some run of backslashes in `s` (from the first backslash at `bs`) comes
 * before a "u" or "/": "\u", "\/", or one of them inside more quoting ("\\\\u0041"), as
 * the prefilter reads them (it then sets every bit and its digit runs are not all).
 */
function hasCharEscape(s: string, bs: number): boolean {
  for (let i = bs; i >= 0; ) {
    let r = i + 1;
    while (s.charCodeAt(r) === 0x5c) r++;
    const c = s.charCodeAt(r);
    if (c === 0x75 || c === 0x2f) return true;
    i = s.indexOf('\\', r);
  }
  return false;
}

function isSimpleEscape(c: number): boolean {
  // n r t b f " \
  return c === 0x6e || c === 0x72 || c === 0x74 || c === 0x62 || c === 0x66 || c === 0x22 || c === 0x5c;
}

/** `s` with each simple JSON escape ("\n", "\"", "\\", ...) as two spaces: same length. */
function blankEscapes(s: string, bs: number): string {
  let out = '';
  let from = 0;
  for (let i = bs; i >= 0; ) {
    if (isSimpleEscape(s.charCodeAt(i + 1))) {
      out += s.slice(from, i) + '  ';
      from = i + 2;
      i = s.indexOf('\\', from);
    } else {
      i = s.indexOf('\\', i + 1);
    }
  }
  return out + s.slice(from);
}

/**
 * blankEscapes for JSON inside more quoting: a run of backslashes before an escape's
 * letter ("\\\\n", a record literal's "\n") is blanked with the letter, which would
 * otherwise be read as the first character of what follows ("nsk-..."); other runs as
 * blankEscapes has them. Same length. Null when no run of two or more comes before a
 * letter (blankEscapes is then the same view).
 */
function blankNestedEscapes(s: string, bs: number): string | null {
  // Most text with escapes has no run of two: no view to build (the JSON masker's path).
  if (s.indexOf('\\\\', bs) < 0) return null;
  let out = '';
  let from = 0;
  let nested = false;
  for (let i = bs; i >= 0; i = s.indexOf('\\', from)) {
    let r = i + 1;
    while (s.charCodeAt(r) === 0x5c) r++;
    const letter = isSimpleEscape(s.charCodeAt(r));
    if (letter && r - i >= 2) nested = true;
    const blank = letter ? r + 1 - i : (r - i) & ~1;
    out += s.slice(from, i) + ' '.repeat(blank);
    from = i + blank;
    if (from < r) from = r;
    if (!letter && (r - i) % 2 === 1) out += '\\';
  }
  return nested ? out + s.slice(from) : null;
}

class ScanState implements ScanContext {
  private blocks: readonly TextRange[] | null = null;

  constructor(
    private readonly s: string,
    readonly hint: string | undefined,
    private runs: readonly NumberRun[] | null,
    private readonly ibans: readonly number[] | null,
  ) {}

  ibanStarts(): readonly number[] | null {
    return this.ibans;
  }

  numberRuns(): readonly NumberRun[] {
    this.runs ??= findNumberRuns(this.s);
    return this.runs;
  }

  privateKeyBlocks(): readonly TextRange[] {
    this.blocks ??= findPrivateKeyBlocks(this.s);
    return this.blocks;
  }
}

export class Scanner {
  readonly detectors: readonly Detector[];
  /** The prefilter bits any enabled detector listens to. */
  readonly triggers: number;
  private readonly bits: readonly number[];

  constructor(detectors: readonly Detector[]) {
    this.detectors = detectors;
    this.bits = detectors.map((d) => TRIGGER_OF[d.kind]);
    this.triggers = this.bits.reduce((a, b) => a | b, 0);
  }

  get enabled(): boolean {
    return this.detectors.length > 0;
  }

  /** Resolved hits in `s` exactly as written, by the detectors a prefilter pass allows. */
  find(s: string, hint?: string, hints: ScanHints = SCAN_ALL): Match[] {
    const hits: Match[] = [];
    if (s.length === 0) return hits;
    const ctx = new ScanState(s, hint, hints.runs, hints.ibans ?? null);
    const ds = this.detectors;
    const triggers = hints.triggers;
    for (let i = 0; i < ds.length; i++) if (triggers & (this.bits[i] as number)) (ds[i] as Detector).scan(s, hits, ctx);
    return resolveMatches(hits);
  }

  /**
   * Resolved hits in `s` read with its escapes (see the module comment), as ranges of
   * `s` that never split an escape. With `asWritten`, hits in the raw text are added.
   */
  findEscaped(s: string, hint: string | undefined, asWritten: boolean, hints: ScanHints = SCAN_ALL): Match[] {
    const bs = s.indexOf('\\');
    if (bs < 0) return this.find(s, hint, hints);
    const hits: Match[] = [];
    const charEscape = hasCharEscape(s, bs);
    if (charEscape) {
      // Decoded positions differ from the prefilter's: runs are found anew.
      this.findDecoded(unescapeJsonText(s), hint, hits);
      // JSON wrapped in more quoting (a record or array literal's doubled backslashes):
      // its escapes read at once, "\\\\u0041" as "A".
      this.findDecoded(unescapeNestedJsonText(s), hint, hits);
    } else {
      for (const m of this.find(blankEscapes(s, bs), hint, hints)) hits.push(m);
      const nested = blankNestedEscapes(s, bs);
      if (nested !== null) for (const m of this.find(nested, hint, hints)) hits.push(m);
    }
    if (asWritten) {
      // A prefilter pass stops at the first "\u" or "\/": the positions it found are not all.
      const raw = charEscape ? { triggers: hints.triggers, runs: null } : hints;
      for (const m of this.find(s, hint, raw)) hits.push(m);
    }
    return resolveMatches(hits);
  }

  /** Hits in a decoded text, mapped back to ranges of the original (by every detector: positions differ). */
  private findDecoded(u: Unescaped | null, hint: string | undefined, hits: Match[]): void {
    if (u === null) return;
    for (const m of this.find(u.text, hint, SCAN_ALL)) hits.push({ start: u.map[m.start] as number, end: u.map[m.end] as number, kind: m.kind });
  }

  /** Plain text masked by every enabled detector; the same string when nothing matched. */
  maskText(s: string, hint?: string, hints: ScanHints = SCAN_ALL): string {
    if (this.detectors.length === 0) return s;
    return replaceMatches(s, this.findEscaped(s, hint, true, hints));
  }
}
