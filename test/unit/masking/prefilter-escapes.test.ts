// Text that is not JSON is scanned as written as well as with its escapes read, so a
// backslash there may be just a character: "\bearer <token>" holds the word "bearer"
// after a backslash. The prefilter once skipped the letter of every JSON escape, the b
// of "\b" among them, so the bearer detector never ran and the token was relayed. Each
// entry point that prefilters text must mask as maskText does.
import { describe, expect, it } from 'vitest';
import { createMasker } from '../../../src/masking/masker.js';
import { Oid } from '../../../src/masking/pg-types.js';
import { dataRow, field, rowTexts } from './helpers.js';

const TOKEN = 'Ab3dEf6hIj9kLmN0';
const masker = createMasker({ detectors: 'all' });
const none = (): undefined => undefined;

const CASES = [`\\bearer ${TOKEN}`, `x \\bearer ${TOKEN}`, `\\bEARER ${TOKEN}`, `log: \\bearer ${TOKEN} done`];

describe('"\\bearer <token>" in text', () => {
  for (const s of CASES) {
    it(`is masked in a text field, a binary varchar field and an error field: ${JSON.stringify(s)}`, () => {
      const expected = masker.maskText(s);
      expect(expected).not.toContain(TOKEN);
      const text = masker.planResult([field('t', Oid.text)], none, { exempt: false });
      const varchar = masker.planResult([field('t', Oid.varchar, { format: 1 })], none, { exempt: false });
      expect(rowTexts(text?.maskDataRow(dataRow([s])) ?? Buffer.alloc(0))).toEqual([expected]);
      expect(rowTexts(varchar?.maskDataRow(dataRow([s])) ?? Buffer.alloc(0))).toEqual([expected]);
      expect(masker.maskErrorFields({ severity: 'ERROR', code: 'XX000', message: s }).message).toBe(expected);
    });
  }

  it("is masked in the tail a partial rule keeps", () => {
    const partial = createMasker({ detectors: 'all', columns: [{ column: 'public.t.c', strategy: 'partial', keep: 30 }] });
    const plan = partial.planResult([field('c', Oid.text, { tableOid: 1, columnNumber: 1 })], () => ({ table: 'public.t', column: 'c' }), { exempt: false });
    const value = `header line 1; \\bearer ${TOKEN}xyz`;
    const [masked] = rowTexts(plan?.maskDataRow(dataRow([value])) ?? Buffer.alloc(0));
    expect(masked).toBe(`****${masker.maskText(value.slice(-30))}`);
    expect(masked).not.toContain(TOKEN);
  });
});
