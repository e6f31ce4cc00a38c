// Encoders for the server side of the protocol: the messages the proxy itself sends to
// clients (pg-protocol only serialises the client side). Each returns a fresh Buffer
// holding one whole frame. Strings are written as UTF-8 C strings; since a NUL inside
// one would end it early and let the rest be read as further fields or messages, a NUL
// is an error, except in error and notice texts, which may quote caller-controlled
// input (a token's subject, say) and must always be sendable: there it becomes U+FFFD.
import type { FieldDescription, TransactionStatus } from './backend.js';
import { ERROR_FIELD_CODES, type ErrorFields } from './error-fields.js';
import { ProtocolError } from './protocol-error.js';
import { SqlState } from './sqlstate.js';

const MAX_FRAME_LENGTH = 0x7fffffff;
const MAX_COUNT = 0xffff;

function frame(code: number, bodyLength: number): Buffer {
  if (bodyLength + 4 > MAX_FRAME_LENGTH) throw encodeError('message too large to encode');
  const buf = Buffer.allocUnsafe(bodyLength + 5);
  buf[0] = code;
  buf.writeInt32BE(bodyLength + 4, 1);
  return buf;
}

function encodeError(message: string): ProtocolError {
  return new ProtocolError(message, SqlState.InternalError);
}

function checkCString(s: string): string {
  if (s.includes('\0')) throw encodeError('string to encode contains a NUL byte');
  return s;
}

function writeCString(buf: Buffer, pos: number, s: string): number {
  const n = buf.write(s, pos, 'utf8');
  buf[pos + n] = 0;
  return pos + n + 1;
}

function checkCount(n: number): void {
  if (n > MAX_COUNT) throw encodeError(`too many items to encode: ${n}`);
}

function checkInt32(n: number): number {
  if (!Number.isInteger(n) || n < -0x80000000 || n > 0xffffffff) throw encodeError(`not a 32-bit integer: ${n}`);
  return n | 0;
}

function checkInt16(n: number): number {
  if (!Number.isInteger(n) || n < -0x8000 || n > 0xffff) throw encodeError(`not a 16-bit integer: ${n}`);
  return (n << 16) >> 16;
}

function empty(code: number): Buffer {
  return frame(code, 0);
}

function authentication(kind: number): Buffer {
  const buf = frame(0x52, 4);
  buf.writeInt32BE(kind, 5);
  return buf;
}

function errorOrNotice(code: number, fields: ErrorFields): Buffer {
  const values: [number, string][] = [];
  let bodyLength = 1;
  for (const [letter, name] of ERROR_FIELD_CODES) {
    const value = fields[name];
    if (value === undefined) continue;
    const text = value.replaceAll('\0', '\uFFFD');
    values.push([letter, text]);
    bodyLength += 2 + Buffer.byteLength(text, 'utf8');
  }
  const buf = frame(code, bodyLength);
  let pos = 5;
  for (const [letter, text] of values) {
    buf[pos++] = letter;
    pos = writeCString(buf, pos, text);
  }
  buf[pos] = 0;
  return buf;
}

export const encode = {
  authenticationOk(): Buffer {
    return authentication(0);
  },

  authenticationCleartextPassword(): Buffer {
    return authentication(3);
  },

  parameterStatus(name: string, value: string): Buffer {
    const buf = frame(
      0x53,
      Buffer.byteLength(checkCString(name), 'utf8') + Buffer.byteLength(checkCString(value), 'utf8') + 2,
    );
    writeCString(buf, writeCString(buf, 5, name), value);
    return buf;
  },

  backendKeyData(processId: number, secretKey: number): Buffer {
    const buf = frame(0x4b, 8);
    buf.writeInt32BE(checkInt32(processId), 5);
    buf.writeInt32BE(checkInt32(secretKey), 9);
    return buf;
  },

  readyForQuery(status: TransactionStatus): Buffer {
    if (status !== 'I' && status !== 'T' && status !== 'E') throw encodeError(`invalid transaction status ${String(status)}`);
    const buf = frame(0x5a, 1);
    buf[5] = status.charCodeAt(0);
    return buf;
  },

  errorResponse(fields: ErrorFields): Buffer {
    return errorOrNotice(0x45, fields);
  },

  noticeResponse(fields: ErrorFields): Buffer {
    return errorOrNotice(0x4e, fields);
  },

  rowDescription(fields: readonly FieldDescription[]): Buffer {
    checkCount(fields.length);
    let bodyLength = 2;
    for (const f of fields) bodyLength += Buffer.byteLength(checkCString(f.name), 'utf8') + 19;
    const buf = frame(0x54, bodyLength);
    buf.writeUInt16BE(fields.length, 5);
    let pos = 7;
    for (const f of fields) {
      pos = writeCString(buf, pos, f.name);
      buf.writeInt32BE(checkInt32(f.tableOid), pos);
      buf.writeInt16BE(checkInt16(f.columnNumber), pos + 4);
      buf.writeInt32BE(checkInt32(f.typeOid), pos + 6);
      buf.writeInt16BE(checkInt16(f.typeSize), pos + 10);
      buf.writeInt32BE(checkInt32(f.typeModifier), pos + 12);
      buf.writeInt16BE(f.format === 1 ? 1 : 0, pos + 16);
      pos += 18;
    }
    return buf;
  },

  dataRow(values: readonly (Buffer | null)[]): Buffer {
    checkCount(values.length);
    let bodyLength = 2;
    for (const v of values) bodyLength += 4 + (v === null ? 0 : v.length);
    const buf = frame(0x44, bodyLength);
    buf.writeUInt16BE(values.length, 5);
    let pos = 7;
    for (const v of values) {
      if (v === null) {
        buf.writeInt32BE(-1, pos);
        pos += 4;
      } else {
        buf.writeInt32BE(v.length, pos);
        pos += 4 + v.copy(buf, pos + 4);
      }
    }
    return buf;
  },

  commandComplete(tag: string): Buffer {
    const buf = frame(0x43, Buffer.byteLength(checkCString(tag), 'utf8') + 1);
    writeCString(buf, 5, tag);
    return buf;
  },

  emptyQueryResponse(): Buffer {
    return empty(0x49);
  },

  parseComplete(): Buffer {
    return empty(0x31);
  },

  bindComplete(): Buffer {
    return empty(0x32);
  },

  closeComplete(): Buffer {
    return empty(0x33);
  },

  noData(): Buffer {
    return empty(0x6e);
  },

  portalSuspended(): Buffer {
    return empty(0x73);
  },

  parameterDescription(typeOids: readonly number[]): Buffer {
    checkCount(typeOids.length);
    const buf = frame(0x74, 2 + typeOids.length * 4);
    buf.writeUInt16BE(typeOids.length, 5);
    let pos = 7;
    for (const oid of typeOids) {
      buf.writeInt32BE(checkInt32(oid), pos);
      pos += 4;
    }
    return buf;
  },
} as const;

/** The one-byte answer to SSLRequest (and, with `false`, to GSSENCRequest). */
export function sslResponse(accept: boolean): Buffer {
  return Buffer.from(accept ? 'S' : 'N', 'latin1');
}
