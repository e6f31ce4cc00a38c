// International Bank Account Numbers: country code, two check digits and the national
// part, printed bare or in groups of four separated by single spaces. A candidate must
// have its country's exact length (the SWIFT IBAN registry) and pass the ISO 7064
// mod-97 check, so an uppercase product code that happens to start "DE12" stays.
// Uppercase only, as IBANs are printed.
import type { Detector, Match, ScanContext } from '../types.js';
import { at, eachMatch, isAlnum, isDigit, isUpper } from './chars.js';

export const IBAN_LENGTHS: Readonly<Record<string, number>> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BI: 27, BR: 29,
  BY: 28, CH: 21, CR: 22, CY: 28, CZ: 24, DE: 22, DJ: 27, DK: 18, DO: 28, EE: 20, EG: 29,
  ES: 24, FI: 18, FK: 18, FO: 18, FR: 27, GB: 22, GE: 22, GI: 23, GL: 18, GR: 27, GT: 28,
  HR: 21, HU: 28, IE: 22, IL: 23, IQ: 23, IS: 26, IT: 27, JO: 30, KW: 30, KZ: 20, LB: 28,
  LC: 32, LI: 21, LT: 20, LU: 20, LV: 21, LY: 25, MC: 27, MD: 24, ME: 22, MK: 19, MN: 20,
  MR: 27, MT: 31, MU: 30, NI: 28, NL: 18, NO: 15, OM: 23, PK: 24, PL: 28, PS: 29, QA: 29,
  RO: 24, RS: 22, RU: 33, SA: 24, SC: 31, SD: 18, SE: 24, SI: 19, SK: 24, SM: 27, SO: 23,
  ST: 25, SV: 28, TL: 23, TN: 24, TR: 26, UA: 29, VA: 22, VG: 24, XK: 20, YE: 30,
};

const START = /[A-Z]{2}\d{2}/g;

/** ISO 7064 MOD 97-10 over the rearranged IBAN, computed piecewise to stay in int range. */
export function ibanChecksumValid(iban: string): boolean {
  const rearranged = iban.slice(4) + iban.slice(0, 4);
  let rem = 0;
  for (let i = 0; i < rearranged.length; i++) {
    const c = rearranged.charCodeAt(i);
    if (isDigit(c)) {
      rem = (rem * 10 + (c - 0x30)) % 97;
    } else {
      rem = (rem * 100 + (c - 0x41 + 10)) % 97;
    }
  }
  return rem === 1;
}

/** ISO 7064 MOD 97-10 remainder after `rem`, one more IBAN character (digit or capital). */
function mod97(rem: number, c: number): number {
  return isDigit(c) ? (rem * 10 + (c - 0x30)) % 97 : (rem * 100 + (c - 0x41 + 10)) % 97;
}

/**
 * The IBAN starting at `start` (two capitals, two digits), if it is one. The checksum
 * is ibanChecksumValid's, computed while the characters are read (the national part,
 * then the first four), without building the compact string.
 */
function candidate(s: string, start: number, out: Match[]): void {
  if (isAlnum(at(s, start - 1))) return;
  const length = IBAN_LENGTHS[s.slice(start, start + 2)];
  if (length === undefined) return;
  let n = 4;
  let rem = 0;
  let i = start + 4;
  while (n < length && i < s.length) {
    let c = s.charCodeAt(i);
    // One space between groups; never two, never a leading one after the end.
    if (c === 0x20 && (isUpper(at(s, i + 1)) || isDigit(at(s, i + 1)))) {
      i++;
      c = s.charCodeAt(i);
    }
    if (!isUpper(c) && !isDigit(c)) return;
    rem = mod97(rem, c);
    n++;
    i++;
  }
  if (n !== length || isAlnum(at(s, i))) return;
  for (let k = start; k < start + 4; k++) rem = mod97(rem, s.charCodeAt(k));
  if (rem === 1) out.push({ start, end: i, kind: 'iban' });
}

function isIbanStart(s: string, p: number): boolean {
  return isUpper(at(s, p)) && isUpper(at(s, p + 1)) && isDigit(at(s, p + 2)) && isDigit(at(s, p + 3));
}

export const ibanDetector: Detector = {
  kind: 'iban',
  scan(s: string, out: Match[], ctx: ScanContext): void {
    // The prefilter's pass noted every place two capitals of a country code precede two
    // digits (what START finds, less the unknown countries): no regex over the text.
    const starts = ctx.ibanStarts?.() ?? null;
    if (starts === null) {
      eachMatch(START, s, (m) => candidate(s, m.index, out));
      return;
    }
    for (const p of starts) if (isIbanStart(s, p)) candidate(s, p, out);
  },
};
