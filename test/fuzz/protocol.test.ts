// Property tests for the wire codec: hostile bytes only ever produce ProtocolError (no
// other exception, no endless loop, no allocation sized by a declared length), and valid
// traffic decodes identically however the network happens to chunk it.
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  BackendReader,
  decodeBackend,
  encode,
  FrontendReader,
  ProtocolError,
  readCleartextPassword,
  readDataRowFields,
  type BackendMessage,
  type FieldDescription,
  type FrontendFrame,
  type FrontendMessage,
} from '../../protocol/index.js';
import { ByteQueue } from '../../protocol/byte-queue.js';
import { cstr, frontendBytes, int32, plain, typed } from '../unit/protocol/fixtures.js';

const CAP = 4096;
const STARTUP_CAP = 10_000;
const RUNS = { numRuns: 1000 };

// ---- arbitraries ---------------------------------------------------------------------

const text = fc.string({ unit: 'grapheme', maxLength: 24 }).filter((s) => !s.includes('\0'));
const int32Arb = fc.integer({ min: -0x80000000, max: 0x7fffffff });
const uint32Arb = fc.integer({ min: 0, max: 0xffffffff });
const bytes = (maxLength = 24): fc.Arbitrary<Buffer> =>
  fc.uint8Array({ maxLength }).map((a) => Buffer.from(a));
const value = fc.option(bytes(), { freq: 4 });
const format = fc.constantFrom(0, 1);

function formatsFor(count: number): fc.Arbitrary<number[]> {
  return fc.oneof(
    fc.constant<number[]>([]),
    format.map((f) => [f]),
    fc.array(format, { minLength: count, maxLength: count }),
  );
}

const bindArb = fc.array(value, { maxLength: 6 }).chain((params) =>
  fc.record({
    type: fc.constant('Bind' as const),
    portal: text,
    statement: text,
    paramFormats: formatsFor(params.length),
    params: fc.constant(params),
    resultFormats: fc.array(format, { maxLength: 4 }),
  }),
);

const functionCallArb = fc.array(value, { maxLength: 4 }).chain((args) =>
  fc.record({
    type: fc.constant('FunctionCall' as const),
    functionOid: uint32Arb,
    argFormats: formatsFor(args.length),
    args: fc.constant(args),
    resultFormat: format,
  }),
);

const kind = fc.constantFrom('S' as const, 'P' as const);

const typedMessageArb: fc.Arbitrary<FrontendMessage> = fc.oneof(
  fc.record({ type: fc.constant('Query' as const), sql: text }),
  fc.record({ type: fc.constant('Parse' as const), name: text, sql: text, paramTypes: fc.array(uint32Arb, { maxLength: 5 }) }),
  bindArb,
  fc.record({ type: fc.constant('Describe' as const), kind, name: text }),
  fc.record({ type: fc.constant('Execute' as const), portal: text, maxRows: int32Arb }),
  fc.record({ type: fc.constant('Close' as const), kind, name: text }),
  fc.constantFrom<FrontendMessage>({ type: 'Sync' }, { type: 'Flush' }, { type: 'Terminate' }, { type: 'CopyDone' }),
  functionCallArb,
  fc.record({ type: fc.constant('CopyData' as const), data: bytes(64) }),
  fc.record({ type: fc.constant('CopyFail' as const), message: text }),
  fc.record({ type: fc.constant('PasswordMessage' as const), data: bytes(64) }),
);

const parametersArb = fc
  .uniqueArray(fc.tuple(text.filter((k) => k !== ''), text), { maxLength: 5, selector: ([k]) => k })
  .map((pairs) => {
    const parameters = Object.create(null) as Record<string, string>;
    for (const [k, v] of pairs) parameters[k] = v;
    return parameters;
  });

const sessionArb: fc.Arbitrary<FrontendMessage[]> = fc.oneof(
  fc.tuple(
    fc.array(fc.constantFrom<FrontendMessage>({ type: 'SSLRequest' }, { type: 'GSSENCRequest' }), { maxLength: 2 }),
    parametersArb,
    fc.array(typedMessageArb, { maxLength: 12 }),
  ).map(([pre, parameters, rest]) => [
    ...pre,
    { type: 'StartupMessage' as const, protocolVersion: 196608, parameters },
    ...rest,
  ]),
  fc.record({ type: fc.constant('CancelRequest' as const), processId: int32Arb, secretKey: int32Arb }).map((m) => [m]),
);

