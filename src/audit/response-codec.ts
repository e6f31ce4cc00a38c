// How a response message the client saw is stored inside a `response` record's body,
// and read back. Compact tagged arrays keyed by the protocol's message letters:
//   ["T", [field, ...]]   RowDescription (every field attribute, as sent)
//   ["D", [value, ...]]   DataRow: a string for a text-format column whose bytes are
//                         valid UTF-8 (exactly those bytes), {"b64": ...} for anything
//                         else (binary format, or unknown format), null for NULL
//   ["C", tag]  ["I"]  ["N", fields]  ["E", fields]
//   ["truncated", capBytes]   the recorder's cap was reached here
// It must not interpret values: masking already happened, this records what was sent.
import { isUtf8 } from 'node:buffer';
import type {
  RecordedResponseEvent,
  RecordedValue,
  ResponseField,
  ResponseMessage,
  ResponseNoticeFields,
} from './store.js';

export type EncodedEvent = readonly unknown[];

/** Encodes one message; `formats` are the current RowDescription's format codes. */
export function encodeMessage(message: ResponseMessage, formats: readonly (0 | 1)[] | null): EncodedEvent {
  switch (message.type) {
    case 'RowDescription':
      return ['T', message.fields.map(encodeField)];
    case 'DataRow': {
      const values: unknown[] = new Array(message.fields.length);
      for (let i = 0; i < message.fields.length; i++) {
        values[i] = encodeValue(message.fields[i] ?? null, formats?.[i]);
      }
      return ['D', values];
    }
    case 'CommandComplete':
      return ['C', message.tag];
    case 'EmptyQueryResponse':
      return ['I'];
    case 'NoticeResponse':
      return ['N', pickNoticeFields(message.fields)];
    case 'ErrorResponse':
      return ['E', pickNoticeFields(message.fields)];
    default:
      return assertNever(message);
  }
}

export function encodeTruncation(capBytes: number): EncodedEvent {
  return ['truncated', capBytes];
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
      let n = 7;
      for (const v of message.fields) n += 4 + (v === null ? 0 : v.byteLength);
      return n;
    }
    case 'CommandComplete':
      return 6 + Buffer.byteLength(message.tag, 'utf8');
    case 'EmptyQueryResponse':
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

export function decodeEvent(encoded: unknown): RecordedResponseEvent {
  if (!Array.isArray(encoded)) throw new TypeError('response event: not an array');
  const [tag, arg] = encoded as [unknown, unknown];
  switch (tag) {
    case 'T':
      return { type: 'RowDescription', fields: arg as ResponseField[] };
    case 'D':
      return { type: 'DataRow', values: (arg as unknown[]).map(decodeValue) };
    case 'C':
      return { type: 'CommandComplete', tag: String(arg) };
    case 'I':
      return { type: 'EmptyQueryResponse' };
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

function encodeValue(value: Uint8Array | null, format: 0 | 1 | undefined): unknown {
  if (value === null) return null;
  const buf = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (format === 0 && isUtf8(buf)) return buf.toString('utf8');
  return { b64: buf.toString('base64') };
}

function decodeValue(value: unknown): RecordedValue {
  if (value === null || typeof value === 'string') return value;
  if (typeof value === 'object' && typeof (value as { b64?: unknown }).b64 === 'string') {
    return Buffer.from((value as { b64: string }).b64, 'base64');
  }
  throw new TypeError('response event: bad value');
}

function pickNoticeFields(fields: ResponseNoticeFields): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(fields).sort()) {
    const v = fields[k];
    if (typeof v === 'string') out[k] = v;
  }
  return out;
}

function assertNever(value: never): never {
  throw new TypeError(`unexpected response message ${JSON.stringify(value)}`);
}
