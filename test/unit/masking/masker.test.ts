import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../../protocol/protocol-error.js';
import { createMasker, type ColumnResolver } from '../../../src/masking/masker.js';
import { Oid } from '../../../src/masking/pg-types.js';
import { markerFor, type MaskingConfig } from '../../../src/masking/types.js';
import { dataRow, field, rowFields, rowTexts } from './helpers.js';

const EMAIL = markerFor('email');
const HASH_KEY = 'masker-test-hash-key-0123456789';
const noCatalog: ColumnResolver = () => undefined;
const all = createMasker({ detectors: 'all' });

function plan(cfg: MaskingConfig | ReturnType<typeof createMasker>, fields: ReturnType<typeof field>[], columnOf: ColumnResolver = noCatalog) {
  const m = 'planResult' in cfg ? cfg : createMasker(cfg);
  const p = m.planResult(fields, columnOf, { exempt: false });
  if (p === null) throw new Error('expected a plan');
  return p;
}

function jsonb(text: string): Buffer {
  return Buffer.concat([Buffer.of(1), Buffer.from(text, 'utf8')]);
}

function int8(v: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(v);
  return b;
}

function numeric(digits: number[], weight: number, dscale = 0, sign = 0): Buffer {
  const b = Buffer.alloc(8 + digits.length * 2);
  b.writeInt16BE(digits.length, 0);
  b.writeInt16BE(weight, 2);
  b.writeUInt16BE(sign, 4);
  b.writeInt16BE(dscale, 6);
  digits.forEach((d, i) => b.writeInt16BE(d, 8 + i * 2));
  return b;
}

function binaryArray(elemOid: number, items: Array<Buffer | null>): Buffer {
  const head = Buffer.alloc(20);
  head.writeInt32BE(1, 0);
  head.writeInt32BE(items.some((i) => i === null) ? 1 : 0, 4);
  head.writeUInt32BE(elemOid, 8);
  head.writeInt32BE(items.length, 12);
  head.writeInt32BE(1, 16);
  const parts = items.map((i) => {
    const len = Buffer.alloc(4);
    len.writeInt32BE(i === null ? -1 : i.length);
    return i === null ? len : Buffer.concat([len, i]);
  });
  return Buffer.concat([head, ...parts]);
}

function readBinaryArray(b: Buffer): { hasNull: number; items: Array<string | null> } {
  const ndim = b.readInt32BE(0);
  let pos = 12 + ndim * 8;
  const n = ndim === 0 ? 0 : b.readInt32BE(12);
  const items: Array<string | null> = [];
  for (let k = 0; k < n; k++) {
    const len = b.readInt32BE(pos);
    pos += 4;
    items.push(len < 0 ? null : b.toString('utf8', pos, pos + len));
    if (len > 0) pos += len;
  }
  expect(pos).toBe(b.length);
  return { hasNull: b.readInt32BE(4), items };
}

function binaryRecord(fields: Array<[number, Buffer | null]>): Buffer {
  const parts: Buffer[] = [];
  const n = Buffer.alloc(4);
  n.writeInt32BE(fields.length);
  parts.push(n);
  for (const [oid, v] of fields) {
    const h = Buffer.alloc(8);
    h.writeUInt32BE(oid, 0);
    h.writeInt32BE(v === null ? -1 : v.length, 4);
    parts.push(h);
    if (v) parts.push(v);
  }
  return Buffer.concat(parts);
}

describe('planResult', () => {
  it('returns null for an exempt caller', () => {
    expect(all.planResult([field('t', Oid.text)], noCatalog, { exempt: true })).toBeNull();
  });

  it('returns null when no column can need masking', () => {
    const safe = [field('id', Oid.int4), field('at', 1184), field('ok', Oid.bool), field('u', 2950), field('ids', Oid.int4Array)];
    expect(all.planResult(safe, noCatalog, { exempt: false })).toBeNull();
    expect(createMasker({ detectors: [] }).planResult([field('t', Oid.text)], noCatalog, { exempt: false })).toBeNull();
    expect(createMasker({ detectors: 'none' }).planResult([field('t', Oid.text)], noCatalog, { exempt: false })).toBeNull();
  });

  it('says whether the catalog is needed', () => {
    expect(all.needsCatalog).toBe(false);
    expect(createMasker({ columns: [{ column: 'traces.user_email', strategy: 'redact' }] }).needsCatalog).toBe(true);
  });
});

