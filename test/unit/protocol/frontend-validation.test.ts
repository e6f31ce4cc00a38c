import { describe, expect, it } from 'vitest';
import { FrontendReader, ProtocolError, serialize } from '../../../protocol/index.js';
import { cstr, int16, int32, startupPacket, typed } from './fixtures.js';

const MiB = 1024 * 1024;

function startupReader(maxMessageBytes = 64 * MiB): FrontendReader {
  return new FrontendReader({ maxMessageBytes });
}

function typedReader(maxMessageBytes = 64 * MiB): FrontendReader {
  const reader = startupReader(maxMessageBytes);
  reader.push(serialize.startup({ user: 'u' }));
  reader.read();
  return reader;
}

function failure(reader: FrontendReader, ...chunks: Buffer[]): ProtocolError {
  try {
    for (const chunk of chunks) {
      reader.push(chunk);
      while (reader.read() !== null);
    }
  } catch (err) {
    if (err instanceof ProtocolError) return err;
    throw err;
  }
  throw new Error('expected a ProtocolError');
}

const header = (len: number): Buffer => int32(len);
const typedHeader = (code: string, len: number): Buffer => Buffer.concat([Buffer.from(code), int32(len)]);

describe('startup-phase validation', () => {
  it.each([-1, 0, 4, 7])('rejects a startup length of %i with 08P01 as soon as the length is read', (len) => {
    const err = failure(startupReader(), header(len));
    expect(err.code).toBe('08P01');
    expect(err.message).toBe('invalid length of startup packet');
  });

  it('rejects an oversize startup packet (over 10,000 bytes) from its length word alone', () => {
    const reader = startupReader();
    const err = failure(reader, header(10_001));
    expect(err.code).toBe('08P01');
    expect(reader.buffered).toBe(4);
  });

  it('accepts a startup packet of exactly 10,000 bytes', () => {
    // length word, version, user=u, the options key, the options value's NUL, the terminator
    const fixed = 8 + cstr('user').length + cstr('u').length + cstr('options').length + 1 + 1;
    const value = cstr('x'.repeat(10_000 - fixed));
    const packet = startupPacket(196608, cstr('user'), cstr('u'), cstr('options'), value, Buffer.of(0));
    expect(packet.length).toBe(10_000);
    const reader = startupReader();
    reader.push(packet);
    expect(reader.read()?.message.type).toBe('StartupMessage');
  });

  it.each([
    ['2.0', 0x0002_0000],
    ['3.1', 0x0003_0001],
    ['3.2', 0x0003_0002],
    ['4.0', 0x0004_0000],
  ])('rejects protocol version %s with 0A000 unsupported frontend protocol', (_v, code) => {
    const err = failure(startupReader(), startupPacket(code, cstr('user'), cstr('u'), Buffer.of(0)));
    expect(err.code).toBe('0A000');
    expect(err.message).toMatch(/^unsupported frontend protocol/);
  });

  it.each([80877101, 80877105, 80877199])('rejects unknown request code %i with 08P01', (code) => {
    expect(failure(startupReader(), startupPacket(code)).code).toBe('08P01');
  });

  it.each([
    ['SSLRequest with a body', startupPacket(80877103, int32(0))],
    ['GSSENCRequest with a body', startupPacket(80877104, Buffer.of(0))],
    ['CancelRequest without keys', startupPacket(80877102, int32(1))],
    ['CancelRequest with extra bytes', startupPacket(80877102, int32(1), int32(2), int32(3))],
  ])('rejects %s with 08P01', (_name, packet) => {
    expect(failure(startupReader(), packet).code).toBe('08P01');
  });

  it.each([
    ['no final terminator', startupPacket(196608, cstr('user'), cstr('u'))],
    ['a key without a value', startupPacket(196608, cstr('user'), Buffer.of(0x75))],
    ['bytes after the terminator', startupPacket(196608, cstr('user'), cstr('u'), Buffer.of(0), Buffer.of(0))],
    ['an unterminated value', startupPacket(196608, cstr('user'), Buffer.from('u'))],
  ])('rejects a StartupMessage with %s with 08P01', (_name, packet) => {
    expect(failure(startupReader(), packet).code).toBe('08P01');
  });

  it('rejects duplicate startup parameters, so proxy and server cannot disagree on the user', () => {
    const packet = startupPacket(196608, cstr('user'), cstr('reader'), cstr('user'), cstr('postgres'), Buffer.of(0));
    const err = failure(startupReader(), packet);
    expect(err.code).toBe('08P01');
    expect(err.message).toMatch(/duplicate startup parameter "user"/);
  });

  it('rejects invalid UTF-8 in a startup parameter with 22021', () => {
    const packet = startupPacket(196608, cstr('user'), Buffer.from([0x61, 0xc3, 0x28, 0]), Buffer.of(0));
    expect(failure(startupReader(), packet).code).toBe('22021');
  });
});

