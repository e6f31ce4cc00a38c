// The prefilter's window for the AWS secret's hint word ("aws" or "secret" within 100
// characters before the 40-character run) is counted in characters from the bytes, not
// bounded by 400 bytes: text masked through a DataRow (prefiltered) equals maskText
// (every detector, no prefilter), with the hint word at about 100 characters from the
// secret and multi-byte characters, escapes and other base64 runs between them.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createMasker } from '../../../src/masking/masker.js';
import { Oid } from '../../../src/masking/pg-types.js';
import { dataRow, field, rowTexts } from './helpers.js';

const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const masker = createMasker({ detectors: 'all' });
const plan = masker.planResult([field('t', Oid.text), field('j', Oid.jsonb)], () => undefined, { exempt: false });
if (plan === null) throw new Error('expected a plan');

// One to four UTF-8 bytes per character ('👋' is two UTF-16 units), and "\n" escapes.
const filler = fc.array(fc.constantFrom('a', ' ', 'é', '日', '👋', '\\n', '.'), { minLength: 80, maxLength: 100 }).map((p) => p.join(''));

describe('prefilter hint window', () => {
  it('masks as maskText does, the hint word near the edge of the window', () => {
    fc.assert(
      fc.property(fc.constantFrom('aws', 'AWS', 'Secret', 'secret_key', 'sec ret', ''), filler, fc.constantFrom(' ', '=', '"', 'é'), (hint, between, sep) => {
        const text = `${hint}${between}${sep}${SECRET} tail`;
        const json = JSON.stringify({ note: text });
        const [t, j] = rowTexts(plan.maskDataRow(dataRow([text, json])));
        expect(t).toBe(masker.maskText(text));
        expect(JSON.parse(j ?? 'null')).toEqual({ note: JSON.parse(masker.maskText(json)).note });
      }),
      { numRuns: 1500 },
    );
  });
});