describe('DataRow rewriting', () => {
  it('returns the same Buffer when nothing changed', () => {
    const p = plan(all, [field('id', Oid.int4), field('t', Oid.text), field('j', Oid.jsonb)]);
    const row = dataRow(['42', 'nothing here', '{"a": "b", "n": [1, 2]}']);
    expect(p.maskDataRow(row)).toBe(row);
  });

  it('rewrites field lengths and the message length', () => {
    const p = plan(all, [field('id', Oid.int4), field('t', Oid.text), field('n', Oid.text), field('t2', Oid.varchar)]);
    const row = dataRow(['7', 'mail alice@example.com now', null, 'x@y.io']);
    const out = p.maskDataRow(row);
    expect(out).not.toBe(row);
    expect(out.readInt32BE(1)).toBe(out.length - 1);
    expect(rowTexts(out)).toEqual(['7', `mail ${EMAIL} now`, null, EMAIL]);
  });

  it('keeps NULLs and empty strings', () => {
    const p = plan(all, [field('a', Oid.text), field('b', Oid.text), field('c', Oid.jsonb)]);
    const row = dataRow([null, '', null]);
    expect(p.maskDataRow(row)).toBe(row);
  });

  it('masks text, varchar, bpchar, name and unknown in text and binary format', () => {
    for (const oid of [Oid.text, Oid.varchar, Oid.bpchar, Oid.name, Oid.unknown]) {
      for (const format of [0, 1] as const) {
        const p = plan(all, [field('v', oid, { format })]);
        expect(rowTexts(p.maskDataRow(dataRow(['bob@example.com   '])))).toEqual([`${EMAIL}   `]);
      }
    }
  });

  it('keeps valid UTF-8 around secrets', () => {
    const p = plan(all, [field('v', Oid.text)]);
    const out = p.maskDataRow(dataRow(['€ 日本 bob@example.com 👋 ñ']));
    const bytes = rowFields(out)[0] as Buffer;
    expect(bytes.toString('utf8')).toBe(`€ 日本 ${EMAIL} 👋 ñ`);
    expect(Buffer.from(bytes.toString('utf8'), 'utf8').equals(bytes)).toBe(true);
  });

  it('masks json in both formats and jsonb with its version byte', () => {
    const doc = '{"user": {"email": "bob@example.com"}}';
    const want = `{"user": {"email": "${EMAIL}"}}`;
    expect(rowTexts(plan(all, [field('j', Oid.json)]).maskDataRow(dataRow([doc])))).toEqual([want]);
    expect(rowTexts(plan(all, [field('j', Oid.json, { format: 1 })]).maskDataRow(dataRow([doc])))).toEqual([want]);
    expect(rowTexts(plan(all, [field('j', Oid.jsonb)]).maskDataRow(dataRow([doc])))).toEqual([want]);
    const bin = rowFields(plan(all, [field('j', Oid.jsonb, { format: 1 })]).maskDataRow(dataRow([jsonb(doc)])))[0] as Buffer;
    expect(bin[0]).toBe(1);
    expect(JSON.parse(bin.toString('utf8', 1))).toEqual({ user: { email: EMAIL } });
  });

  it('refuses a binary jsonb value of an unknown version', () => {
    const p = plan(all, [field('j', Oid.jsonb, { format: 1 })]);
    const bad = Buffer.concat([Buffer.of(2), Buffer.from('{}')]);
    expect(rowFields(p.maskDataRow(dataRow([bad])))).toEqual([null]);
  });

  it('masks JSON stored in a text column as JSON', () => {
    const p = plan(all, [field('t', Oid.text)]);
    const out = rowTexts(p.maskDataRow(dataRow(['{"n": 4111111111111111, "e": "a\\u0040b.io"}'])))[0] as string;
    expect(JSON.parse(out)).toEqual({ n: markerFor('credit-card'), e: EMAIL });
  });

  it('masks text and json arrays element by element', () => {
    const p = plan(all, [field('a', Oid.textArray), field('j', Oid.jsonbArray)]);
    const out = rowTexts(p.maskDataRow(dataRow(['{bob@example.com,"two words",NULL,"NULL"}', '{"{\\"e\\": \\"bob@example.com\\"}"}'])));
    expect(out[0]).toBe(`{"${EMAIL}","two words",NULL,"NULL"}`);
    expect(out[1]).toBe(`{"{\\"e\\": \\"${EMAIL}\\"}"}`);
  });

  it('masks binary arrays and keeps their header', () => {
    const p = plan(all, [field('a', Oid.textArray, { format: 1 })]);
    const arr = binaryArray(Oid.text, [Buffer.from('bob@example.com'), null, Buffer.from('plain')]);
    const out = readBinaryArray(rowFields(p.maskDataRow(dataRow([arr])))[0] as Buffer);
    expect(out).toEqual({ hasNull: 1, items: [EMAIL, null, 'plain'] });
  });

  it("reads a record field that is bytea's hex output as bytes: NULL when they hold a hit", () => {
    const p = plan(all, [field('t', Oid.record)]);
    // As record_out writes it: quoted, its backslash doubled.
    const hex = (s: string): string => `\\\\x${Buffer.from(s).toString('hex')}`;
    const secret = hex('mail bob@example.com now');
    expect(rowTexts(p.maskDataRow(dataRow([`(1,"${secret}")`])))).toEqual(['(1,)']);
    expect(rowTexts(p.maskDataRow(dataRow([`("${secret}",x)`])))).toEqual(['(,x)']);
    // Inside an array in the record, and in a nested record: each level doubles the backslash.
    const inArray = `(1,"{""${hex('bob@example.com')}""}")`;
    expect(rowTexts(p.maskDataRow(dataRow([inArray])))).toEqual(['(1,)']);
    const nested = `(1,"(""${hex('bob@example.com').replaceAll('\\', '\\\\')}"")")`;
    expect(rowTexts(p.maskDataRow(dataRow([nested])))).toEqual(['(1,)']);
    // Hex that holds nothing, and text that only starts like it, are left as they are.
    const clean = `(1,"${hex('nothing to see')}","\\\\xzz")`;
    expect(rowTexts(p.maskDataRow(dataRow([clean])))).toEqual([clean]);
  });

  it('masks whole-row records in both formats', () => {
    const p = plan(all, [field('t', Oid.record)]);
    expect(rowTexts(p.maskDataRow(dataRow(['(t-1,bob@example.com,,"a ""quoted"" x@y.io")'])))).toEqual([
      `(t-1,"${EMAIL}",,"a ""quoted"" ${EMAIL}")`,
    ]);
    const pb = plan(all, [field('t', Oid.record, { format: 1 })]);
    const rec = binaryRecord([
      [Oid.int4, Buffer.from([0, 0, 0, 7])],
      [Oid.text, Buffer.from('bob@example.com')],
      [Oid.int8, int8(4111111111111111n)],
      [Oid.text, null],
    ]);
    const got = rowFields(pb.maskDataRow(dataRow([rec])))[0] as Buffer;
    expect(got.readInt32BE(0)).toBe(4);
    expect(got.readInt32BE(8)).toBe(4);
    expect(got.toString('utf8', 24, 24 + got.readInt32BE(20))).toBe(EMAIL);
    const third = 24 + got.readInt32BE(20);
    expect(got.readUInt32BE(third)).toBe(Oid.int8);
    expect(got.readInt32BE(third + 4)).toBe(-1);
  });

  it('NULLs numbers that are card numbers, in both formats', () => {
    const p = plan(all, [field('a', Oid.int8), field('b', Oid.numeric), field('c', Oid.int8)]);
    expect(rowTexts(p.maskDataRow(dataRow(['4111111111111111', '4111111111111111.00', '12345'])))).toEqual([null, null, '12345']);
    const pb = plan(all, [field('a', Oid.int8, { format: 1 }), field('b', Oid.numeric, { format: 1 }), field('c', Oid.numeric, { format: 1 })]);
    const row = dataRow([int8(4111111111111111n), numeric([4111, 1111, 1111, 1111], 3), numeric([12, 5000], 0, 2)]);
    expect(rowFields(pb.maskDataRow(row)).map((f) => f === null)).toEqual([true, true, false]);
  });

  it('NULLs addresses when IP detectors are on', () => {
    const inet4 = Buffer.from([2, 32, 0, 4, 10, 0, 0, 1]);
    const inet6 = Buffer.concat([Buffer.from([3, 128, 0, 16]), Buffer.alloc(16, 1)]);
    const p = plan(all, [field('a', Oid.inet), field('b', Oid.inet, { format: 1 }), field('c', Oid.cidr, { format: 1 })]);
    expect(rowFields(p.maskDataRow(dataRow(['10.0.0.1/32', inet4, inet6])))).toEqual([null, null, null]);
    const only4 = createMasker({ detectors: ['ipv4'] });
    expect(rowFields(plan(only4, [field('b', Oid.inet, { format: 1 })]).maskDataRow(dataRow([inet6])))[0]).toEqual(inet6);
    expect(createMasker({ detectors: ['email'] }).planResult([field('a', Oid.inet)], noCatalog, { exempt: false })).toBeNull();
  });

  it('NULLs bytea holding a secret', () => {
    const pem = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----';
    const p = plan(all, [field('a', Oid.bytea), field('b', Oid.bytea, { format: 1 }), field('c', Oid.bytea)]);
    const row = dataRow(['\\x' + Buffer.from(pem).toString('hex'), Buffer.from(pem), '\\x00ff']);
    expect(rowTexts(p.maskDataRow(row))).toEqual([null, null, '\\x00ff']);
  });

  it('treats unknown types as text in text format and NULLs them on a hit in binary', () => {
    const p = plan(all, [field('e', 16500), field('h', 16501, { format: 1 })]);
    expect(rowTexts(p.maskDataRow(dataRow(['"email"=>"bob@example.com"', Buffer.from('\x00\x00\x00\x01bob@example.com')])))).toEqual([
      `"email"=>"${EMAIL}"`,
      null,
    ]);
  });

  it('refuses a DataRow that does not match its RowDescription or lies about lengths', () => {
    const p = plan(all, [field('t', Oid.text)]);
    expect(() => p.maskDataRow(dataRow(['a', 'b']))).toThrow(ProtocolError);
    const row = dataRow(['abc']);
    row.writeInt32BE(10, 7);
    expect(() => p.maskDataRow(row)).toThrow(ProtocolError);
    const short = dataRow(['abc']);
    short.writeInt32BE(100, 1);
    expect(() => p.maskDataRow(short)).toThrow(ProtocolError);
    expect(() => p.maskDataRow(Buffer.from('T\x00\x00\x00\x06\x00\x00'))).toThrow(ProtocolError);
  });

  it('NULLs a malformed binary array instead of relaying it', () => {
    const p = plan(all, [field('a', Oid.textArray, { format: 1 })]);
    const arr = binaryArray(Oid.text, [Buffer.from('x')]);
    arr.writeInt32BE(1000, 12);
    expect(rowFields(p.maskDataRow(dataRow([arr])))).toEqual([null]);
  });
});