describe('typed-phase framing', () => {
  it.each([0x00, 0x5a /* Z */, 0x52 /* R */, 0x49 /* I */, 0xff])('rejects type byte 0x%s with 08P01 from one byte', (code) => {
    const reader = typedReader();
    const err = failure(reader, Buffer.of(code));
    expect(err.code).toBe('08P01');
    expect(err.message).toMatch(/invalid frontend message type/);
  });

  it.each([-1, 0, 3, -2147483648])('rejects a length word of %i with 08P01', (len) => {
    expect(failure(typedReader(), typedHeader('Q', len)).code).toBe('08P01');
  });

  it('rejects a message over maxMessageBytes from its header alone', () => {
    const reader = typedReader(1000);
    const err = failure(reader, typedHeader('Q', 1001));
    expect(err.code).toBe('08P01');
    expect(reader.buffered).toBe(5);
  });

  it('accepts a message of exactly maxMessageBytes', () => {
    const reader = typedReader(1000);
    reader.push(typed('Q', cstr('x'.repeat(1000 - 4 - 1))));
    expect(reader.read()?.message).toEqual({ type: 'Query', sql: 'x'.repeat(995) });
  });

  it('caps small messages (Sync, Describe, ...) at 10,000 bytes whatever maxMessageBytes says', () => {
    expect(failure(typedReader(), typedHeader('S', 10_001)).code).toBe('08P01');
    expect(failure(typedReader(), typedHeader('D', 10_001)).code).toBe('08P01');
  });

  it('caps pre-authentication password messages at 65,535 bytes', () => {
    expect(failure(typedReader(), typedHeader('p', 65_536)).code).toBe('08P01');
  });

  it('does not allocate the declared length of an incomplete message', () => {
    const reader = typedReader();
    const before = process.memoryUsage().arrayBuffers;
    // Two chunks, so the reader has to copy: the copy must be sized by what arrived.
    reader.push(Buffer.concat([typedHeader('Q', 60 * MiB), Buffer.from('sel')]));
    reader.push(Buffer.from('ect'));
    expect(reader.read()).toBeNull();
    expect(reader.buffered).toBe(11);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(MiB);
  });

  it('keeps failing the same way after the first malformed frame', () => {
    const reader = typedReader();
    const err = failure(reader, Buffer.of(0));
    expect(() => reader.read()).toThrow(err);
    expect(() => reader.push(serialize.sync())).toThrow(err);
  });
});

