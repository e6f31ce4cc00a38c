// Payment card numbers: 13 to 19 digits, bare or grouped by single spaces or dashes,
// passing the Luhn check and starting with a major-network digit (2-6: Mastercard 2-series,
// Amex/Diners/JCB, Visa, Mastercard/Maestro, Discover/UnionPay). A 16-digit order number
// that fails Luhn stays, as does a run glued to letters (a git SHA, a hex id) or longer
// than 19 digits. A grouped run holding several numbers is searched group by group.
import type { Detector, Match, ScanContext } from '../types.js';
import { at, isAlnum, isDigit } from './chars.js';
import { eachMatchInRun } from './number-runs.js';

const RUN = /\d(?:[ -]?\d){12,}/g;

/** The Luhn check of the digits in s[start, end); anything else between them is skipped. */
function luhnIn(s: string, start: number, end: number): boolean {
  let sum = 0;
  let double = false;
  for (let i = end - 1; i >= start; i--) {
    let d = s.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) continue;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

export function luhnValid(digits: string): boolean {
  return luhnIn(digits, 0, digits.length);
}

/** Digits only, 13-19 of them, network prefix and Luhn. */
export function isCardNumber(digits: string): boolean {
  return isCardIn(digits, 0, digits.length, digits.length);
}

interface Group {
  start: number;
  end: number;
}

function groupsOf(s: string, start: number, end: number): Group[] {
  const groups: Group[] = [];
  let g = start;
  for (let i = start; i <= end; i++) {
    if (i === end || !isDigit(s.charCodeAt(i))) {
      groups.push({ start: g, end: i });
      g = i + 1;
    }
  }
  return groups;
}

/**
 * isCardNumber of the `count` digits in s[start, end) (the separators between groups
 * skipped), read in place: no string of the digits is built per window.
 */
function isCardIn(s: string, start: number, end: number, count: number): boolean {
  if (count < 13 || count > 19) return false;
  const first = s.charCodeAt(start);
  return first >= 0x32 && first <= 0x36 && luhnIn(s, start, end);
}

// Left to right, the longest window of whole groups that is a card number.
function scanGroups(s: string, groups: Group[], out: Match[]): void {
  let g = 0;
  while (g < groups.length) {
    const first = groups[g] as Group;
    // Every network starts with 2-6: other windows need no Luhn (and a long run of
    // "1 1 1 ..." costs one test per group).
    const lead = s.charCodeAt(first.start);
    if (lead < 0x32 || lead > 0x36) {
      g++;
      continue;
    }
    let found = -1;
    let digits = 0;
    for (let h = g; h < groups.length; h++) {
      const grp = groups[h] as Group;
      digits += grp.end - grp.start;
      if (digits > 19) break;
      if (digits >= 13 && isCardIn(s, first.start, grp.end, digits)) found = h;
    }
    if (found >= 0) {
      out.push({ start: first.start, end: (groups[found] as Group).end, kind: 'credit-card' });
      g = found + 1;
    } else {
      g++;
    }
  }
}

export const creditCardDetector: Detector = {
  kind: 'credit-card',
  scan(s: string, out: Match[], ctx: ScanContext): void {
    for (const run of ctx.numberRuns()) {
      if (run.digits < 13) continue;
      // A run of digits alone is RUN's one match, and a single group: no regex.
      if (run.digits === run.end - run.start) {
        if (!isAlnum(at(s, run.start - 1)) && !isAlnum(at(s, run.end)) && isCardIn(s, run.start, run.end, run.digits)) out.push({ start: run.start, end: run.end, kind: 'credit-card' });
        continue;
      }
      eachMatchInRun(RUN, s, run, (start, text) => {
        const end = start + text.length;
        if (isAlnum(at(s, start - 1)) || isAlnum(at(s, end))) return;
        const groups = groupsOf(s, start, end);
        if (groups.length === 1) {
          if (isCardNumber(text)) out.push({ start, end, kind: 'credit-card' });
          return;
        }
        scanGroups(s, groups, out);
      });
    }
  },
};
