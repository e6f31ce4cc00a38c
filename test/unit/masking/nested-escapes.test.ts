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
import { dataRow, field, rowFields, rowTexts } from './helpers.js';

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
    expect(unescapeNestedJsonText('a\\n\\"b\\u0041')).toBeNull();
    expect(unescapeNestedJsonText('a\\\\nb')?.text).toBe('a\nb');
  });

  it('leave a document valid JSON where a hit is masked', () => {
    const doc = JSON.stringify({ a: `x ${nested(1)} y`, b: 'c\\', d: ['\\\\', 1] });
    const out = masked(Oid.jsonb, doc) ?? '';
    expect(JSON.parse(out)).toEqual({ a: `x ${AWS} y`, b: 'c\\', d: ['\\\\', 1] });
  });

  it('do not glue a doubled escape\'s letter onto the secret after it', () => {
    // {"log": "line\n<key>"} inside a record or array literal: the "\n" reads "\\n".
    const SK = `sk-${'Zq9'.repeat(15)}`;
    const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJrZXN0cmVsIn0.c2lnbmF0dXJlLXF1YXJ0ei1rZXN0cmVs';
    const text = `{"{\\"log\\": \\"line\\\\n${SK}\\\\tAKIAIOSFODNN7EXAMPLE\\\\r${JWT}\\"}"}`;
    const out = masked(Oid.text, text) ?? '';
    for (const s of [SK, 'AKIAIOSFODNN7EXAMPLE', JWT]) expect(out).not.toContain(s);
    expect(out).toBe(`{"{\\"log\\": \\"line\\\\n${markerFor('openai-key')}\\\\t${AWS}\\\\r${markerFor('jwt')}\\"}"}`);
    expect(masked(Oid.record, `("(""line\\\\n${SK}"")")`)).not.toContain(SK);
    // A lone escaped backslash before a letter is unchanged: nothing to mask.
    expect(masked(Oid.text, 'C:\\\\new\\\\x')).toBe('C:\\\\new\\\\x');
  });

  it('are read in a binary record field of unknown layout (a table row inside ROW(t))', () => {
    // record_send: 1 field, its type a table's row type (not resolved), its bytes the row's.
    const inner = Buffer.from('xx{"log": "line\\nsk-' + 'Zq9'.repeat(15) + '"}', 'utf8');
    const rec = Buffer.alloc(12 + inner.length);
    rec.writeInt32BE(1, 0);
    rec.writeUInt32BE(16500, 4);
    rec.writeInt32BE(inner.length, 8);
    inner.copy(rec, 12);
    const p = all.planResult([field('x', Oid.record, { format: 1 })], noCatalog, { exempt: false });
    const out = p && rowFields(p.maskDataRow(dataRow([rec])))[0];
    // The field is NULL (its layout unknown, a hit in its bytes): length -1, no bytes.
    expect(out?.readInt32BE(8)).toBe(-1);
    expect(out?.length).toBe(12);
  });
});
