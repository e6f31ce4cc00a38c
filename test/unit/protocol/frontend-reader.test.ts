import { describe, expect, it } from 'vitest';
import { FrontendReader, readCleartextPassword, serialize, type FrontendFrame } from '../../../protocol/index.js';
import { chunkings, cstr, drain, frontendBytes, int32, plain, startupPacket, typed } from './fixtures.js';

const MiB = 1024 * 1024;
const newReader = (): FrontendReader => new FrontendReader({ maxMessageBytes: 64 * MiB });

function readAll(bytes: Buffer, chunks: Buffer[] = [bytes]): FrontendFrame[] {
  return drain(newReader(), chunks);
}

// A real session as node-postgres writes it: startup, password, simple and extended queries.
const session = Buffer.concat([
  serialize.startup({ user: 'agent', database: 'traces', application_name: 'tests ✓' }),
  serialize.password('eyJhbGciOiJSUzI1NiJ9.e30.sig'),
  serialize.query("select * from traces where trace_id = 't-1'; select 'ünïcødé'"),
  serialize.parse({ name: 's1', text: 'select $1::text, $2::bytea', types: [25, 17] }),
  serialize.bind({ portal: 'p1', statement: 's1', values: ['t-1', Buffer.from([0, 255, 0])], binary: true }),
  serialize.bind({ values: [null, 'x'] }),
  serialize.describe({ type: 'P', name: 'p1' }),
  serialize.describe({ type: 'S' }),
  serialize.execute({ portal: 'p1', rows: 100 }),
  serialize.execute(),
  serialize.close({ type: 'S', name: 's1' }),
  serialize.close({ type: 'P' }),
  serialize.flush(),
  serialize.sync(),
  serialize.copyData(Buffer.from([1, 2, 3, 0, 4])),
  serialize.copyDone(),
  serialize.copyFail('client gave up'),
  serialize.sendSASLInitialResponseMessage('SCRAM-SHA-256', 'n,,n=,r=abc'),
  serialize.sendSCRAMClientFinalMessage('c=biws,r=abc,p=xyz'),
  frontendBytes({ type: 'FunctionCall', functionOid: 1598, argFormats: [1], args: [Buffer.of(1), null], resultFormat: 1 }),
  serialize.end(),
]);

