// AWS credentials. Access key ids are self-identifying (AKIA long-term, ASIA temporary,
// ABIA/ACCA service-specific, then 16 base32 characters). Secret access keys are 40
// base64 characters with nothing to recognise them by, so they count only near a hint:
// "aws" or "secret" within the 100 characters before (an env line, a config file, a
// pasted credentials file), or as the value of a JSON key that says so. They must also
// mix upper and lower case, which keeps 40-hex git SHAs out.
import type { Detector, Match, ScanContext } from '../types.js';
import { at, isAlnum, isLower, isUpper, nextAnchoredMatch, wordBounded } from './chars.js';

// Sticky: tried where a prefix occurs (chars.ts nextAnchoredMatch).
const ACCESS_KEY = /(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}/y;
const ACCESS_KEY_PREFIXES = ['AKIA', 'ASIA', 'ABIA', 'ACCA'];
const SECRET_LENGTH = 40;
const HINT = /aws|secret/i;
const HINT_WINDOW = 100;

function isSecretChar(c: number): boolean {
  return isAlnum(c) || c === 0x2f || c === 0x2b; // [A-Za-z0-9/+]
}

/**
 * Calls onRun for each maximal run of [A-Za-z0-9/+] 40 or more characters long. Each
 * window of 40 is read from its end: the first character outside the class moves the
 * window past it, so prose costs about one look per word, where the regex
 * /[A-Za-z0-9/+]{40,}/g rescans every word from each of its characters.
 */
export function eachLongSecretRun(s: string, onRun: (start: number, end: number) => void): void {
  const n = s.length;
  // Invariant: the character before i, if any, is outside the class.
  let i = 0;
  while (i + SECRET_LENGTH <= n) {
    let k = i + SECRET_LENGTH - 1;
    while (k >= i && isSecretChar(s.charCodeAt(k))) k--;
    if (k >= i) {
      i = k + 1;
      continue;
    }
    let end = i + SECRET_LENGTH;
    while (end < n && isSecretChar(s.charCodeAt(end))) end++;
    onRun(i, end);
    i = end + 1;
  }
}

export const awsAccessKeyDetector: Detector = {
  kind: 'aws-access-key',
  scan(s: string, out: Match[]): void {
    for (let m = nextAnchoredMatch(ACCESS_KEY, s, 'A', ACCESS_KEY_PREFIXES, 0); m !== null; m = nextAnchoredMatch(ACCESS_KEY, s, 'A', ACCESS_KEY_PREFIXES, m.index + m[0].length)) {
      const end = m.index + m[0].length;
      if (wordBounded(s, m.index, end)) out.push({ start: m.index, end, kind: 'aws-access-key' });
    }
  },
};

function mixedCase(s: string, start: number, end: number): boolean {
  let upper = false;
  let lower = false;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    upper ||= isUpper(c);
    lower ||= isLower(c);
  }
  return upper && lower;
}

export const awsSecretKeyDetector: Detector = {
  kind: 'aws-secret-key',
  scan(s: string, out: Match[], ctx: ScanContext): void {
    const hinted = ctx.hint !== undefined && HINT.test(ctx.hint);
    if (!hinted && !HINT.test(s)) return;
    eachLongSecretRun(s, (start, runEnd) => {
      const end = start + SECRET_LENGTH;
      // Exactly 40: a longer run is some other blob, and '=' padding means base64 data.
      if (runEnd !== end || at(s, end) === 0x3d || !mixedCase(s, start, end)) return;
      if (hinted || HINT.test(s.slice(Math.max(0, start - HINT_WINDOW), start))) {
        out.push({ start, end, kind: 'aws-secret-key' });
      }
    });
  },
};
