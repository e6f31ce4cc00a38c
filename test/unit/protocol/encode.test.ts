import { describe, expect, it } from 'vitest';
import {
  BackendReader,
  decodeBackend,
  encode,
  ProtocolError,
  sslResponse,
  type BackendMessage,
  type ErrorFields,
  type FieldDescription,
} from '../../../protocol/index.js';
import { pgParse, plain } from './fixtures.js';

function decodeOne(bytes: Buffer): BackendMessage {
  const reader = new BackendReader({ maxMessageBytes: 1 << 20 });
  reader.push(bytes);
  const frame = reader.read();
  if (frame === null) throw new Error('incomplete frame');
  expect(frame.raw.length).toBe(bytes.length);
  expect(reader.read()).toBeNull();
  return decodeBackend(frame);
}

function pgOne(bytes: Buffer): Record<string, unknown> {
  const messages = pgParse(bytes);
  expect(messages).toHaveLength(1);
  return messages[0] as Record<string, unknown>;
}

const fields: FieldDescription[] = [
  { name: 'trace_id', tableOid: 16384, columnNumber: 1, typeOid: 25, typeSize: -1, typeModifier: -1, format: 0 },
  { name: 'körper', tableOid: 4294967295, columnNumber: -7, typeOid: 3802, typeSize: -1, typeModifier: 65540, format: 1 },
  { name: '?column?', tableOid: 0, columnNumber: 0, typeOid: 23, typeSize: 4, typeModifier: -1, format: 0 },
];

const fullError: ErrorFields = {
  severity: 'ERROR',
  severityNonLocalized: 'ERROR',
  code: '42501',
  message: 'statement denied by policy (decision d-1)',
  detail: 'customers is not a trace table',
  hint: 'read only traces and trace_steps',
  position: '15',
  internalPosition: '3',
  internalQuery: 'select 1',
  where: 'PL/pgSQL function f()',
  schema: 'public',
  table: 'customers',
  column: 'email',
  dataType: 'text',
  constraint: 'customers_pkey',
  file: 'policy.ts',
  line: '42',
  routine: 'decide',
};

