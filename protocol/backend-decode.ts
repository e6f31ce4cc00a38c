// Decoders for server messages. pg-protocol's Parser is deliberately not used here: its
// reader does no bounds checks (a short body reads zeros or throws RangeError), it
// decodes DataRow fields and SASL data as lossy UTF-8, and it reports unknown codes as
// a DatabaseError value. Every decoder below checks lengths and consumes the body
// exactly; anything malformed is a ProtocolError.
import { BodyReader } from './body-reader.js';
import type { BackendFrame, BackendMessage, FieldDescription, TransactionStatus } from './backend.js';
import { ERROR_FIELD_BY_CODE, type ErrorFields } from './error-fields.js';
import { ProtocolError } from './protocol-error.js';
import { SqlState } from './sqlstate.js';
import { decodeUtf8Strict } from './strict-utf8.js';

const HEADER = 5;

// Postgres requests the client may answer; only these are modelled.
const AUTH_OK = 0;
const AUTH_CLEARTEXT = 3;
const AUTH_MD5 = 5;
const AUTH_SASL = 10;
const AUTH_SASL_CONTINUE = 11;
const AUTH_SASL_FINAL = 12;
// Kerberos V5, SCM credentials, GSS, GSS continue, SSPI: real methods the proxy does not speak.
const AUTH_UNSUPPORTED = new Set([2, 6, 7, 8, 9]);

export function decodeBackend(frame: BackendFrame): BackendMessage {
  const raw = frame.raw;
  checkFrame(raw, frame.code);
  const r = new BodyReader().reset(raw, HEADER, raw.length);
  let message: BackendMessage;
  switch (frame.code) {
    case 0x52:
      message = decodeAuthentication(r);
      break;
    case 0x53:
      message = { type: 'ParameterStatus', name: r.cstring(), value: r.cstring() };
      break;
    case 0x4b:
      message = { type: 'BackendKeyData', processId: r.int32(), secretKey: r.int32() };
      break;
    case 0x5a:
      message = { type: 'ReadyForQuery', status: readTransactionStatus(r) };
      break;
    case 0x54:
      message = { type: 'RowDescription', fields: readFieldDescriptions(r) };
      break;
    case 0x44:
      return { type: 'DataRow', fields: readDataRowFields(raw) };
    case 0x43:
      message = { type: 'CommandComplete', tag: r.cstring() };
      break;
    case 0x45:
      message = { type: 'ErrorResponse', fields: readErrorFields(r) };
      break;
    case 0x4e:
      message = { type: 'NoticeResponse', fields: readErrorFields(r) };
      break;
    case 0x31:
      message = { type: 'ParseComplete' };
      break;
    case 0x32:
      message = { type: 'BindComplete' };
      break;
    case 0x33:
      message = { type: 'CloseComplete' };
      break;
    case 0x6e:
      message = { type: 'NoData' };
      break;
    case 0x73:
      message = { type: 'PortalSuspended' };
      break;
    case 0x49:
      message = { type: 'EmptyQueryResponse' };
      break;
    case 0x74: {
      const count = r.uint16();
      r.need(count * 4);
      const typeOids = new Array<number>(count);
      for (let i = 0; i < count; i++) typeOids[i] = r.uint32();
      message = { type: 'ParameterDescription', typeOids };
      break;
    }
    case 0x47:
      message = { type: 'CopyInResponse', ...readCopyFormats(r) };
      break;
    case 0x48:
      message = { type: 'CopyOutResponse', ...readCopyFormats(r) };
      break;
    case 0x57:
      message = { type: 'CopyBothResponse', ...readCopyFormats(r) };
      break;
    case 0x41:
      message = { type: 'NotificationResponse', processId: r.int32(), channel: r.cstring(), payload: r.cstring() };
      break;
    default:
      return { type: 'Other', code: frame.code };
  }
  r.finish();
  return message;
}

/**
 * The fields of a DataRow frame (`raw` includes the 5-byte header) as views into it,
 * null for SQL NULL. The masking fast path: no text decoding, no copies.
 */
