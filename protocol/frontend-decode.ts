// Body decoders for client messages, one per message type, following Postgres's own
// checks in postgres.c and postmaster.c (pq_getmsg*, pq_getmsgend): counts are bounded
// by the bytes that remain before any array is sized, and leftovers are malformed.
import { BodyReader } from './body-reader.js';
import type { FrontendMessage } from './frontend.js';
import { ProtocolError } from './protocol-error.js';
import { SqlState } from './sqlstate.js';

export const FrontendCode = {
  Query: 0x51, // Q
  Parse: 0x50, // P
  Bind: 0x42, // B
  Describe: 0x44, // D
  Execute: 0x45, // E
  Close: 0x43, // C
  Sync: 0x53, // S
  Flush: 0x48, // H
  Terminate: 0x58, // X
  FunctionCall: 0x46, // F
  CopyData: 0x64, // d
  CopyDone: 0x63, // c
  CopyFail: 0x66, // f
  PasswordMessage: 0x70, // p: also SASLInitialResponse, SASLResponse, GSSResponse
} as const;

/** Postgres's MAX_STARTUP_PACKET_LENGTH. */
export const MAX_STARTUP_PACKET_LENGTH = 10_000;
/** Postgres's PQ_SMALL_MESSAGE_LIMIT, for messages whose bodies are small by nature. */
export const SMALL_MESSAGE_LIMIT = 10_000;
/** Postgres's PG_MAX_AUTH_TOKEN_LENGTH: authentication input arrives before the peer is known. */
export const MAX_AUTH_MESSAGE_LENGTH = 65_535;

const PROTOCOL_3_0 = 196_608;
const CANCEL_REQUEST_CODE = 80_877_102;
const SSL_REQUEST_CODE = 80_877_103;
const GSSENC_REQUEST_CODE = 80_877_104;
const SPECIAL_REQUEST_MAJOR = 1234;

// Cap on the length word per type byte; 0 marks a type byte a client may not send.
// Large types are capped only by the reader's maxMessageBytes.
export const FRONTEND_LENGTH_LIMITS: Readonly<Int32Array> = (() => {
  const limits = new Int32Array(256);
  const large = 0x7fffffff;
  limits[FrontendCode.Query] = large;
  limits[FrontendCode.Parse] = large;
  limits[FrontendCode.Bind] = large;
  limits[FrontendCode.FunctionCall] = large;
  limits[FrontendCode.CopyData] = large;
  limits[FrontendCode.Describe] = SMALL_MESSAGE_LIMIT;
  limits[FrontendCode.Execute] = SMALL_MESSAGE_LIMIT;
  limits[FrontendCode.Close] = SMALL_MESSAGE_LIMIT;
  limits[FrontendCode.Sync] = SMALL_MESSAGE_LIMIT;
  limits[FrontendCode.Flush] = SMALL_MESSAGE_LIMIT;
  limits[FrontendCode.Terminate] = SMALL_MESSAGE_LIMIT;
  limits[FrontendCode.CopyDone] = SMALL_MESSAGE_LIMIT;
  limits[FrontendCode.CopyFail] = SMALL_MESSAGE_LIMIT;
  limits[FrontendCode.PasswordMessage] = MAX_AUTH_MESSAGE_LENGTH;
  return limits;
})();

/** Decodes one whole startup-phase packet (length word included in the reader's range). */
export function decodeStartupPacket(r: BodyReader): FrontendMessage {
  const len = r.int32();
  const code = r.uint32();
  switch (code) {
    case SSL_REQUEST_CODE:
      r.finish();
      return { type: 'SSLRequest' };
    case GSSENC_REQUEST_CODE:
      r.finish();
      return { type: 'GSSENCRequest' };
    case CANCEL_REQUEST_CODE: {
      if (len !== 16) throw new ProtocolError('invalid length of cancel request packet');
      const processId = r.int32();
      const secretKey = r.int32();
      return { type: 'CancelRequest', processId, secretKey };
    }
    case PROTOCOL_3_0:
      return { type: 'StartupMessage', protocolVersion: code, parameters: readStartupParameters(r) };
    default: {
      const major = code >>> 16;
      const minor = code & 0xffff;
      if (major === SPECIAL_REQUEST_MAJOR) throw new ProtocolError(`unknown startup request code ${major}.${minor}`);
      throw new ProtocolError(
        `unsupported frontend protocol ${major}.${minor}: server supports 3.0 to 3.0`,
        SqlState.FeatureNotSupported,
      );
    }
  }
}

