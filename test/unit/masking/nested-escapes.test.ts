// A JSON value keeps its escapes as written (a json column): "\u0041KIA..." is the AWS
// key id AKIA... Wrapped in a record or array literal that is itself a record field or a
// text value, each level of quoting doubles the backslash ("\\u0041", "\\\\u0041"), and
// read one level at a time that is an escaped backslash and a plain "u0041". The escape
// is read at any depth, in each format and through the prefilter.
import { describe, expect, it } from 'vitest';
import { unescapeNestedJsonText } from '../../../src/masking/json-unescape.js';
import { createMasker, type ColumnResolver } from '../../../src/masking/masker.js';
import { Oid } from '../../../src/masking/pg-types.js';
import { prefilter, Trigger } from '../../../src/masking/prefilter.js';
import { markerFor } from '../../../src/masking/types.js';
import { dataRow, field, rowTexts } from './helpers.js';

const noCatalog: ColumnResolver = () => undefined;
const all = createMasker({ detectors: 'all' });
const AWS = markerFor('aws-access-key');

function masked(oid: number, v: string): string | null {
  const p = all.planResult([field('x', oid)], noCatalog, { exempt: false });
  if (p === null) throw new Error('expected a plan');
  return rowTexts(p.maskDataRow(dataRow([v])))[0] ?? null;
}

/** Each level doubles the backslashes, as record_out and array_out do inside quotes. */
const nested = (n: number) => `${'\\'.repeat(2 ** n)}u0041KIAIOSFODNN7EXAMPLE`;

describe('JSON escapes inside more quoting', () => {
  it('are read in record fields that are array or record literals (the server outputs)', () => {
    // SELECT ROW(ARRAY[doc]), ROW(ROW(doc)), ARRAY[ROW(ARRAY[doc])] with doc json '"\u0041KIA..."'.
    const cases: Array<[number, string]> = [
      [Oid.record, `("{""\\\\""${nested(2)}\\\\""""}")`],
      [Oid.record, `("(""""""${nested(2)}"""""")")`],
      [Oid.recordArray, `{"(\\"{\\"\\"\\\\\\\\\\"\\"${nested(3)}\\\\\\\\\\"\\"\\"\\"}\\")"}`],
    ];
    for (const [oid, v] of cases) {
      const out = masked(oid, v);
      expect(out).not.toContain('KIAIOSFODNN7EXAMPLE');
      expect(out).toContain(AWS);
    }
  });

  it('are read in a text or json value holding such a literal (ROW(doc)::text, to_json of it)', () => {
    for (const v of [`("""${nested(1)}""")`, `{"{\\"k\\": \\"${nested(1)}\\"}"}`, `(x,"${nested(3)}")`]) {
      expect(masked(Oid.text, v)).toBe(v.replace(nested(v.startsWith('(x') ? 3 : 1), AWS));
    }
    const json = JSON.stringify(`("""${nested(1)}""")`);
    expect(masked(Oid.json, json)).toBe(json.replace(nested(2), AWS));
    expect(JSON.parse(masked(Oid.json, json) ?? '')).toBe(`("""${AWS}""")`);
  });

  it('set every prefilter bit, as a one-level "\\u" does', () => {
    for (const v of [nested(1), nested(2), `a\\\\\\/b`, `x \\\\\\u0041`]) {
      const b = Buffer.from(v, 'latin1');
      expect(prefilter(b, 0, b.length) & Trigger.all).toBe(Trigger.all);
    }
    const plain = Buffer.from('a \\\\n b \\\\\\\\" c', 'latin1');
    expect(prefilter(plain, 0, plain.length) & Trigger.all).toBe(0);
  });

  it('decode whole runs, mapped back to run boundaries', () => {
    const s = `a\\\\u0041b\\\\\\\\c\\\\/d`;
    const u = unescapeNestedJsonText(s);
    expect(u?.text).toBe('aAb\\\\\\\\c/d');
    // The run before "c" (not an escape) is one unit: every backslash maps to its start.
    expect(Array.from(u?.map ?? [])).toEqual([0, 1, 8, 9, 9, 9, 9, 13, 14, 17, 18]);
    expect(unescapeNestedJsonText('a\\\\n\\"b\\u0041')).toBeNull();
  });

  it('leave a document valid JSON where a hit is masked', () => {
    const doc = JSON.stringify({ a: `x ${nested(1)} y`, b: 'c\\', d: ['\\\\', 1] });
    const out = masked(Oid.jsonb, doc) ?? '';
    expect(JSON.parse(out)).toEqual({ a: `x ${AWS} y`, b: 'c\\', d: ['\\\\', 1] });
  });
});