/** Cut points for a stream of `length` bytes, as chunk views. */
function chunk(stream: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(stream.subarray(prev, p));
    prev = p;
  }
  out.push(stream.subarray(prev));
  return out;
}

const cutsArb = fc.array(fc.nat(), { maxLength: 12 });

/** Valid traffic with a few bytes overwritten and possibly cut short: reaches deep paths. */
function mutated(stream: fc.Arbitrary<Buffer>): fc.Arbitrary<Buffer> {
  return fc
    .tuple(stream, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), fc.option(fc.nat()))
    .map(([original, edits, cut]) => {
      const b = Buffer.from(original);
      for (const [at, byte] of edits) if (b.length > 0) b[at % b.length] = byte;
      return cut === null ? b : b.subarray(0, cut % (b.length + 1));
    });
}

const validFrontendStream = sessionArb.map((ms) => Buffer.concat(ms.map(frontendBytes)));
const startupPrefix = frontendBytes({ type: 'StartupMessage', protocolVersion: 196608, parameters: { user: 'u' } });

const hostileFrontendStream = fc.oneof(
  bytes(256),
  bytes(256).map((b) => Buffer.concat([startupPrefix, b])),
  mutated(validFrontendStream),
);

// ---- helpers -------------------------------------------------------------------------

type Outcome<F> = { frames: F[]; error: ProtocolError | null };

function run<F extends { raw: Buffer }>(
  reader: { push(b: Buffer): void; read(): F | null; readonly buffered: number },
  chunks: Buffer[],
  check: (frame: F) => void = () => undefined,
): Outcome<F> {
  const frames: F[] = [];
  try {
    for (const c of chunks) {
      reader.push(c);
      for (;;) {
        const before = reader.buffered;
        const frame = reader.read();
        if (frame === null) break;
        // Progress on every frame: a read that consumed nothing would spin forever.
        expect(reader.buffered).toBe(before - frame.raw.length);
        check(frame);
        frames.push(frame);
      }
    }
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw err;
    return { frames, error: err };
  }
  return { frames, error: null };
}

function checkFrontendFrame(frame: FrontendFrame): void {
  const startupPhase = frame.message.type === 'StartupMessage' || frame.message.type === 'SSLRequest' ||
    frame.message.type === 'GSSENCRequest' || frame.message.type === 'CancelRequest';
  expect(frame.raw.length).toBeLessThanOrEqual(startupPhase ? STARTUP_CAP : CAP + 1);
}

/** Records the largest allocation the readers make while `body` runs. */
function largestAllocation(body: () => void): number {
  let largest = 0;
  const original = Buffer.allocUnsafe.bind(Buffer);
  const spy = vi.spyOn(Buffer, 'allocUnsafe').mockImplementation((size: number) => {
    largest = Math.max(largest, size);
    return original(size);
  });
  try {
    body();
  } finally {
    spy.mockRestore();
  }
  return largest;
}

afterEach(() => {
  vi.restoreAllMocks();
});

// ---- properties ----------------------------------------------------------------------

describe('FrontendReader under hostile input', () => {
  it('only ever throws ProtocolError, always makes progress, and never allocates past what arrived', () => {
    fc.assert(
      fc.property(hostileFrontendStream, cutsArb, (stream, cuts) => {
        const chunks = chunk(stream, cuts);
        const largest = largestAllocation(() => {
          run(new FrontendReader({ maxMessageBytes: CAP }), chunks, checkFrontendFrame);
        });
        expect(largest).toBeLessThanOrEqual(Math.max(16 * 1024, 2 * stream.length));
      }),
      RUNS,
    );
  });

  it('fails the same way however the bytes are chunked', () => {
    fc.assert(
      fc.property(hostileFrontendStream, cutsArb, (stream, cuts) => {
        const whole = run(new FrontendReader({ maxMessageBytes: CAP }), [stream]);
        const split = run(new FrontendReader({ maxMessageBytes: CAP }), chunk(stream, cuts));
        expect(plain(split.frames)).toEqual(plain(whole.frames));
        expect(split.error?.code).toBe(whole.error?.code);
      }),
      RUNS,
    );
  });

  it('readCleartextPassword only ever throws ProtocolError', () => {
    fc.assert(
      fc.property(bytes(32), (data) => {
        try {
          expect(typeof readCleartextPassword(data)).toBe('string');
        } catch (err) {
          expect(err).toBeInstanceOf(ProtocolError);
        }
      }),
      RUNS,
    );
  });
});

