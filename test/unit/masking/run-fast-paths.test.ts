// The card and IPv4 detectors skip their regex for the commonest runs (digits alone; a
// dotted quad of octets): the same hits as the regex over every run, the reference
// written out here as the detectors had it, over runs found by findNumberRuns and by a
// prefilter pass alike. Runs with separators (card groups) are detector-in-place.test.ts's.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { creditCardDetector, isCardNumber } from '../../../src/masking/detectors/credit-card.js';
import { ipv4Detector } from '../../../src/masking/detectors/ip-address.js';
import { findNumberRuns, type NumberRun } from '../../../src/masking/detectors/number-runs.js';
import { prefilter } from '../../../src/masking/prefilter.js';
import type { Match, ScanContext } from '../../../src/masking/types.js';

const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const isWord = (c: string | undefined): boolean => c !== undefined && /[A-Za-z0-9_]/.test(c);
const isAlnum = (c: string | undefined): boolean => c !== undefined && /[A-Za-z0-9]/.test(c);

function ipv4Reference(s: string, runs: readonly NumberRun[]): Match[] {
  const out: Match[] = [];
  for (const run of runs) {
    if (run.dots < 3) continue;
    for (const m of s.slice(run.start, run.end).matchAll(new RegExp(`${OCTET}(?:\\.${OCTET}){3}`, 'g'))) {
      const start = run.start + m.index;
      const end = start + m[0].length;
      if (isWord(s[start - 1]) || s[start - 1] === '.') continue;
      if (isAlnum(s[end]) || s[end] === '_' || (s[end] === '.' && /[0-9]/.test(s[end + 1] ?? ''))) continue;
      out.push({ start, end, kind: 'ipv4' });
    }
  }
  return out;
}

/** The detector over runs of digits alone, where every match is a single group. */
function cardReference(s: string, runs: readonly NumberRun[]): Match[] {
  const out: Match[] = [];
  for (const run of runs) {
    if (run.digits < 13) continue;
    for (const m of s.slice(run.start, run.end).matchAll(/\d(?:[ -]?\d){12,}/g)) {
      const start = run.start + m.index;
      const end = start + m[0].length;
      if (isAlnum(s[start - 1]) || isAlnum(s[end])) continue;
      if (isCardNumber(m[0])) out.push({ start, end, kind: 'credit-card' });
    }
  }
  return out;
}

function withRuns(runs: readonly NumberRun[]): ScanContext {
  return { hint: undefined, numberRuns: () => runs, privateKeyBlocks: () => [] };
}

function prefilterRuns(s: string): NumberRun[] {
  const runs: NumberRun[] = [];
  const b = Buffer.from(s, 'latin1');
  prefilter(b, 0, b.length, runs);
  return runs;
}

const group = fc.constantFrom('0', '1', '9', '10', '25', '99', '100', '199', '200', '249', '250', '255', '256', '260', '300', '01', '001', '0255', '1000', '2a');
const quad = fc.array(group, { minLength: 4, maxLength: 4 }).map((g) => g.join('.'));
const piece = fc.oneof(
  { weight: 4, arbitrary: group },
  { weight: 4, arbitrary: quad },
  { weight: 4, arbitrary: fc.constant('.') },
  fc.constantFrom('4111111111111111', '378282246310005', '4111111111111112', '5500000000000004', '1234567890123', '41111111111111111111', '6011000990139424'),
  fc.constantFrom(' ', '-', '(', ')', '+', 'a', 'v', '_', '/', ':', '"', '\\n', 'é', '..'),
  fc.stringMatching(/^[0-9]{1,8}$/),
);

describe('number-run detectors without their regex', () => {
  it('find what the regex over each run finds', () => {
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 20 }), (parts) => {
        const s = parts.join('');
        for (const runs of [findNumberRuns(s), prefilterRuns(s)]) {
          const ips: Match[] = [];
          ipv4Detector.scan(s, ips, withRuns(runs));
          expect(ips).toEqual(ipv4Reference(s, runs));
          const cards: Match[] = [];
          const allDigits = runs.filter((r) => /^[0-9]+$/.test(s.slice(r.start, r.end)));
          creditCardDetector.scan(s, cards, withRuns(allDigits));
          expect(cards).toEqual(cardReference(s, allDigits));
        }
      }),
      { numRuns: 4000 },
    );
  });
});
