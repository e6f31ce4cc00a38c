// Frame builders for protocol tests. `frontendBytes` is an independent, spec-following
// encoder for every client message (pg-protocol's serialize covers only some shapes and
// cannot produce malformed bodies); its output is cross-checked against serialize.
import { Parser } from 'pg-protocol/dist/parser.js';
import type { FrontendMessage } from '../../../protocol/index.js';

export function cstr(s: string): Buffer {
  return Buffer.concat([Buffer.from(s, 'utf8'), Buffer.of(0)]);
}

export function int16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
}

export function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n | 0);
  return b;
}

/** A typed frame: type byte, int32 length (body + 4), body. */
export function typed(code: string | number, ...body: Buffer[]): Buffer {
  const payload = Buffer.concat(body);
  const code8 = typeof code === 'string' ? code.charCodeAt(0) : code;
  return Buffer.concat([Buffer.of(code8), int32(payload.length + 4), payload]);
}

/** An untyped startup-phase packet: int32 length (including itself), request code, body. */
export function startupPacket(requestCode: number, ...body: Buffer[]): Buffer {
  const payload = Buffer.concat(body);
  return Buffer.concat([int32(payload.length + 8), int32(requestCode), payload]);
}

function values(list: (Buffer | null)[]): Buffer[] {
  const out: Buffer[] = [int16(list.length)];
  for (const v of list) out.push(v === null ? int32(-1) : Buffer.concat([int32(v.length), v]));
  return out;
}

function formats(list: number[]): Buffer[] {
  return [int16(list.length), ...list.map(int16)];
}

export function frontendBytes(m: FrontendMessage): Buffer {
  switch (m.type) {
    case 'StartupMessage':
      return startupPacket(
        m.protocolVersion,
        ...Object.entries(m.parameters).flatMap(([k, v]) => [cstr(k), cstr(v)]),
        Buffer.of(0),
      );
    case 'SSLRequest':
      return startupPacket(80877103);
    case 'GSSENCRequest':
      return startupPacket(80877104);
    case 'CancelRequest':
      return startupPacket(80877102, int32(m.processId), int32(m.secretKey));
    case 'PasswordMessage':
      return typed('p', m.data);
    case 'Query':
      return typed('Q', cstr(m.sql));
    case 'Parse':
      return typed('P', cstr(m.name), cstr(m.sql), int16(m.paramTypes.length), ...m.paramTypes.map(int32));
    case 'Bind':
      return typed(
        'B',
        cstr(m.portal),
        cstr(m.statement),
        ...formats(m.paramFormats),
        ...values(m.params),
        ...formats(m.resultFormats),
      );
    case 'Describe':
      return typed('D', Buffer.from(m.kind), cstr(m.name));
    case 'Execute':
      return typed('E', cstr(m.portal), int32(m.maxRows));
    case 'Close':
      return typed('C', Buffer.from(m.kind), cstr(m.name));
    case 'Sync':
      return typed('S');
    case 'Flush':
      return typed('H');
    case 'Terminate':
      return typed('X');
    case 'FunctionCall':
      return typed('F', int32(m.functionOid), ...formats(m.argFormats), ...values(m.args), int16(m.resultFormat));
    case 'CopyData':
      return typed('d', m.data);
    case 'CopyDone':
      return typed('c');
    case 'CopyFail':
      return typed('f', cstr(m.message));
    default: {
      const unreachable: never = m;
      throw new Error(`unhandled ${String(unreachable)}`);
    }
  }
}

/** Every way of cutting `bytes` in two, plus one-byte chunks. */
export function chunkings(bytes: Buffer): Buffer[][] {
  const out: Buffer[][] = [];
  for (let i = 0; i <= bytes.length; i++) out.push([bytes.subarray(0, i), bytes.subarray(i)]);
  out.push(Array.from(bytes, (b) => Buffer.of(b)));
  return out;
}

/** Pushes chunks one by one, reading everything available after each push. */
export function drain<F>(reader: { push(b: Buffer): void; read(): F | null }, chunks: Buffer[]): F[] {
  const frames: F[] = [];
  for (const chunk of chunks) {
    reader.push(chunk);
    for (let f = reader.read(); f !== null; f = reader.read()) frames.push(f);
  }
  return frames;
}

/** Buffers become plain arrays so toEqual compares bytes, not views. */
export function plain(value: unknown): unknown {
  if (Buffer.isBuffer(value)) return { bytes: [...value] };
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

/** Parses server bytes with pg-protocol's own Parser, the reference node-postgres trusts. */
export function pgParse(bytes: Buffer): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  new Parser().parse(bytes, (m) => out.push(m as unknown as Record<string, unknown>));
  return out;
}