describe('FrontendReader on valid traffic', () => {
  it('round-trips any message sequence identically at every chunking', () => {
    fc.assert(
      fc.property(sessionArb, cutsArb, (messages, cuts) => {
        const encoded = messages.map(frontendBytes);
        const stream = Buffer.concat(encoded);
        const { frames, error } = run(new FrontendReader({ maxMessageBytes: CAP }), chunk(stream, cuts));
        expect(error).toBeNull();
        expect(plain(frames.map((f) => f.message))).toEqual(plain(messages));
        expect(frames.map((f) => f.raw.toString('hex'))).toEqual(encoded.map((b) => b.toString('hex')));
      }),
      RUNS,
    );
  });
});

// ---- backend -------------------------------------------------------------------------

const fieldArb: fc.Arbitrary<FieldDescription> = fc.record({
  name: text,
  tableOid: uint32Arb,
  columnNumber: fc.integer({ min: -0x8000, max: 0x7fff }),
  typeOid: uint32Arb,
  typeSize: fc.integer({ min: -0x8000, max: 0x7fff }),
  typeModifier: int32Arb,
  format: fc.constantFrom(0 as const, 1 as const),
});

const backendMessageArb: fc.Arbitrary<BackendMessage> = fc.oneof(
  fc.constantFrom<BackendMessage>(
    { type: 'AuthenticationOk' },
    { type: 'AuthenticationCleartextPassword' },
    { type: 'ParseComplete' },
    { type: 'BindComplete' },
    { type: 'CloseComplete' },
    { type: 'NoData' },
    { type: 'PortalSuspended' },
    { type: 'EmptyQueryResponse' },
  ),
  fc.record({ type: fc.constant('AuthenticationSASL' as const), mechanisms: fc.array(text.filter((s) => s !== ''), { maxLength: 3 }) }),
  fc.record({ type: fc.constant('AuthenticationSASLContinue' as const), data: text }),
  fc.record({ type: fc.constant('ParameterStatus' as const), name: text, value: text }),
  fc.record({ type: fc.constant('BackendKeyData' as const), processId: int32Arb, secretKey: int32Arb }),
  fc.record({ type: fc.constant('ReadyForQuery' as const), status: fc.constantFrom('I' as const, 'T' as const, 'E' as const) }),
  fc.record({ type: fc.constant('RowDescription' as const), fields: fc.array(fieldArb, { maxLength: 4 }) }),
  fc.record({ type: fc.constant('DataRow' as const), fields: fc.array(value, { maxLength: 6 }) }),
  fc.record({ type: fc.constant('CommandComplete' as const), tag: text }),
  fc.record({
    type: fc.constantFrom('ErrorResponse' as const, 'NoticeResponse' as const),
    fields: fc.record(
      { severity: text, code: text, message: text, detail: text, hint: text, routine: text },
      { requiredKeys: ['severity', 'code', 'message'] },
    ),
  }),
  fc.record({ type: fc.constant('ParameterDescription' as const), typeOids: fc.array(uint32Arb, { maxLength: 5 }) }),
  fc.record({ type: fc.constant('NotificationResponse' as const), processId: int32Arb, channel: text, payload: text }),
);

