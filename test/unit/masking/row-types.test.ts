import { describe, expect, it } from 'vitest';
import { createMasker, type ColumnResolver, type RowTypeResolver, type RowTypeRef } from '../../../src/masking/masker.js';
import { Oid } from '../../../src/masking/pg-types.js';
import { markerFor } from '../../../src/masking/types.js';
import { dataRow, field, rowFields, rowTexts } from './helpers.js';

// traces as the catalog describes it: row type 16386, its array type 16385.
const TRACES_ROW = 16386;
const TRACES_ROWS = 16385;
const columns = [
  { column: 'trace_id', typeOid: Oid.text },
  { column: 'user_email', typeOid: Oid.text },
  { column: 'n', typeOid: Oid.int8 },
  { column: 'body', typeOid: Oid.jsonb },
];
const row: RowTypeRef = { table: 'public.traces', columns, array: false };
const rowTypeOf: RowTypeResolver = (t) => (t === TRACES_ROW ? row : t === TRACES_ROWS ? { ...row, array: true } : undefined);
const noColumns: ColumnResolver = () => undefined;
const EMAIL = markerFor('email');

const masker = createMasker({
  hashKey: 'row-types-test-hash-key-0123',
  columns: [
    { column: 'public.traces.user_email', strategy: 'partial', keep: 4 },
    { column: 'public.traces.body', strategy: 'redact', jsonPaths: ['$.secret'] },
  ],
});

function plan(typeOid: number, format: 0 | 1 = 0, resolver: RowTypeResolver | null = rowTypeOf) {
  const p = masker.planResult([field('t', typeOid, { format })], noColumns, { exempt: false, ...(resolver ? { rowTypeOf: resolver } : {}) });
  if (p === null) throw new Error('expected a plan');
  return p;
}

function binaryRecord(fields: Array<[number, Buffer | null]>): Buffer {
  const parts: Buffer[] = [Buffer.alloc(4)];
  (parts[0] as Buffer).writeInt32BE(fields.length);
  for (const [oid, v] of fields) {
    const h = Buffer.alloc(8);
    h.writeUInt32BE(oid, 0);
    h.writeInt32BE(v === null ? -1 : v.length, 4);
    parts.push(h);
    if (v) parts.push(v);
  }
  return Buffer.concat(parts);
}

function readBinaryRecord(b: Buffer): Array<string | null> {
  const n = b.readInt32BE(0);
  let pos = 4;
  const out: Array<string | null> = [];
  for (let i = 0; i < n; i++) {
    const len = b.readInt32BE(pos + 4);
    pos += 8;
    out.push(len < 0 ? null : b.toString('utf8', pos, pos + len));
    if (len > 0) pos += len;
  }
  return out;
}

describe('whole-row values (a table row type)', () => {
  it('apply column rules and typed detectors to each field, text format', () => {
    const value = '(t-1,alice@example.com,4111111111111111,"{""secret"": ""s"", ""m"": ""bob@example.com""}")';
    expect(rowTexts(plan(TRACES_ROW).maskDataRow(dataRow([value])))).toEqual([
      `(t-1,"****.com",,"{""secret"": ""[redacted]"", ""m"": ""${EMAIL}""}")`,
    ]);
  });

  it('apply them in binary format too', () => {
    const n = Buffer.alloc(8);
    n.writeBigInt64BE(4111111111111111n);
    const body = Buffer.concat([Buffer.of(1), Buffer.from('{"secret": "s"}')]);
    const value = binaryRecord([
      [Oid.text, Buffer.from('t-1')],
      [Oid.text, Buffer.from('alice@example.com')],
      [Oid.int8, n],
      [Oid.jsonb, body],
    ]);
    const out = rowFields(plan(TRACES_ROW, 1).maskDataRow(dataRow([value])))[0] as Buffer;
    expect(readBinaryRecord(out)).toEqual(['t-1', '****.com', null, '\u0001{"secret": "[redacted]"}']);
  });

  it('mask arrays of rows (array_agg(t))', () => {
    const value = '{"(t-1,alice@example.com,,)","(t-2,bob@example.com,1,)"}';
    expect(rowTexts(plan(TRACES_ROWS).maskDataRow(dataRow([value])))).toEqual(['{"(t-1,\\"****.com\\",,)","(t-2,\\"****.com\\",1,)"}']);
  });

  it('NULL a value whose field count does not match the catalog', () => {
    expect(rowTexts(plan(TRACES_ROW).maskDataRow(dataRow(['(t-1,a@b.io)'])))).toEqual([null]);
    const short = binaryRecord([[Oid.text, Buffer.from('t-1')]]);
    expect(rowFields(plan(TRACES_ROW, 1).maskDataRow(dataRow([short])))).toEqual([null]);
  });

  it('NULL values of non-built-in types when rules exist but no row type resolver was given', () => {
    expect(rowTexts(plan(TRACES_ROW, 0, null).maskDataRow(dataRow(['(t-1,x,,)'])))).toEqual([null]);
  });

  it('mask an unresolved composite field by field, keeping JSON inside valid', () => {
    const m = createMasker({ detectors: 'all' });
    const p = m.planResult([field('t', 20001)], noColumns, { exempt: false, rowTypeOf: () => undefined });
    const out = rowTexts(p?.maskDataRow(dataRow(['(1,"{""n"": 4111111111111111}")'])) ?? Buffer.alloc(0))[0];
    expect(out).toBe(`(1,"{""n"": ""${markerFor('credit-card')}""}")`);
  });
});

describe('JSON computed from whole rows (to_jsonb(t), json_agg(t))', () => {
  it('applies column rules by key, at any depth, with their paths', () => {
    const p = masker.planResult([field('j', Oid.jsonb), field('a', Oid.json)], noColumns, { exempt: false, rowTypeOf });
    const one = JSON.stringify({ trace_id: 't-1', user_email: 'alice@example.com', body: { secret: 's', ok: 1 } });
    const agg = JSON.stringify([JSON.parse(one), JSON.parse(one)]);
    const [j, a] = rowTexts(p?.maskDataRow(dataRow([one, agg])) ?? Buffer.alloc(0));
    const want = { trace_id: 't-1', user_email: '****.com', body: { secret: '[redacted]', ok: 1 } };
    expect(JSON.parse(j as string)).toEqual(want);
    expect(JSON.parse(a as string)).toEqual([want, want]);
  });

  it("leaves JSON read straight from a column to that column's own rule", () => {
    const cols: ColumnResolver = () => ({ table: 'public.other', column: 'doc' });
    const p = masker.planResult([field('doc', Oid.jsonb, { tableOid: 1, columnNumber: 1 })], cols, { exempt: false, rowTypeOf });
    const doc = JSON.stringify({ user_email: 'keep-as-is' });
    const frame = dataRow([doc]);
    expect(p?.maskDataRow(frame)).toBe(frame);
  });
});
