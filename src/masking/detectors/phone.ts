// Phone numbers: international E.164 style ("+1 415 555 2671", "+44 (0)20 7946 0958")
// and the common national shapes: North American "(415) 555-2671" / "415-555-2671" /
// "1-800-555-0199", and trunk-prefixed European "020 7946 0958", "030 1234567",
// "01 23 45 67 89". Bare digit runs are never phones: a 10-digit id or an epoch stays.
// National shapes need consistent separators and fixed group sizes, which keeps dates
// (2024-01-15, 15-01-2024), times, version strings, UUIDs and dashed order numbers out.
import type { Detector, Match, ScanContext } from '../types.js';
import { at, isAlnum, isDigit, isWord } from './chars.js';
import { eachMatchInRun } from './number-runs.js';

// Each group: an optional separator, then digits, optionally in parentheses.
const INTERNATIONAL = /\+\d{1,3}(?:[ .-]?(?:\(\d{1,4}\)|\d{1,5})){1,6}/g;
const NANP = /(?:1([ .-]))?(?:\(\d{3}\) ?\d{3}[ .-]|\d{3}([ .-])\d{3}\2)\d{4}/g;
const TRUNK = /0\d{1,4}([ -])\d{2,8}(?:\1\d{2,8}){0,3}/g;

function countDigits(s: string, start: number, end: number): number {
  let n = 0;
  for (let i = start; i < end; i++) if (isDigit(s.charCodeAt(i))) n++;
  return n;
}

// Not glued to a preceding token: "ORD-415-555-2671", "v1.415.555.2671", "x+123...".
function startOk(s: string, start: number): boolean {
  const c = at(s, start - 1);
  return !isWord(c) && c !== 0x2e && c !== 0x2d && c !== 0x2b && c !== 0x29;
}

// Not continued by more of a token: a letter or digit, or ".5" / "-5" (a longer group).
function endOk(s: string, end: number): boolean {
  const c = at(s, end);
  if (isAlnum(c) || c === 0x5f) return false;
  return !((c === 0x2e || c === 0x2d) && isDigit(at(s, end + 1)));
}

export const phoneDetector: Detector = {
  kind: 'phone',
  scan(s: string, out: Match[], ctx: ScanContext): void {
    const push = (start: number, end: number, minDigits: number, maxDigits: number): void => {
      const digits = countDigits(s, start, end);
      if (digits >= minDigits && digits <= maxDigits && startOk(s, start) && endOk(s, end)) {
        out.push({ start, end, kind: 'phone' });
      }
    };
    for (const run of ctx.numberRuns()) {
      // The shortest phone has 8 digits (E.164 minimum); national forms need 9 or 10. A
      // run the prefilter measured says itself whether its groups can make a phone.
      if (run.digits < 8 || run.phone === false) continue;
      eachMatchInRun(INTERNATIONAL, s, run, (start, text) => push(start, start + text.length, 8, 15));
      eachMatchInRun(NANP, s, run, (start, text) => push(start, start + text.length, 10, 11));
      eachMatchInRun(TRUNK, s, run, (start, text) => push(start, start + text.length, 9, 12));
    }
  },
};
