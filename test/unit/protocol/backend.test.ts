import { describe, expect, it } from 'vitest';
import {
  BackendReader,
  decodeBackend,
  encode,
  ProtocolError,
  readDataRowFields,
  type BackendFrame,
  type BackendMessage,
} from '../../../protocol/index.js';
import { chunkings, cstr, drain, int16, int32, pgParse, plain, typed } from './fixtures.js';

const newReader = (max = 1 << 20): BackendReader => new BackendReader({ maxMessageBytes: max });

const auth = (kind: number, ...rest: Buffer[]): Buffer => typed('R', int32(kind), ...rest);
const binaryValue = Buffer.from([0x00, 0x00, 0x00, 0x2a, 0xff, 0xfe, 0xc3]);

// What a Postgres server sends for a SCRAM login, an extended-protocol query and more.
const serverStream = Buffer.concat([
  auth(10, cstr('SCRAM-SHA-256-PLUS'), cstr('SCRAM-SHA-256'), Buffer.of(0)),
  auth(11, Buffer.from('r=abc,s=c2FsdA==,i=4096')),
  auth(12, Buffer.from('v=c2lnbmF0dXJl')),
  auth(0),
  auth(5, Buffer.from([1, 2, 3, 4])),
  auth(3),
  encode.parameterStatus('server_version', '16.2'),
  encode.backendKeyData(31337, -1091567890),
  encode.readyForQuery('I'),
  encode.parseComplete(),
  encode.parameterDescription([25]),
  encode.rowDescription([
    { name: 'trace_id', tableOid: 16384, columnNumber: 1, typeOid: 25, typeSize: -1, typeModifier: -1, format: 0 },
    { name: 'n', tableOid: 0, columnNumber: 0, typeOid: 17, typeSize: -1, typeModifier: -1, format: 1 },
  ]),
  encode.bindComplete(),
  encode.dataRow([Buffer.from('t-1'), binaryValue]),
  encode.dataRow([null, Buffer.alloc(0)]),
  encode.portalSuspended(),
  encode.commandComplete('SELECT 2'),
  encode.noticeResponse({ severity: 'WARNING', code: '01000', message: 'careful', where: 'here' }),
  typed('E', Buffer.from('SERROR\0VERROR\0C42P01\0Mrelation "x" does not exist\0P15\0Fparse_relation.c\0L1392\0RparserOpenTable\0'), Buffer.of(0)),
  encode.closeComplete(),
  encode.noData(),
  encode.emptyQueryResponse(),
  typed('G', Buffer.of(1), int16(2), int16(1), int16(1)),
  typed('H', Buffer.of(0), int16(1), int16(0)),
  typed('W', Buffer.of(0), int16(0)),
  typed('d', Buffer.from([0, 1, 2])),
  typed('c'),
  typed('A', int32(77), cstr('revocations'), cstr('{"session":"s-1"}')),
  typed('v', int32(0), int32(1), cstr('_pq_.unknown')),
  encode.readyForQuery('T'),
  encode.readyForQuery('E'),
]);