describe('encode, cross-checked with pg-protocol Parser and decodeBackend', () => {
  it('authenticationOk', () => {
    const bytes = encode.authenticationOk();
    expect([...bytes]).toEqual([0x52, 0, 0, 0, 8, 0, 0, 0, 0]);
    expect(pgOne(bytes).name).toBe('authenticationOk');
    expect(decodeOne(bytes)).toEqual({ type: 'AuthenticationOk' });
  });

  it('authenticationCleartextPassword', () => {
    const bytes = encode.authenticationCleartextPassword();
    expect(pgOne(bytes).name).toBe('authenticationCleartextPassword');
    expect(decodeOne(bytes)).toEqual({ type: 'AuthenticationCleartextPassword' });
  });

  it('parameterStatus', () => {
    const bytes = encode.parameterStatus('application_name', 'psql – ünï');
    expect(pgOne(bytes)).toMatchObject({ name: 'parameterStatus', parameterName: 'application_name', parameterValue: 'psql – ünï' });
    expect(decodeOne(bytes)).toEqual({ type: 'ParameterStatus', name: 'application_name', value: 'psql – ünï' });
  });

  it('backendKeyData, including keys that only fit as unsigned or negative int32', () => {
    for (const [pid, key] of [
      [1234, 5678],
      [0x7fffffff, -1],
      [1, 0xdeadbeef],
    ] as const) {
      const bytes = encode.backendKeyData(pid, key);
      expect(pgOne(bytes)).toMatchObject({ name: 'backendKeyData', processID: pid | 0, secretKey: key | 0 });
      expect(decodeOne(bytes)).toEqual({ type: 'BackendKeyData', processId: pid | 0, secretKey: key | 0 });
    }
  });

  it.each(['I', 'T', 'E'] as const)('readyForQuery %s', (status) => {
    const bytes = encode.readyForQuery(status);
    expect(pgOne(bytes)).toMatchObject({ name: 'readyForQuery', status });
    expect(decodeOne(bytes)).toEqual({ type: 'ReadyForQuery', status });
  });

  it('errorResponse with every field', () => {
    const bytes = encode.errorResponse(fullError);
    expect(pgOne(bytes)).toMatchObject({
      name: 'error',
      message: fullError.message,
      severity: 'ERROR',
      code: '42501',
      detail: fullError.detail,
      hint: fullError.hint,
      position: '15',
      internalPosition: '3',
      internalQuery: 'select 1',
      where: fullError.where,
      schema: 'public',
      table: 'customers',
      column: 'email',
      dataType: 'text',
      constraint: 'customers_pkey',
      file: 'policy.ts',
      line: '42',
      routine: 'decide',
    });
    expect(decodeOne(bytes)).toEqual({ type: 'ErrorResponse', fields: fullError });
  });

  it('errorResponse writes fields in the order Postgres does (S, V, C, M, ...)', () => {
    const bytes = encode.errorResponse({ message: 'm', code: '28000', severity: 'FATAL' });
    expect(bytes.subarray(5).toString('latin1')).toBe('SFATAL\0C28000\0Mm\0\0');
  });

  it('noticeResponse', () => {
    const bytes = encode.noticeResponse({ severity: 'NOTICE', code: '00000', message: 'grant g-1 revoked' });
    expect(pgOne(bytes)).toMatchObject({ name: 'notice', message: 'grant g-1 revoked', severity: 'NOTICE' });
    expect(decodeOne(bytes)).toEqual({
      type: 'NoticeResponse',
      fields: { severity: 'NOTICE', code: '00000', message: 'grant g-1 revoked' },
    });
  });

  it('errorResponse neutralises a NUL in caller-controlled text instead of letting it forge fields', () => {
    const bytes = encode.errorResponse({
      severity: 'FATAL',
      code: '28000',
      message: 'no rule for subject evil\0C00000\0Mwelcome',
    });
    const decoded = decodeOne(bytes);
    expect(decoded).toEqual({
      type: 'ErrorResponse',
      fields: { severity: 'FATAL', code: '28000', message: 'no rule for subject evil\uFFFDC00000\uFFFDMwelcome' },
    });
  });

  it('rowDescription', () => {
    const bytes = encode.rowDescription(fields);
    const parsed = pgOne(bytes) as { name: string; fields: Record<string, unknown>[] };
    expect(parsed.name).toBe('rowDescription');
    expect(parsed.fields).toMatchObject(
      fields.map((f) => ({
        name: f.name,
        tableID: f.tableOid,
        columnID: f.columnNumber,
        dataTypeID: f.typeOid,
        dataTypeSize: f.typeSize,
        dataTypeModifier: f.typeModifier,
        format: f.format === 1 ? 'binary' : 'text',
      })),
    );
    expect(decodeOne(bytes)).toEqual({ type: 'RowDescription', fields });
  });

  it('rowDescription with no columns', () => {
    expect(decodeOne(encode.rowDescription([]))).toEqual({ type: 'RowDescription', fields: [] });
  });

  it('dataRow keeps binary values byte for byte and NULL distinct from empty', () => {
    const values = [Buffer.from('t-1'), null, Buffer.alloc(0), Buffer.from([0, 0xff, 0xfe, 0x80, 0])];
    const bytes = encode.dataRow(values);
    expect(pgOne(bytes)).toMatchObject({ name: 'dataRow', fields: ['t-1', null, '', values[3]?.toString('utf8')] });
    expect(plain(decodeOne(bytes))).toEqual(plain({ type: 'DataRow', fields: values }));
  });

  it('commandComplete', () => {
    const bytes = encode.commandComplete('SELECT 3');
    expect(pgOne(bytes)).toMatchObject({ name: 'commandComplete', text: 'SELECT 3' });
    expect(decodeOne(bytes)).toEqual({ type: 'CommandComplete', tag: 'SELECT 3' });
  });

  it.each([
    ['emptyQueryResponse', 'emptyQuery', 'EmptyQueryResponse'],
    ['parseComplete', 'parseComplete', 'ParseComplete'],
    ['bindComplete', 'bindComplete', 'BindComplete'],
    ['closeComplete', 'closeComplete', 'CloseComplete'],
    ['noData', 'noData', 'NoData'],
    ['portalSuspended', 'portalSuspended', 'PortalSuspended'],
  ] as const)('%s', (fn, pgName, type) => {
    const bytes = encode[fn]();
    expect(bytes.length).toBe(5);
    expect(pgOne(bytes).name).toBe(pgName);
    expect(decodeOne(bytes)).toEqual({ type });
  });

  it('parameterDescription, including OIDs above 2^31', () => {
    const bytes = encode.parameterDescription([25, 17, 4294967295]);
    expect(pgOne(bytes)).toMatchObject({ name: 'parameterDescription', dataTypeIDs: [25, 17, 4294967295] });
    expect(decodeOne(bytes)).toEqual({ type: 'ParameterDescription', typeOids: [25, 17, 4294967295] });
  });

  it('sslResponse is the single byte S or N', () => {
    expect([...sslResponse(true)]).toEqual([0x53]);
    expect([...sslResponse(false)]).toEqual([0x4e]);
  });

  it('returns a fresh buffer per call, so a caller may mutate or retain it safely', () => {
    expect(encode.parseComplete()).not.toBe(encode.parseComplete());
  });

  describe('refuses input that would corrupt the frame (XX000, a bug on our side)', () => {
    const internal = expect.objectContaining({ name: 'ProtocolError', code: 'XX000' });
    it.each([
      ['a NUL in a parameter name', () => encode.parameterStatus('a\0b', 'v')],
      ['a NUL in a parameter value', () => encode.parameterStatus('a', 'v\0')],
      ['a NUL in a command tag', () => encode.commandComplete('SELECT\0 1')],
      ['a NUL in a column name', () => encode.rowDescription([{ ...fields[0]!, name: 'a\0' }])],
      ['a non-integer key', () => encode.backendKeyData(1.5, 2)],
      ['a key beyond 32 bits', () => encode.backendKeyData(1, 2 ** 32)],
      ['too many columns', () => encode.dataRow(new Array<null>(65536).fill(null))],
      ['too many parameter types', () => encode.parameterDescription(new Array<number>(65536).fill(25))],
      ['a bad transaction status', () => encode.readyForQuery('X' as 'I')],
    ])('%s', (_name, call) => {
      expect(call).toThrow(internal);
      expect(call).toThrow(ProtocolError);
    });
  });
});