function backendBytes(m: BackendMessage): Buffer {
  switch (m.type) {
    case 'AuthenticationOk':
      return encode.authenticationOk();
    case 'AuthenticationCleartextPassword':
      return encode.authenticationCleartextPassword();
    case 'AuthenticationSASL':
      return typed('R', int32(10), ...m.mechanisms.map(cstr), Buffer.of(0));
    case 'AuthenticationSASLContinue':
      return typed('R', int32(11), Buffer.from(m.data));
    case 'ParameterStatus':
      return encode.parameterStatus(m.name, m.value);
    case 'BackendKeyData':
      return encode.backendKeyData(m.processId, m.secretKey);
    case 'ReadyForQuery':
      return encode.readyForQuery(m.status);
    case 'RowDescription':
      return encode.rowDescription(m.fields);
    case 'DataRow':
      return encode.dataRow(m.fields);
    case 'CommandComplete':
      return encode.commandComplete(m.tag);
    case 'ErrorResponse':
      return encode.errorResponse(m.fields);
    case 'NoticeResponse':
      return encode.noticeResponse(m.fields);
    case 'ParameterDescription':
      return encode.parameterDescription(m.typeOids);
    case 'NotificationResponse':
      return typed('A', int32(m.processId), cstr(m.channel), cstr(m.payload));
    case 'ParseComplete':
      return encode.parseComplete();
    case 'BindComplete':
      return encode.bindComplete();
    case 'CloseComplete':
      return encode.closeComplete();
    case 'NoData':
      return encode.noData();
    case 'PortalSuspended':
      return encode.portalSuspended();
    case 'EmptyQueryResponse':
      return encode.emptyQueryResponse();
    default:
      throw new Error(`no generator encodes ${m.type}`);
  }
}

const validBackendStream = fc.array(backendMessageArb, { maxLength: 10 }).map((ms) => Buffer.concat(ms.map(backendBytes)));

describe('BackendReader and decodeBackend', () => {
  it('only ever throw ProtocolError on hostile bytes, and never allocate past what arrived', () => {
    fc.assert(
      fc.property(fc.oneof(bytes(256), mutated(validBackendStream)), cutsArb, (stream, cuts) => {
        const largest = largestAllocation(() => {
          run(new BackendReader({ maxMessageBytes: CAP }), chunk(stream, cuts), (frame) => {
            expect(frame.raw.length).toBeLessThanOrEqual(CAP + 1);
            for (const decode of [decodeBackend, (f: typeof frame) => (f.code === 0x44 ? readDataRowFields(f.raw) : null)]) {
              try {
                decode(frame);
              } catch (err) {
                expect(err).toBeInstanceOf(ProtocolError);
              }
            }
          });
        });
        expect(largest).toBeLessThanOrEqual(Math.max(16 * 1024, 2 * stream.length));
      }),
      RUNS,
    );
  });

  it('round-trip encoded messages identically at every chunking', () => {
    fc.assert(
      fc.property(fc.array(backendMessageArb, { maxLength: 10 }), cutsArb, (messages, cuts) => {
        const stream = Buffer.concat(messages.map(backendBytes));
        const { frames, error } = run(new BackendReader({ maxMessageBytes: CAP }), chunk(stream, cuts));
        expect(error).toBeNull();
        expect(plain(frames.map(decodeBackend))).toEqual(plain(messages));
        expect(Buffer.concat(frames.map((f) => f.raw)).equals(stream)).toBe(true);
      }),
      RUNS,
    );
  });
});

describe('ByteQueue', () => {
  it('never overwrites bytes it handed out and stays within twice what it holds', () => {
    const op = fc.oneof(
      fc.record({ push: bytes(40_000) }),
      fc.record({ take: fc.nat() }),
      fc.record({ expect: fc.nat({ max: 200_000 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 20 }), (ops) => {
        const q = new ByteQueue();
        const model: number[] = [];
        const taken: [Buffer, number[]][] = [];
        for (const o of ops) {
          if ('push' in o) {
            const before = q.buf;
            q.push(o.push);
            model.push(...o.push);
            // A replaced buffer is sized by bytes held, never by the frame hint alone.
            if (q.buf !== before && q.buf !== o.push) {
              expect(q.buf.length).toBeLessThanOrEqual(Math.max(16 * 1024, 2 * q.length));
            }
          } else if ('take' in o) {
            const n = model.length === 0 ? 0 : o.take % (model.length + 1);
            taken.push([q.take(n), model.splice(0, n)]);
          } else {
            q.expect(o.expect);
          }
          expect(q.length).toBe(model.length);
          expect([...q.buf.subarray(q.start, q.end)]).toEqual(model);
        }
        for (const [view, bytesAtTake] of taken) expect([...view]).toEqual(bytesAtTake);
      }),
      { numRuns: 150 },
    );
  });
});