export function readDataRowFields(raw: Buffer): (Buffer | null)[] {
  checkFrame(raw, 0x44);
  const end = raw.length;
  if (end < HEADER + 2) throw new ProtocolError('invalid DataRow message: missing field count');
  const count = raw.readUInt16BE(HEADER);
  let pos = HEADER + 2;
  if (count * 4 > end - pos) throw new ProtocolError('invalid DataRow message: field count exceeds message');
  const fields = new Array<Buffer | null>(count);
  for (let i = 0; i < count; i++) {
    if (end - pos < 4) throw new ProtocolError('invalid DataRow message: truncated field');
    const len = raw.readInt32BE(pos);
    pos += 4;
    if (len === -1) {
      fields[i] = null;
    } else if (len < 0 || len > end - pos) {
      throw new ProtocolError(`invalid DataRow message: field length ${len}`);
    } else {
      fields[i] = raw.subarray(pos, pos + len);
      pos += len;
    }
  }
  if (pos !== end) throw new ProtocolError('invalid DataRow message: trailing bytes');
  return fields;
}

function checkFrame(raw: Buffer, code: number): void {
  if (raw.length < HEADER || raw[0] !== code || raw.readInt32BE(1) !== raw.length - 1) {
    throw new ProtocolError('invalid message frame from server');
  }
}

function decodeAuthentication(r: BodyReader): BackendMessage {
  const kind = r.int32();
  switch (kind) {
    case AUTH_OK:
      return { type: 'AuthenticationOk' };
    case AUTH_CLEARTEXT:
      return { type: 'AuthenticationCleartextPassword' };
    case AUTH_MD5:
      return { type: 'AuthenticationMD5Password', salt: r.bytes(4) };
    case AUTH_SASL: {
      const mechanisms: string[] = [];
      for (let m = r.cstring(); m !== ''; m = r.cstring()) mechanisms.push(m);
      return { type: 'AuthenticationSASL', mechanisms };
    }
    case AUTH_SASL_CONTINUE:
      return { type: 'AuthenticationSASLContinue', data: readRestAsText(r) };
    case AUTH_SASL_FINAL:
      return { type: 'AuthenticationSASLFinal', data: readRestAsText(r) };
    default:
      if (AUTH_UNSUPPORTED.has(kind)) {
        throw new ProtocolError(`unsupported authentication method ${kind} requested by server`, SqlState.FeatureNotSupported);
      }
      throw new ProtocolError(`unknown authentication request ${kind} from server`);
  }
}

function readRestAsText(r: BodyReader): string {
  const bytes = r.rest();
  return decodeUtf8Strict(bytes, 0, bytes.length);
}

function readTransactionStatus(r: BodyReader): TransactionStatus {
  const status = r.uint8();
  if (status === 0x49) return 'I';
  if (status === 0x54) return 'T';
  if (status === 0x45) return 'E';
  throw new ProtocolError(`invalid transaction status ${status} in ReadyForQuery`);
}

function readFormat(r: BodyReader): 0 | 1 {
  const format = r.int16();
  if (format !== 0 && format !== 1) throw new ProtocolError(`invalid format code ${format} from server`);
  return format;
}

function readFieldDescriptions(r: BodyReader): FieldDescription[] {
  const count = r.uint16();
  // Each field is at least a 1-byte name terminator plus 18 bytes of attributes.
  r.need(count * 19);
  const fields = new Array<FieldDescription>(count);
  for (let i = 0; i < count; i++) {
    fields[i] = {
      name: r.cstring(),
      tableOid: r.uint32(),
      columnNumber: r.int16(),
      typeOid: r.uint32(),
      typeSize: r.int16(),
      typeModifier: r.int32(),
      format: readFormat(r),
    };
  }
  return fields;
}

function readCopyFormats(r: BodyReader): { format: 0 | 1; columnFormats: (0 | 1)[] } {
  const overall = r.uint8();
  if (overall !== 0 && overall !== 1) throw new ProtocolError(`invalid copy format ${overall} from server`);
  const count = r.uint16();
  r.need(count * 2);
  const columnFormats = new Array<0 | 1>(count);
  for (let i = 0; i < count; i++) columnFormats[i] = readFormat(r);
  return { format: overall, columnFormats };
}

function readErrorFields(r: BodyReader): ErrorFields {
  const fields: Partial<ErrorFields> = {};
  for (let code = r.uint8(); code !== 0; code = r.uint8()) {
    const value = r.cstring();
    // The docs ask frontends to ignore field types they do not recognise.
    const name = ERROR_FIELD_BY_CODE.get(code);
    if (name !== undefined) fields[name] = value;
  }
  if (fields.severity === undefined || fields.code === undefined || fields.message === undefined) {
    throw new ProtocolError('error message from server lacks severity, code or message');
  }
  return fields as ErrorFields;
}
