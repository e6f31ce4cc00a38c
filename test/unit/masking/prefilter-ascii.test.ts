// The prefilter's NOT_ASCII bit decides how a field is decoded (latin1 when clear, UTF-8
// when set): it must be set whenever a byte of 0x80 or more is in the field, wherever it
// sits (after digits, capitals, escapes, inside base64 runs, after an earlier one), and
// a field masked through a DataRow must equal its text masked without the prefilter.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createMasker } from '../../../src/masking/masker.js';
import { Oid } from '../../../src/masking/pg-types.js';
import { NOT_ASCII, prefilter } from '../../../src/masking/prefilter.js';
import { dataRow, field, rowTexts } from './helpers.js';

const masker = createMasker({ detectors: 'all' });
const plan = masker.planResult([field('t', Oid.text), field('j', Oid.jsonb)], () => undefined, { exempt: false });
if (plan === null) throw new Error('expected a plan');

const piece = fc.constantFrom(
  'a', ' ', 'Z', 'é', '日', '👋', '\\n', '\\"', ':', '::', '-', '_', 'b', '@', '4111 1111 1111 1111', '+1 212 555 0199',
  'sk-', 'AKIA', 'eyJ', 'DE89370400440532013000', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', 'aws', '2001:db8::1', '\u00ff', '\u0080',
);
const text = fc.array(piece, { maxLength: 40 }).map((p) => p.join(''));

describe('prefilter NOT_ASCII', () => {
  it('is set exactly when a byte of 0x80 or more is in the field, or the pass stopped at a \\u or \\/ escape', () => {
    fc.assert(
      fc.property(text, fc.constantFrom('', '\\u0041', '\\/'), (body, tail) => {
        const s = body + tail;
        const buf = Buffer.from(`xx${s}yy`, 'utf8');
        const end = buf.length - 2;
        const wide = buf.subarray(2, end).some((c) => c >= 0x80);
        // No piece ends in a backslash: the tail is the only \u or \/ escape.
        expect(prefilter(buf, 2, end, []) & NOT_ASCII).toBe(wide || tail !== '' ? NOT_ASCII : 0);
      }),
      { numRuns: 3000 },
    );
  });

  it('leaves masking as it is without the prefilter, ASCII or not', () => {
    fc.assert(
      fc.property(text, (t) => {
        const json = JSON.stringify({ note: t });
        const [mt, mj] = rowTexts(plan.maskDataRow(dataRow([t, json])));
        expect(mt).toBe(masker.maskText(t));
        expect(JSON.parse(mj ?? 'null')).toEqual({ note: JSON.parse(masker.maskText(json)).note });
      }),
      { numRuns: 2000 },
    );
  });
});