describe('typed-phase bodies', () => {
  const rejects = (code: string, frame: Buffer): void => {
    const err = failure(typedReader(), frame);
    expect(err).toBeInstanceOf(ProtocolError);
    expect(err.code).toBe(code);
  };

  it('rejects a NUL inside a Query string (data left after the string)', () => {
    const err = failure(typedReader(), typed('Q', Buffer.from("select 1\0; drop table traces\0")));
    expect(err.code).toBe('08P01');
    expect(err.message).toBe('invalid message format');
  });

  it('rejects a Query without its terminator', () => rejects('08P01', typed('Q', Buffer.from('select 1'))));

  it.each([
    ['Sync', typed('S', Buffer.of(0))],
    ['Flush', typed('H', Buffer.of(0))],
    ['Terminate', typed('X', Buffer.of(0))],
    ['CopyDone', typed('c', Buffer.of(0))],
    ['Execute', typed('E', cstr(''), int32(0), Buffer.of(0))],
    ['Describe', typed('D', Buffer.from('S'), cstr('s1'), Buffer.of(0))],
    ['Close', typed('C', Buffer.from('P'), cstr(''), cstr('x'))],
    ['Parse', typed('P', cstr(''), cstr('select 1'), int16(0), Buffer.of(0))],
    ['Bind', typed('B', cstr(''), cstr(''), int16(0), int16(0), int16(0), Buffer.of(0))],
    ['CopyFail', typed('f', cstr('x'), Buffer.of(0))],
  ])('rejects trailing bytes after a %s body', (_name, frame) => rejects('08P01', frame));

  it.each([
    ['Execute without maxRows', typed('E', cstr(''))],
    ['Parse without its parameter count', typed('P', cstr(''), cstr('select 1'))],
    ['Describe without a name', typed('D', Buffer.from('S'))],
    ['Describe with kind X', typed('D', Buffer.from('X'), cstr(''))],
    ['Close with kind s', typed('C', Buffer.from('s'), cstr(''))],
  ])('rejects %s', (_name, frame) => rejects('08P01', frame));

  it('rejects a Parse whose parameter count exceeds the body before sizing an array', () => {
    rejects('08P01', typed('P', cstr(''), cstr('select $1'), int16(-1), int32(25)));
  });

  describe('Bind', () => {
    const bind = (...rest: Buffer[]): Buffer => typed('B', cstr('p'), cstr('s'), ...rest);

    it('accepts 0, 1 or one format per parameter', () => {
      for (const formats of [[], [1], [0, 1, 0]]) {
        const reader = typedReader();
        reader.push(
          bind(int16(formats.length), ...formats.map(int16), int16(3), int32(1), Buffer.from('a'), int32(-1), int32(0), int16(0)),
        );
        const message = reader.read()?.message;
        expect(message?.type === 'Bind' && message.paramFormats).toEqual(formats);
        expect(message?.type === 'Bind' && message.params.map((p) => p?.toString() ?? null)).toEqual(['a', null, '']);
      }
    });

    it('rejects a format count that is neither 0, 1 nor the parameter count', () => {
      const err = failure(typedReader(), bind(int16(2), int16(0), int16(0), int16(3), int32(-1), int32(-1), int32(-1), int16(0)));
      expect(err.code).toBe('08P01');
      expect(err.message).toMatch(/2 parameter formats but 3 parameters/);
    });

    it.each([2, -1, 256])('rejects parameter format code %i', (format) => {
      rejects('08P01', bind(int16(1), int16(format), int16(1), int32(-1), int16(0)));
    });

    it.each([2, -1])('rejects result format code %i', (format) => {
      rejects('08P01', bind(int16(0), int16(0), int16(1), int16(format)));
    });

    it.each([-2, -2147483648])('rejects parameter length %i (only -1 means NULL)', (len) => {
      rejects('08P01', bind(int16(0), int16(1), int32(len), int16(0)));
    });

    it('rejects a parameter longer than the rest of the body', () => {
      rejects('08P01', bind(int16(0), int16(1), int32(100), Buffer.from('short'), int16(0)));
    });

    it('rejects counts that cannot fit the body before sizing arrays', () => {
      rejects('08P01', bind(int16(-1)));
      rejects('08P01', bind(int16(0), int16(-1), int32(-1)));
      rejects('08P01', bind(int16(0), int16(0), int16(-1), int16(0)));
    });

    it('rejects a Bind cut short before its result formats', () => {
      rejects('08P01', bind(int16(0), int16(1), int32(-1)));
    });
  });

  it('rejects a FunctionCall whose format count does not match its arguments', () => {
    rejects('08P01', typed('F', int32(1598), int16(2), int16(0), int16(0), int16(1), int32(-1), int16(0)));
  });

  it('rejects a FunctionCall with result format 2', () => {
    rejects('08P01', typed('F', int32(1598), int16(0), int16(0), int16(2)));
  });

  describe('strict UTF-8 (a lossy decode would let policy see other text than the server runs)', () => {
    it.each([
      ['a lone continuation byte', [0x80]],
      ['an overlong NUL', [0xc0, 0x80]],
      ['an overlong slash', [0xe0, 0x80, 0xaf]],
      ['a UTF-16 surrogate', [0xed, 0xa0, 0x80]],
      ['a code point above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
      ['a truncated sequence', [0xe2, 0x82]],
      ['a Latin-1 byte', [0xe9]],
    ])('rejects %s in a Query with 22021', (_name, bytes) => {
      const sql = Buffer.concat([Buffer.from("select '"), Buffer.from(bytes), Buffer.from("'"), Buffer.of(0)]);
      const err = failure(typedReader(), typed('Q', sql));
      expect(err.code).toBe('22021');
    });

    it('rejects invalid UTF-8 in a long Query (past the ASCII fast path)', () => {
      const sql = Buffer.concat([Buffer.from('x'.repeat(200)), Buffer.of(0xff), Buffer.of(0)]);
      rejects('22021', typed('Q', sql));
    });

    it('rejects invalid UTF-8 in Parse, Bind names and CopyFail', () => {
      const bad = Buffer.from([0x73, 0xff, 0]);
      rejects('22021', typed('P', bad, cstr('select 1'), int16(0)));
      rejects('22021', typed('P', cstr(''), bad, int16(0)));
      rejects('22021', typed('B', bad, cstr(''), int16(0), int16(0), int16(0)));
      rejects('22021', typed('f', bad));
    });

    it('leaves Bind parameters and CopyData as bytes, however they are encoded', () => {
      const reader = typedReader();
      reader.push(typed('B', cstr(''), cstr(''), int16(1), int16(1), int16(1), int32(2), Buffer.of(0xff, 0xfe), int16(0)));
      reader.push(typed('d', Buffer.of(0xff, 0x00)));
      const bind = reader.read()?.message;
      expect(bind?.type === 'Bind' && [...(bind.params[0] ?? [])]).toEqual([0xff, 0xfe]);
      expect(reader.read()?.message.type).toBe('CopyData');
    });
  });
});
