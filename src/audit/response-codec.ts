// How a response message the client saw is stored inside a `response` or
// `statement-complete` record's body, and read back. Compact tagged arrays keyed by the
// protocol's message letters, each kept as its JSON text (EncodedEvent) so a record body
// is assembled by concatenation:
//   ["T", [field, ...]]   RowDescription (every field attribute, as sent)
//   ["D", "base64"]       DataRow: the message body exactly as sent (column count, then
//                         each column's length and bytes), base64. A row is the bulk of a
//                         response: copying its bytes and base64 costs a fraction of
//                         escaping its values into JSON strings, on the proxy's hot path.
//   ["C", tag]  ["I"]  ["s"]  ["N", fields]  ["E", fields]   (s: PortalSuspended)
//   ["truncated", capBytes]   the recorder's cap was reached here
// Reading a row back needs the column formats of the RowDescription before it (a text
// column whose bytes are valid UTF-8 reads as a string, anything else as bytes), so a
// ResponseDecoder follows one statement's events in order. Rows recorded before this
// encoding (["D", [value, ...]], a string or {"b64": ...} per value) still read back.
// It must not interpret values: masking already happened, this records what was sent.
import { isUtf8 } from 'node:buffer';
import { scrubTokens } from './token-scrub.js';
import type {
  RecordedResponseEvent,
  RecordedValue,
  ResponseField,
  ResponseMessage,
  ResponseNoticeFields,
} from './store.js';

/** One event's JSON text. */
export type EncodedEvent = string;

// A session running one query again and again hands over the same frozen fields each
// time (the relay reuses them while the RowDescription's bytes repeat): encoded once.
const encodedFields = new WeakMap<readonly ResponseField[], EncodedEvent>();

/** Encodes one message as the JSON text of its event. */
export function encodeMessage(message: ResponseMessage): EncodedEvent {
  switch (message.type) {
    case 'RowDescription': {
      const known = encodedFields.get(message.fields);
      if (known !== undefined) return known;
      const encoded = JSON.stringify(['T', message.fields.map(encodeField)]);
      // Only what cannot change under the key is kept.
      if (Object.isFrozen(message.fields) && message.fields.every((f) => Object.isFrozen(f))) encodedFields.set(message.fields, encoded);
      return encoded;
    }
    case 'DataRow': {
      const body = 'body' in message ? bufferOf(message.body) : dataRowBody(message.fields);
      return `["D","${scrubRowTokens(body).toString('base64')}"]`;
    }
    case 'CommandComplete':
      return JSON.stringify(['C', message.tag]);
    case 'EmptyQueryResponse':
      return '["I"]';
    case 'PortalSuspended':
      return '["s"]';
    case 'NoticeResponse':
      return JSON.stringify(['N', pickNoticeFields(message.fields)]);
    case 'ErrorResponse':
      return JSON.stringify(['E', pickNoticeFields(message.fields)]);
    default:
      return assertNever(message);
  }
}

export function encodeTruncation(capBytes: number): EncodedEvent {
  return JSON.stringify(['truncated', capBytes]);
}

/** Bytes the message took on the wire (type byte, length, body): what the cap counts. */
export function wireSize(message: ResponseMessage): number {
  switch (message.type) {
    case 'RowDescription': {
      let n = 7;
      for (const f of message.fields) n += Buffer.byteLength(f.name, 'utf8') + 19;
      return n;
    }
    case 'DataRow': {
      if ('body' in message) return 5 + message.body.byteLength;
      let n = 7;
      for (const v of message.fields) n += 4 + (v === null ? 0 : v.byteLength);
      return n;
    }
    case 'CommandComplete':
      return 6 + Buffer.byteLength(message.tag, 'utf8');
    case 'EmptyQueryResponse':
    case 'PortalSuspended':
      return 5;
    case 'NoticeResponse':
    case 'ErrorResponse': {
      let n = 6;
      for (const v of Object.values(message.fields)) {
        if (v !== undefined) n += 2 + Buffer.byteLength(v, 'utf8');
      }
      return n;
    }
    default:
      return assertNever(message);
  }
}