const expected: BackendMessage[] = [
  { type: 'AuthenticationSASL', mechanisms: ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'] },
  { type: 'AuthenticationSASLContinue', data: 'r=abc,s=c2FsdA==,i=4096' },
  { type: 'AuthenticationSASLFinal', data: 'v=c2lnbmF0dXJl' },
  { type: 'AuthenticationOk' },
  { type: 'AuthenticationMD5Password', salt: Buffer.from([1, 2, 3, 4]) },
  { type: 'AuthenticationCleartextPassword' },
  { type: 'ParameterStatus', name: 'server_version', value: '16.2' },
  { type: 'BackendKeyData', processId: 31337, secretKey: -1091567890 },
  { type: 'ReadyForQuery', status: 'I' },
  { type: 'ParseComplete' },
  { type: 'ParameterDescription', typeOids: [25] },
  {
    type: 'RowDescription',
    fields: [
      { name: 'trace_id', tableOid: 16384, columnNumber: 1, typeOid: 25, typeSize: -1, typeModifier: -1, format: 0 },
      { name: 'n', tableOid: 0, columnNumber: 0, typeOid: 17, typeSize: -1, typeModifier: -1, format: 1 },
    ],
  },
  { type: 'BindComplete' },
  { type: 'DataRow', fields: [Buffer.from('t-1'), binaryValue] },
  { type: 'DataRow', fields: [null, Buffer.alloc(0)] },
  { type: 'PortalSuspended' },
  { type: 'CommandComplete', tag: 'SELECT 2' },
  { type: 'NoticeResponse', fields: { severity: 'WARNING', code: '01000', message: 'careful', where: 'here' } },
  {
    type: 'ErrorResponse',
    fields: {
      severity: 'ERROR',
      severityNonLocalized: 'ERROR',
      code: '42P01',
      message: 'relation "x" does not exist',
      position: '15',
      file: 'parse_relation.c',
      line: '1392',
      routine: 'parserOpenTable',
    },
  },
  { type: 'CloseComplete' },
  { type: 'NoData' },
  { type: 'EmptyQueryResponse' },
  { type: 'CopyInResponse', format: 1, columnFormats: [1, 1] },
  { type: 'CopyOutResponse', format: 0, columnFormats: [0] },
  { type: 'CopyBothResponse', format: 0, columnFormats: [] },
  { type: 'Other', code: 0x64 },
  { type: 'Other', code: 0x63 },
  { type: 'NotificationResponse', processId: 77, channel: 'revocations', payload: '{"session":"s-1"}' },
  { type: 'Other', code: 0x76 },
  { type: 'ReadyForQuery', status: 'T' },
  { type: 'ReadyForQuery', status: 'E' },
];

describe('BackendReader and decodeBackend on server bytes', () => {
  const frames = drain(newReader(), [serverStream]);

  it('frames and decodes every message', () => {
    expect(plain(frames.map(decodeBackend))).toEqual(plain(expected));
    expect(frames.map((f) => f.code)).toEqual(frames.map((f) => f.raw[0]));
  });

  it('returns raw frames that concatenate back to the input exactly', () => {
    expect(Buffer.concat(frames.map((f) => f.raw)).equals(serverStream)).toBe(true);
  });

  it('agrees with pg-protocol Parser on the fields both decode', () => {
    const reference = pgParse(serverStream);
    expect(reference).toHaveLength(frames.length);
    const ours = frames.map(decodeBackend);
    const pick = (i: number): [BackendMessage, Record<string, unknown>] => [ours[i]!, reference[i]!];
    expect(pick(0)[1]).toMatchObject({ name: 'authenticationSASL', mechanisms: ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'] });
    expect(pick(1)[1]).toMatchObject({ name: 'authenticationSASLContinue', data: 'r=abc,s=c2FsdA==,i=4096' });
    expect(pick(4)[1]).toMatchObject({ name: 'authenticationMD5Password', salt: Buffer.from([1, 2, 3, 4]) });
    expect(pick(7)[1]).toMatchObject({ name: 'backendKeyData', processID: 31337, secretKey: -1091567890 });
    expect(pick(18)[1]).toMatchObject({ name: 'error', code: '42P01', message: 'relation "x" does not exist', line: '1392' });
    expect(pick(22)[1]).toMatchObject({ name: 'copyInResponse', binary: true, columnTypes: [1, 1] });
    expect(pick(27)[1]).toMatchObject({ name: 'notification', processId: 77, channel: 'revocations' });
    // Where pg-protocol decodes a DataRow as text, the binary value is mangled; ours is not.
    const pgRow = reference[13] as { fields: string[] };
    expect(Buffer.from(pgRow.fields[1] ?? '', 'utf8').equals(binaryValue)).toBe(false);
    const row = ours[13];
    expect(row?.type === 'DataRow' && row.fields[1]?.equals(binaryValue)).toBe(true);
  });

  it('gives identical frames split at every byte offset and in 1-byte chunks', () => {
    const want = plain(frames);
    for (const chunks of chunkings(serverStream)) expect(plain(drain(newReader(), chunks))).toEqual(want);
  });

  it('reports partially received frames in buffered', () => {
    const reader = newReader();
    reader.push(serverStream.subarray(0, 3));
    expect(reader.read()).toBeNull();
    expect(reader.buffered).toBe(3);
  });
});

describe('BackendReader framing errors', () => {
  const fail = (reader: BackendReader, bytes: Buffer): ProtocolError => {
    reader.push(bytes);
    try {
      while (reader.read() !== null);
    } catch (err) {
      if (err instanceof ProtocolError) return err;
      throw err;
    }
    throw new Error('expected ProtocolError');
  };

  it.each([-1, 0, 3])('rejects length %i', (len) => {
    expect(fail(newReader(), Buffer.concat([Buffer.from('D'), int32(len)])).code).toBe('08P01');
  });

  it('rejects a length over maxMessageBytes from the header alone, and stays failed', () => {
    const reader = newReader(1000);
    const err = fail(reader, Buffer.concat([Buffer.from('D'), int32(1001)]));
    expect(err.code).toBe('08P01');
    expect(() => reader.read()).toThrow(err);
    expect(() => reader.push(Buffer.of(0))).toThrow(err);
  });

  it('accepts a message of exactly maxMessageBytes', () => {
    const reader = newReader(1000);
    reader.push(typed('d', Buffer.alloc(996)));
    expect(reader.read()?.raw.length).toBe(1001);
  });
});

describe('readDataRowFields', () => {
  it('returns views into the frame, no copies', () => {
    const raw = encode.dataRow([Buffer.from('abc'), null]);
    const fields = readDataRowFields(raw);
    expect(fields[0]?.buffer).toBe(raw.buffer);
    expect(fields[1]).toBeNull();
  });

  it('handles a row with no columns', () => {
    expect(readDataRowFields(encode.dataRow([]))).toEqual([]);
  });

  it.each([
    ['a missing field count', typed('D')],
    ['a field count beyond the body', typed('D', int16(3), int32(-1))],
    ['a negative length other than -1', typed('D', int16(1), int32(-2))],
    ['a field longer than the body', typed('D', int16(1), int32(10), Buffer.from('abc'))],
    ['trailing bytes', typed('D', int16(1), int32(1), Buffer.from('ab'))],
    ['a truncated length', typed('D', int16(1), Buffer.of(0, 0))],
    ['a frame of another type', typed('T', int16(0))],
    ['a frame whose length word disagrees with its size', Buffer.concat([typed('D', int16(0)), Buffer.of(0)])],
  ])('rejects %s with 08P01', (_name, raw) => {
    expect(() => readDataRowFields(raw)).toThrow(expect.objectContaining({ name: 'ProtocolError', code: '08P01' }));
  });
});

describe('decodeBackend on malformed server messages', () => {
  const frame = (bytes: Buffer): BackendFrame => ({ code: bytes[0]!, raw: bytes });
  const rejects = (code: string, bytes: Buffer): void => {
    expect(() => decodeBackend(frame(bytes))).toThrow(expect.objectContaining({ name: 'ProtocolError', code }));
  };

  it.each([
    ['ReadyForQuery with status X', typed('Z', Buffer.from('X'))],
    ['ReadyForQuery with two status bytes', typed('Z', Buffer.from('II'))],
    ['ReadyForQuery with no status', typed('Z')],
    ['BackendKeyData cut short', typed('K', int32(1))],
    ['BackendKeyData with a long key (protocol 3.2)', typed('K', int32(1), Buffer.alloc(32))],
    ['RowDescription with format 2', typed('T', int16(1), cstr('a'), int32(0), int16(0), int32(25), int16(-1), int32(-1), int16(2))],
    ['RowDescription with more fields than bytes', typed('T', int16(1000), cstr('a'))],
    ['ParameterDescription with more OIDs than bytes', typed('t', int16(3), int32(25))],
    ['ParameterStatus without a value', typed('S', cstr('a'))],
    ['CommandComplete without a terminator', typed('C', Buffer.from('SELECT 1'))],
    ['CommandComplete with trailing bytes', typed('C', cstr('SELECT 1'), Buffer.of(1))],
    ['ErrorResponse without a message', typed('E', Buffer.from('SERROR\0C42000\0'), Buffer.of(0))],
    ['ErrorResponse without a terminator', typed('E', Buffer.from('SERROR\0C42000\0Mx\0'))],
    ['ErrorResponse with bytes after the terminator', typed('E', Buffer.from('SERROR\0C42000\0Mx\0\0\0'))],
    ['Authentication with an unknown request', auth(99)],
    ['AuthenticationOk with trailing bytes', auth(0, int32(0))],
    ['AuthenticationMD5Password with a short salt', auth(5, Buffer.of(1, 2))],
    ['AuthenticationSASL without the list terminator', auth(10, cstr('SCRAM-SHA-256'))],
    ['CopyInResponse with overall format 2', typed('G', Buffer.of(2), int16(0))],
    ['a frame whose length word disagrees with its size', Buffer.concat([encode.noData(), Buffer.of(0)])],
  ])('rejects %s with 08P01', (_name, bytes) => rejects('08P01', bytes));

  it.each([2, 6, 7, 8, 9])('rejects authentication method %i the proxy does not speak with 0A000', (kind) => {
    rejects('0A000', auth(kind));
  });

  it('rejects invalid UTF-8 from the server with 22021', () => {
    rejects('22021', typed('C', Buffer.from([0x53, 0xff, 0])));
    rejects('22021', auth(11, Buffer.from([0xc0, 0x80])));
  });

  it('ignores unknown error field types, as the docs ask', () => {
    const bytes = typed('E', Buffer.from('SERROR\0C42000\0Mx\0Zfuture field\0'), Buffer.of(0));
    expect(decodeBackend(frame(bytes))).toEqual({ type: 'ErrorResponse', fields: { severity: 'ERROR', code: '42000', message: 'x' } });
  });
});
