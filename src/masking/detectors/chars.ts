// Character classes shared by the detectors, on UTF-16 code units. Detectors check their
// own boundaries with these instead of regex lookbehinds, which keep V8 from using its
// fast literal-prefix scan. Pure functions, no tables that could drift from the regexes.

export function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

export function isUpper(c: number): boolean {
  return c >= 0x41 && c <= 0x5a;
}

export function isLower(c: number): boolean {
  return c >= 0x61 && c <= 0x7a;
}

export function isAlnum(c: number): boolean {
  return isDigit(c) || isUpper(c) || isLower(c);
}

/** Letters, digits and `_`: what continues an identifier-like token. */
export function isWord(c: number): boolean {
  return isAlnum(c) || c === 0x5f;
}

export function isHex(c: number): boolean {
  return isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/** The code unit at `i`, or -1 outside the string, so boundary checks need no range test. */
export function at(s: string, i: number): number {
  return i >= 0 && i < s.length ? s.charCodeAt(i) : -1;
}

/** True when the characters before `start` and from `end` on are not word characters. */
export function wordBounded(s: string, start: number, end: number): boolean {
  return !isWord(at(s, start - 1)) && !isWord(at(s, end));
}

/** Runs a global regex over `s`, calling `onMatch` for each hit. */
export function eachMatch(re: RegExp, s: string, onMatch: (m: RegExpExecArray) => void): void {
  re.lastIndex = 0;
  for (let m = re.exec(s); m !== null; m = re.exec(s)) {
    onMatch(m);
    if (m[0].length === 0) re.lastIndex++;
  }
}

/**
 * Where the first of `literals` (each ending in the character `last`) starts in `s` at
 * or after `from`, or -1. The search is an indexOf for `last` alone: V8 finds one
 * character at memchr speed but scans for multi-character needles far slower, so
 * probes end on a rare character ('J' of "eyJ", '-' of "sk-", '_' of "ghp_"). Exact
 * when no literal holds another one other than at its start (that one would be found
 * first, the longer one starting before it).
 */
export function indexEndingIn(s: string, last: string, literals: readonly string[], from = 0): number {
  for (let i = s.indexOf(last, from); i >= 0; i = s.indexOf(last, i + 1)) {
    const before = i > 0 ? s.charCodeAt(i - 1) : -1;
    for (const lit of literals) {
      // Most occurrences of `last` fail on the character before it: no startsWith call.
      // startsWith clamps a negative position to 0: the range is checked first.
      const at = i + 1 - lit.length;
      if (at >= from && (lit.length === 1 || before === lit.charCodeAt(lit.length - 2)) && s.startsWith(lit, at)) return at;
    }
  }
  return -1;
}

/**
 * The first match of `sticky` (a regex with the y flag) in `s` at or after `from`, when
 * every match of it starts with one of `literals` (indexEndingIn's): the match a global
 * regex started at `from` finds, but tried only where a literal starts. Scanned
 * globally, the pattern would look for its start at every character of the text.
 */
export function nextAnchoredMatch(sticky: RegExp, s: string, last: string, literals: readonly string[], from: number): RegExpExecArray | null {
  for (let p = indexEndingIn(s, last, literals, from); p >= 0; p = indexEndingIn(s, last, literals, p + 1)) {
    sticky.lastIndex = p;
    const m = sticky.exec(s);
    if (m !== null) return m;
  }
  return null;
}