function readStartupParameters(r: BodyReader): Record<string, string> {
  const parameters: Record<string, string> = Object.create(null) as Record<string, string>;
  for (;;) {
    const key = r.cstring();
    if (key === '') break;
    const value = r.cstring();
    // Two values for one key would let the proxy and the upstream disagree on which wins.
    if (Object.hasOwn(parameters, key)) throw new ProtocolError(`duplicate startup parameter "${key}"`);
    parameters[key] = value;
  }
  if (r.remaining !== 0) throw new ProtocolError('invalid startup packet layout: expected terminator as last byte');
  return parameters;
}

/** Decodes the body of a typed message whose type byte is known to be valid. */
export function decodeTypedMessage(code: number, r: BodyReader): FrontendMessage {
  let message: FrontendMessage;
  switch (code) {
    case FrontendCode.Query:
      message = { type: 'Query', sql: r.cstring() };
      break;
    case FrontendCode.Parse: {
      const name = r.cstring();
      const sql = r.cstring();
      const count = r.uint16();
      r.need(count * 4);
      const paramTypes = new Array<number>(count);
      for (let i = 0; i < count; i++) paramTypes[i] = r.uint32();
      message = { type: 'Parse', name, sql, paramTypes };
      break;
    }
    case FrontendCode.Bind: {
      const portal = r.cstring();
      const statement = r.cstring();
      const paramFormats = readFormatCodes(r);
      const params = readValues(r, paramFormats.length);
      const resultFormats = readFormatCodes(r);
      message = { type: 'Bind', portal, statement, paramFormats, params, resultFormats };
      break;
    }
    case FrontendCode.Describe:
      message = { type: 'Describe', kind: readTargetKind(r), name: r.cstring() };
      break;
    case FrontendCode.Execute:
      message = { type: 'Execute', portal: r.cstring(), maxRows: r.int32() };
      break;
    case FrontendCode.Close:
      message = { type: 'Close', kind: readTargetKind(r), name: r.cstring() };
      break;
    case FrontendCode.Sync:
      message = { type: 'Sync' };
      break;
    case FrontendCode.Flush:
      message = { type: 'Flush' };
      break;
    case FrontendCode.Terminate:
      message = { type: 'Terminate' };
      break;
    case FrontendCode.FunctionCall: {
      const functionOid = r.uint32();
      const argFormats = readFormatCodes(r);
      const args = readValues(r, argFormats.length);
      const resultFormat = readFormatCode(r);
      message = { type: 'FunctionCall', functionOid, argFormats, args, resultFormat };
      break;
    }
    case FrontendCode.CopyData:
      message = { type: 'CopyData', data: r.rest() };
      break;
    case FrontendCode.CopyDone:
      message = { type: 'CopyDone' };
      break;
    case FrontendCode.CopyFail:
      message = { type: 'CopyFail', message: r.cstring() };
      break;
    case FrontendCode.PasswordMessage:
      message = { type: 'PasswordMessage', data: r.rest() };
      break;
    default:
      throw new ProtocolError(`invalid frontend message type ${code}`);
  }
  r.finish();
  return message;
}

function readTargetKind(r: BodyReader): 'S' | 'P' {
  const kind = r.uint8();
  if (kind === 0x53) return 'S';
  if (kind === 0x50) return 'P';
  throw new ProtocolError(`invalid DESCRIBE/CLOSE message subtype ${kind}`);
}

function readFormatCode(r: BodyReader): number {
  const format = r.int16();
  if (format !== 0 && format !== 1) throw new ProtocolError(`unsupported format code: ${format}`);
  return format;
}

function readFormatCodes(r: BodyReader): number[] {
  const count = r.uint16();
  r.need(count * 2);
  const formats = new Array<number>(count);
  for (let i = 0; i < count; i++) formats[i] = readFormatCode(r);
  return formats;
}

// Parameter values of Bind and FunctionCall: a count, then length-prefixed values
// (-1 is NULL). The format count must be 0 (all text), 1 (applies to all) or one each.
function readValues(r: BodyReader, formatCount: number): (Buffer | null)[] {
  const count = r.uint16();
  if (formatCount > 1 && formatCount !== count) {
    throw new ProtocolError(`message has ${formatCount} parameter formats but ${count} parameters`);
  }
  r.need(count * 4);
  const values = new Array<Buffer | null>(count);
  for (let i = 0; i < count; i++) {
    const len = r.int32();
    if (len === -1) values[i] = null;
    else if (len < 0) throw new ProtocolError(`invalid parameter length ${len}`);
    else values[i] = r.bytes(len);
  }
  return values;
}

/**
 * The cleartext password inside a PasswordMessage body: exactly one NUL-terminated,
 * well-formed UTF-8 string (the OIDC token), nothing after it.
 */
export function readCleartextPassword(data: Buffer): string {
  const r = new BodyReader().reset(data, 0, data.length);
  const password = r.cstring();
  if (r.remaining !== 0) throw new ProtocolError('invalid password packet size');
  return password;
}
