// Card and IBAN checks computed on the text in place (no string of the digits or of the
// compact IBAN built per candidate), against the string-building checks they replaced,
// written out here over the exported isCardNumber and ibanChecksumValid.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { creditCardDetector, isCardNumber } from '../../../src/masking/detectors/credit-card.js';
import { IBAN_LENGTHS, ibanChecksumValid, ibanDetector } from '../../../src/masking/detectors/iban.js';
import { findNumberRuns } from '../../../src/masking/detectors/number-runs.js';
import { findPrivateKeyBlocks } from '../../../src/masking/detectors/private-key.js';
import type { Match, ScanContext } from '../../../src/masking/types.js';

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
const isUpper = (c: string | undefined): boolean => c !== undefined && c >= 'A' && c <= 'Z';
const isAlnum = (c: string | undefined): boolean => c !== undefined && /[A-Za-z0-9]/.test(c);

function context(s: string): ScanContext {
  return { hint: undefined, numberRuns: () => findNumberRuns(s), privateKeyBlocks: () => findPrivateKeyBlocks(s) };
}

function cardsReference(s: string): Match[] {
  const out: Match[] = [];
  for (const run of findNumberRuns(s)) {
    if (run.digits < 13) continue;
    const sub = s.slice(run.start, run.end);
    for (const m of sub.matchAll(/\d(?:[ -]?\d){12,}/g)) {
      const start = run.start + m.index;
      const end = start + m[0].length;
      if (isAlnum(s[start - 1]) || isAlnum(s[end])) continue;
      const groups: Array<[number, number]> = [];
      let g = start;
      for (let i = start; i <= end; i++) {
        if (i === end || !isDigit(s[i])) {
          groups.push([g, i]);
          g = i + 1;
        }
      }
      if (groups.length === 1) {
        if (isCardNumber(m[0])) out.push({ start, end, kind: 'credit-card' });
        continue;
      }
      let k = 0;
      while (k < groups.length) {
        const first = groups[k] as [number, number];
        const lead = s[first[0]] as string;
        if (lead < '2' || lead > '6') {
          k++;
          continue;
        }
        let found = -1;
        let digits = 0;
        for (let h = k; h < groups.length; h++) {
          const grp = groups[h] as [number, number];
          digits += grp[1] - grp[0];
          if (digits > 19) break;
          if (digits >= 13 && isCardNumber(s.slice(first[0], grp[1]).replace(/\D/g, ''))) found = h;
        }
        if (found >= 0) {
          out.push({ start: first[0], end: (groups[found] as [number, number])[1], kind: 'credit-card' });
          k = found + 1;
        } else {
          k++;
        }
      }
    }
  }
  return out;
}

function ibansReference(s: string): Match[] {
  const out: Match[] = [];
  for (const m of s.matchAll(/[A-Z]{2}\d{2}/g)) {
    const start = m.index;
    if (isAlnum(s[start - 1])) continue;
    const length = IBAN_LENGTHS[m[0].slice(0, 2)];
    if (length === undefined) continue;
    let compact = m[0];
    let i = start + 4;
    let ok = true;
    while (compact.length < length && i < s.length) {
      if (s[i] === ' ' && (isUpper(s[i + 1]) || isDigit(s[i + 1]))) i++;
      if (!isUpper(s[i]) && !isDigit(s[i])) {
        ok = false;
        break;
      }
      compact += s[i];
      i++;
    }
    if (!ok || compact.length !== length || isAlnum(s[i])) continue;
    if (ibanChecksumValid(compact)) out.push({ start, end: i, kind: 'iban' });
  }
  return out;
}

const cardPieces = fc.oneof(
  fc.constantFrom('4111 1111 1111 1111', '4111-1111-1111-1111', '4111111111111111', '5500 0000 0000 0004', '378282246310005', '3782 822463 10005', '6011111111111117', '4111111111111112', '1111 1111 1111 1111', '4111 1111 1111 1111 1111 1111', '2223003122003222'),
  fc.stringMatching(/^[0-9]{1,6}$/),
  fc.constantFrom(' ', '-', '  ', '.', 'x', 'é', '(', '+', '\n'),
);
const ibanPieces = fc.oneof(
  fc.constantFrom('DE89 3704 0044 0532 0130 00', 'DE89370400440532013000', 'GB82 WEST 1234 5698 7654 32', 'GB82WEST12345698765432', 'NO9386011117947', 'MT84MALT011000012345MTLCAST001S', 'DE89 3704 0044 0532 0130 01', 'FR14 2004 1010 0505 0001 3M02 606'),
  fc.stringMatching(/^[A-Z]{2}[0-9]{2}[A-Z0-9 ]{0,12}$/),
  fc.constantFrom(' ', '  ', 'x', 'é', ',', 'IBAN '),
);

describe('checks computed in place', () => {
  it('credit-card finds what the string-building check found', () => {
    fc.assert(
      fc.property(fc.array(cardPieces, { maxLength: 12 }), (parts) => {
        const s = parts.join('');
        const got: Match[] = [];
        creditCardDetector.scan(s, got, context(s));
        expect(got).toEqual(cardsReference(s));
      }),
      { numRuns: 3000 },
    );
  });

  it('iban finds what the compact-string check found', () => {
    fc.assert(
      fc.property(fc.array(ibanPieces, { maxLength: 10 }), (parts) => {
        const s = parts.join('');
        const got: Match[] = [];
        ibanDetector.scan(s, got, context(s));
        expect(got).toEqual(ibansReference(s));
      }),
      { numRuns: 3000 },
    );
  });
});