function bufferOf(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * A DataRow's message body: Int16 count, then per column Int32 length (-1: NULL) and
 * bytes. protocol/'s encode.dataRow builds the same as a frame, but src/audit imports
 * nothing outside itself (the SIGKILL test runs it alone in a child process).
 */
function dataRowBody(fields: readonly (Uint8Array | null)[]): Buffer {
  let size = 2;
  for (const v of fields) size += 4 + (v === null ? 0 : v.byteLength);
  const out = Buffer.allocUnsafe(size);
  out.writeInt16BE(fields.length, 0);
  let at = 2;
  for (const v of fields) {
    if (v === null) {
      out.writeInt32BE(-1, at);
      at += 4;
      continue;
    }
    out.writeInt32BE(v.byteLength, at);
    out.set(v, at + 4);
    at += 4 + v.byteLength;
  }
  return out;
}
/** Decodes one statement's events, in order (a row needs the formats described before it). */
export class ResponseDecoder {
  private formats: readonly number[] = [];

  decode(encoded: unknown): RecordedResponseEvent {
    if (!Array.isArray(encoded)) throw new TypeError('response event: not an array');
    const [tag, arg] = encoded as [unknown, unknown];
    switch (tag) {
      case 'T': {
        const fields = arg as ResponseField[];
        this.formats = fields.map((f) => f.format);
        return { type: 'RowDescription', fields };
      }
      case 'D':
        if (typeof arg === 'string') return { type: 'DataRow', values: readDataRow(Buffer.from(arg, 'base64'), this.formats) };
        if (Array.isArray(arg)) return { type: 'DataRow', values: arg.map(decodeValue) };
        throw new TypeError('response event: bad row');
      case 'C':
        return { type: 'CommandComplete', tag: String(arg) };
      case 'I':
        return { type: 'EmptyQueryResponse' };
      case 's':
        return { type: 'PortalSuspended' };
      case 'N':
        return { type: 'NoticeResponse', fields: arg as ResponseNoticeFields };
      case 'E':
        return { type: 'ErrorResponse', fields: arg as ResponseNoticeFields };
      case 'truncated':
        return { type: 'Truncated', capBytes: Number(arg) };
      default:
        throw new TypeError(`response event: unknown tag ${String(tag)}`);
    }
  }
}

function readDataRow(body: Buffer, formats: readonly number[]): RecordedValue[] {
  if (body.length < 2) throw new TypeError('response event: short row');
  const count = body.readInt16BE(0);
  const values: RecordedValue[] = new Array(count);
  let at = 2;
  for (let i = 0; i < count; i++) {
    if (at + 4 > body.length) throw new TypeError('response event: short row');
    const len = body.readInt32BE(at);
    at += 4;
    if (len === -1) {
      values[i] = null;
      continue;
    }
    if (len < 0 || at + len > body.length) throw new TypeError('response event: bad column length');
    const bytes = body.subarray(at, at + len);
    at += len;
    values[i] = formats[i] === 0 && isUtf8(bytes) ? bytes.toString('utf8') : Buffer.from(bytes);
  }
  if (at !== body.length) throw new TypeError('response event: trailing bytes in row');
  return values;
}

function encodeField(f: ResponseField): Record<string, unknown> {
  // Copied field by field: whatever else the caller's object carries is not recorded.
  // Keys in sorted order: the record body stays canonical (records.ts).
  return {
    columnNumber: f.columnNumber,
    format: f.format,
    name: f.name,
    tableOid: f.tableOid,
    typeModifier: f.typeModifier,
    typeOid: f.typeOid,
    typeSize: f.typeSize,
  };
}

function decodeValue(value: unknown): RecordedValue {
  if (value === null || typeof value === 'string') return value;
  if (typeof value === 'object' && typeof (value as { b64?: unknown }).b64 === 'string') {
    return Buffer.from((value as { b64: string }).b64, 'base64');
  }
  throw new TypeError('response event: bad value');
}

// A notice or error may echo a value (a bound parameter, a row's text): a token in it is
// recorded as [jwt sha256:...], as in a statement's text (token-scrub.ts).
function pickNoticeFields(fields: ResponseNoticeFields): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(fields).sort()) {
    const v = fields[k];
    if (typeof v === 'string') out[k] = scrubTokens(v);
  }
  return out;
}

const JWT_MARK = Buffer.from('eyJ', 'latin1');

/**
 * The row body with every JWT-shaped run in a value replaced as scrubTokens does. Rows
 * of masked rules had them masked already (the jwt detector), but a masking-exempt rule's
 * rows, or a value the client bound and selects back, reach here as sent. Values are
 * read as latin1 (one character per byte), so bytes around a match stay as they were;
 * a row without the marker (almost all) is returned as it is.
 */
function scrubRowTokens(body: Buffer): Buffer {
  if (body.indexOf(JWT_MARK) < 0 || body.length < 2) return body;
  const count = body.readInt16BE(0);
  const values: (Buffer | null)[] = [];
  let changed = false;
  let at = 2;
  for (let i = 0; i < count; i++) {
    if (at + 4 > body.length) return body;
    const len = body.readInt32BE(at);
    at += 4;
    if (len === -1) {
      values.push(null);
      continue;
    }
    if (len < 0 || at + len > body.length) return body;
    const bytes = body.subarray(at, at + len);
    at += len;
    if (bytes.indexOf(JWT_MARK) < 0) {
      values.push(bytes);
      continue;
    }
    const text = bytes.toString('latin1');
    const scrubbed = scrubTokens(text);
    if (scrubbed === text) {
      values.push(bytes);
      continue;
    }
    changed = true;
    values.push(Buffer.from(scrubbed, 'latin1'));
  }
  return changed ? dataRowBody(values) : body;
}

function assertNever(value: never): never {
  throw new TypeError(`unexpected response message ${JSON.stringify(value)}`);
}