describe('column rules', () => {
  const TRACES = 16384;
  const columns = ['trace_id', 'agent_id', 'user_email', 'risk', 'created_at', 'summary', 'body'];
  const columnOf: ColumnResolver = (oid, n) => (oid === TRACES ? { table: 'public.traces', column: columns[n - 1] ?? '?' } : undefined);
  const col = (name: string, typeOid: number, n: number, format: 0 | 1 = 0) => field(name, typeOid, { tableOid: TRACES, columnNumber: n, format });

  const masker = createMasker({
    hashKey: HASH_KEY,
    detectors: 'all',
    columns: [
      { column: 'public.traces.user_email', strategy: 'partial', keep: 4 },
      { column: 'traces.summary', strategy: 'hash' },
      { column: 'public.traces.risk', strategy: 'null' },
      { column: 'public.traces.created_at', strategy: 'redact' },
      { column: 'public.traces.body', strategy: 'redact', jsonPaths: ['$.user.email', '$.credentials', '$.messages[*].content'] },
    ],
  });

  it('follow the column through an alias', () => {
    const p = plan(masker, [col('e', Oid.text, 3)], columnOf);
    expect(rowTexts(p.maskDataRow(dataRow(['alice@example.com'])))).toEqual(['****.com']);
  });

  it('apply each strategy', () => {
    const p = plan(masker, [col('summary', Oid.text, 6), col('risk', Oid.text, 4), col('created_at', 1184, 5)], columnOf);
    const [summary, risk, created] = rowTexts(p.maskDataRow(dataRow(['a summary', 'high', '2024-05-01 12:00:00+00'])));
    expect(summary).toMatch(/^[0-9a-f]{64}$/);
    expect(risk).toBeNull();
    // A strategy's text would not parse as a timestamptz: other types become NULL.
    expect(created).toBeNull();
  });

  it('hash equally in text and binary format, so joins still work', () => {
    const t = rowTexts(plan(masker, [col('s', Oid.text, 6)], columnOf).maskDataRow(dataRow(['same'])))[0];
    const b = rowTexts(plan(masker, [col('s', Oid.text, 6, 1)], columnOf).maskDataRow(dataRow(['same'])))[0];
    expect(t).toBe(b);
  });

  it('mask JSON paths in jsonb, text and binary, and detectors elsewhere', () => {
    const doc = JSON.stringify({ user: { email: 'alice@example.com', id: 7 }, credentials: { k: 'v' }, messages: [{ content: 'hi' }], note: 'bob@example.com' });
    const want = { user: { email: '[redacted]', id: 7 }, credentials: '[redacted]', messages: [{ content: '[redacted]' }], note: EMAIL };
    const t = rowTexts(plan(masker, [col('body', Oid.jsonb, 7)], columnOf).maskDataRow(dataRow([doc])))[0] as string;
    expect(JSON.parse(t)).toEqual(want);
    const b = rowFields(plan(masker, [col('body', Oid.jsonb, 7, 1)], columnOf).maskDataRow(dataRow([jsonb(doc)])))[0] as Buffer;
    expect(b[0]).toBe(1);
    expect(JSON.parse(b.toString('utf8', 1))).toEqual(want);
  });

  it('keep a whole-value strategy on a JSON column valid JSON', () => {
    const m = createMasker({ hashKey: HASH_KEY, columns: [{ column: 'public.traces.body', strategy: 'hash' }] });
    const out = rowTexts(plan(m, [col('body', Oid.jsonb, 7)], columnOf).maskDataRow(dataRow(['{"a": 1}'])))[0] as string;
    expect(JSON.parse(out)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('NULL a column whose origin cannot be resolved (fail closed)', () => {
    const p = plan(masker, [field('x', Oid.text, { tableOid: 99999, columnNumber: 1 }), field('y', Oid.text)], columnOf);
    expect(rowTexts(p.maskDataRow(dataRow(['plain', 'plain'])))).toEqual([null, 'plain']);
  });

  // A subquery's row (SELECT x FROM (SELECT t FROM traces t) x) arrives as an anonymous
  // record: its fields have no origin, and record text no column names to rule by.
  it('NULL anonymous records and arrays of them, in both formats (fail closed)', () => {
    const p = plan(masker, [field('x', Oid.record), field('y', Oid.record, { format: 1 }), field('z', Oid.recordArray)], columnOf);
    expect(rowFields(p.maskDataRow(dataRow(['(t-1,agent-a)', Buffer.from([0, 0, 0, 0]), '{"(t-1,agent-a)"}'])))).toEqual([null, null, null]);
  });

  it('NULL array columns under a rule', () => {
    const m = createMasker({ columns: [{ column: 'public.traces.trace_id', strategy: 'redact' }] });
    expect(rowFields(plan(m, [col('ids', Oid.textArray, 1)], columnOf).maskDataRow(dataRow(['{a,b}'])))).toEqual([null]);
  });

  it('use the catalog column name as hint', () => {
    const m = createMasker({ columns: [{ column: 'public.other.x', strategy: 'redact' }] });
    const cols: ColumnResolver = () => ({ table: 'public.creds', column: 'authorization' });
    const p = plan(m, [field('a', Oid.text, { tableOid: 1, columnNumber: 1 })], cols);
    expect(rowTexts(p.maskDataRow(dataRow(['opaque-credential'])))).toEqual([markerFor('bearer-token')]);
  });
});

describe('error and notice fields', () => {
  it('masks message, detail, hint, where and the rest, but not codes', () => {
    const fields = {
      severity: 'ERROR',
      code: '22P02',
      message: 'invalid input syntax for type integer: "alice@example.com"',
      detail: 'Key (email)=(bob@example.com) already exists.',
      hint: 'card 4111111111111111',
      where: 'SQL function "f" statement 1: x@y.io',
      internalQuery: 'select 1 where email = \'c@d.io\'',
      position: '42',
      file: 'numutils.c',
    };
    const out = all.maskErrorFields(fields);
    expect(out).toEqual({
      ...fields,
      message: `invalid input syntax for type integer: "${EMAIL}"`,
      detail: `Key (email)=(${EMAIL}) already exists.`,
      hint: `card ${markerFor('credit-card')}`,
      where: `SQL function "f" statement 1: ${EMAIL}`,
      internalQuery: `select 1 where email = '${EMAIL}'`,
    });
    expect(fields.message).toContain('alice@example.com');
  });

  it('withholds a time zone or unit name: Postgres lower-cases it, out of the detectors\' reach', () => {
    const withheld = (fields: { severity: string; code: string; message: string; routine?: string; detail?: string }): void => {
      const out = all.maskErrorFields(fields);
      expect(out.message).toMatch(/^the value could not be read as a date, time, time zone or unit/);
      for (const v of ['de89370400440532013000', 'akiaj7q3zdemo2xy4zqw', 'aizasydemo']) expect(JSON.stringify(out)).not.toContain(v);
    };
    for (const value of ['de89370400440532013000', 'akiaj7q3zdemo2xy4zqw', 'aizasydemo-1a2b3c4d5e6f7g8h9i0j1k2l3m4n5o', 'a "b"\nc']) {
      withheld({ severity: 'ERROR', code: '22023', message: `time zone "${value}" not recognized` });
      withheld({ severity: 'ERROR', code: '22023', message: `unit "${value}" not recognized for type timestamp with time zone` });
    }
    // By the routine too: a server whose messages are in another language.
    withheld({ severity: 'FEHLER', code: '22023', message: 'Zeitzone »de89370400440532013000« nicht erkannt', routine: 'DecodeTimeOnly' });
    withheld({ severity: 'FEHLER', code: '22023', message: 'Zeitzone »akiaj7q3zdemo2xy4zqw« nicht erkannt', routine: 'DecodeDateTime', detail: 'akiaj7q3zdemo2xy4zqw' });
    withheld({ severity: 'ERROR', code: '22023', message: 'Einheit »aizasydemo« nicht erkannt', routine: 'timestamptz_part_common' });
    withheld({ severity: 'ERROR', code: '22023', message: 'Zeitzone »akiaj7q3zdemo2xy4zqw« nicht erkannt', routine: 'DateTimeParseError' });
    const other = { severity: 'ERROR', code: '22P02', message: 'invalid input syntax for type integer: "x"', routine: 'pg_strtoint32_safe' };
    expect(all.maskErrorFields(other)).toBe(other);
  });

  it('returns the same object when nothing changed', () => {
    const fields = { severity: 'ERROR', code: '42P01', message: 'relation "x" does not exist' };
    expect(all.maskErrorFields(fields)).toBe(fields);
  });
});

describe('maskText', () => {
  it('masks prose and JSON text', () => {
    expect(all.maskText('from 10.0.0.1')).toBe(`from ${markerFor('ipv4')}`);
    expect(JSON.parse(all.maskText('{"e": "x@y.io"}'))).toEqual({ e: EMAIL });
  });
});

describe('configuration', () => {
  it.each<[string, MaskingConfig, RegExp]>([
    ['an unknown detector', { detectors: ['email', 'ssn' as 'email'] }, /unknown masking detector/],
    ['a bad column name', { columns: [{ column: 'email', strategy: 'redact' }] }, /schema.table.column/],
    ['a duplicate rule', { columns: [{ column: 'traces.a', strategy: 'redact' }, { column: 'public.traces.a', strategy: 'null' }] }, /more than one rule/],
    ['a hash rule without key', { columns: [{ column: 'traces.a', strategy: 'hash' }] }, /hashKey/],
    ['a bad JSON path', { columns: [{ column: 'traces.a', strategy: 'redact', jsonPaths: ['user.email'] }] }, /JSON path/],
  ])('refuses %s', (_what, cfg, err) => {
    expect(() => createMasker(cfg)).toThrow(err);
  });

  it('runs only the chosen detectors', () => {
    const m = createMasker({ detectors: ['email'] });
    expect(m.maskText('bob@example.com 10.0.0.1')).toBe(`${EMAIL} 10.0.0.1`);
  });
});