describe('FrontendReader on real client bytes', () => {
  const frames = readAll(session);

  it('decodes every message of a node-postgres session', () => {
    expect(frames.map((f) => f.message.type)).toEqual([
      'StartupMessage',
      'PasswordMessage',
      'Query',
      'Parse',
      'Bind',
      'Bind',
      'Describe',
      'Describe',
      'Execute',
      'Execute',
      'Close',
      'Close',
      'Flush',
      'Sync',
      'CopyData',
      'CopyDone',
      'CopyFail',
      'PasswordMessage',
      'PasswordMessage',
      'FunctionCall',
      'Terminate',
    ]);
    expect(plain(frames.map((f) => f.message))).toEqual(
      plain([
        {
          type: 'StartupMessage',
          protocolVersion: 196608,
          parameters: { user: 'agent', database: 'traces', application_name: 'tests ✓', client_encoding: 'UTF8' },
        },
        { type: 'PasswordMessage', data: cstr('eyJhbGciOiJSUzI1NiJ9.e30.sig') },
        { type: 'Query', sql: "select * from traces where trace_id = 't-1'; select 'ünïcødé'" },
        { type: 'Parse', name: 's1', sql: 'select $1::text, $2::bytea', paramTypes: [25, 17] },
        {
          type: 'Bind',
          portal: 'p1',
          statement: 's1',
          paramFormats: [0, 1],
          params: [Buffer.from('t-1'), Buffer.from([0, 255, 0])],
          resultFormats: [1],
        },
        { type: 'Bind', portal: '', statement: '', paramFormats: [0, 0], params: [null, Buffer.from('x')], resultFormats: [0] },
        { type: 'Describe', kind: 'P', name: 'p1' },
        { type: 'Describe', kind: 'S', name: '' },
        { type: 'Execute', portal: 'p1', maxRows: 100 },
        { type: 'Execute', portal: '', maxRows: 0 },
        { type: 'Close', kind: 'S', name: 's1' },
        { type: 'Close', kind: 'P', name: '' },
        { type: 'Flush' },
        { type: 'Sync' },
        { type: 'CopyData', data: Buffer.from([1, 2, 3, 0, 4]) },
        { type: 'CopyDone' },
        { type: 'CopyFail', message: 'client gave up' },
        { type: 'PasswordMessage', data: Buffer.concat([cstr('SCRAM-SHA-256'), int32(11), Buffer.from('n,,n=,r=abc')]) },
        { type: 'PasswordMessage', data: Buffer.from('c=biws,r=abc,p=xyz') },
        { type: 'FunctionCall', functionOid: 1598, argFormats: [1], args: [Buffer.of(1), null], resultFormat: 1 },
        { type: 'Terminate' },
      ]),
    );
  });

  it('returns raw frames that concatenate back to the input exactly', () => {
    expect(Buffer.concat(frames.map((f) => f.raw)).equals(session)).toBe(true);
  });

  it('re-encodes every decoded message to its raw bytes (the test encoder matches serialize)', () => {
    for (const f of frames) expect(frontendBytes(f.message).equals(f.raw)).toBe(true);
  });

  it('returns raw and Bind params as views into the pushed chunk, not copies', () => {
    const bind = frames.find((f) => f.message.type === 'Bind');
    expect(bind?.raw.buffer).toBe(session.buffer);
    if (bind?.message.type !== 'Bind') throw new Error('no Bind');
    expect(bind.message.params[0]?.buffer).toBe(session.buffer);
  });

  // Frames are compared only after the last push, so this also proves that views handed
  // out earlier survive the buffer being appended to and replaced.
  it('gives identical results split at every byte offset and in 1-byte chunks', () => {
    const expected = plain(frames);
    for (const chunks of chunkings(session)) expect(plain(readAll(session, chunks))).toEqual(expected);
  });

  it('stays in the startup phase until the StartupMessage, then switches to typed', () => {
    const reader = newReader();
    expect(reader.phase).toBe('startup');
    reader.push(serialize.requestSsl());
    expect(reader.read()?.message).toEqual({ type: 'SSLRequest' });
    expect(reader.phase).toBe('startup');
    reader.push(frontendBytes({ type: 'GSSENCRequest' }));
    expect(reader.read()?.message).toEqual({ type: 'GSSENCRequest' });
    expect(reader.phase).toBe('startup');
    reader.push(serialize.startup({ user: 'u' }));
    expect(reader.read()?.message.type).toBe('StartupMessage');
    expect(reader.phase).toBe('typed');
  });

  it('decodes CancelRequest, including keys with the top bit set', () => {
    const reader = newReader();
    reader.push(serialize.cancel(4242, -559038737));
    expect(reader.read()?.message).toEqual({ type: 'CancelRequest', processId: 4242, secretKey: -559038737 });
    expect(reader.phase).toBe('startup');
  });

  it('shows plaintext sent after SSLRequest in `buffered` before any read (CVE-2021-3935)', () => {
    const reader = newReader();
    const smuggled = serialize.query('select 1');
    reader.push(Buffer.concat([serialize.requestSsl(), smuggled]));
    expect(reader.buffered).toBe(8 + smuggled.length);
    expect(reader.read()?.message).toEqual({ type: 'SSLRequest' });
    expect(reader.buffered).toBe(smuggled.length);
  });

  it('counts partial frames in `buffered` and drops them once returned', () => {
    const reader = newReader();
    const q = serialize.query('select 1');
    reader.push(serialize.startup({ user: 'u' }));
    reader.read();
    reader.push(q.subarray(0, 3));
    expect(reader.read()).toBeNull();
    expect(reader.buffered).toBe(3);
    reader.push(q.subarray(3));
    expect(reader.buffered).toBe(q.length);
    expect(reader.read()?.message).toEqual({ type: 'Query', sql: 'select 1' });
    expect(reader.buffered).toBe(0);
    expect(reader.read()).toBeNull();
  });

  it('keeps a startup parameter named __proto__ as data, not as a prototype', () => {
    const reader = newReader();
    reader.push(startupPacket(196608, cstr('__proto__'), cstr('x'), cstr('user'), cstr('u'), Buffer.of(0)));
    const message = reader.read()?.message;
    if (message?.type !== 'StartupMessage') throw new Error('expected StartupMessage');
    expect(Object.getPrototypeOf(message.parameters)).toBeNull();
    expect(message.parameters['__proto__']).toBe('x');
    expect(Object.keys(message.parameters)).toEqual(['__proto__', 'user']);
  });

  it('accepts a StartupMessage with no parameters (the session, not the codec, requires user)', () => {
    const reader = newReader();
    reader.push(startupPacket(196608, Buffer.of(0)));
    expect(reader.read()?.message).toEqual({ type: 'StartupMessage', protocolVersion: 196608, parameters: {} });
  });

  it('keeps a leading byte-order mark in SQL text instead of stripping it', () => {
    const reader = newReader();
    reader.push(serialize.startup({ user: 'u' }));
    reader.read();
    reader.push(typed('Q', cstr('\uFEFFselect 1')));
    expect(reader.read()?.message).toEqual({ type: 'Query', sql: '\uFEFFselect 1' });
  });
});

describe('readCleartextPassword', () => {
  it('reads the NUL-terminated token that serialize.password writes', () => {
    const frames = readAll(Buffer.concat([serialize.startup({ user: 'u' }), serialize.password('tök.en')]));
    const password = frames[1]?.message;
    if (password?.type !== 'PasswordMessage') throw new Error('expected PasswordMessage');
    expect(readCleartextPassword(password.data)).toBe('tök.en');
  });

  it.each([
    ['no terminator', Buffer.from('token')],
    ['bytes after the terminator', Buffer.from('token\0extra')],
    ['two terminators', Buffer.from('token\0\0')],
    ['empty body', Buffer.alloc(0)],
  ])('rejects %s with 08P01', (_name, data) => {
    expect(() => readCleartextPassword(data)).toThrow(expect.objectContaining({ name: 'ProtocolError', code: '08P01' }));
  });

  it('rejects invalid UTF-8 with 22021', () => {
    expect(() => readCleartextPassword(Buffer.from([0x74, 0xff, 0x00]))).toThrow(
      expect.objectContaining({ name: 'ProtocolError', code: '22021' }),
    );
  });
});
