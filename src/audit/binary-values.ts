// Renders a recorded result value as psql would show it. Text-format values are shown
// as received; binary-format values are decoded for common types by type OID, anything
// else (or a value whose length does not fit its type) as bytea-style hex. Display only:
// it must never be used to reinterpret what was masked.
import type { RecordedValue } from './store.js';

export const TypeOid = {
  bool: 16,
  bytea: 17,
  name: 19,
  int8: 20,
  int2: 21,
  int4: 23,
  text: 25,
  oid: 26,
  json: 114,
  float4: 700,
  float8: 701,
  bpchar: 1042,
  varchar: 1043,
  date: 1082,
  timestamp: 1114,
  timestamptz: 1184,
  numeric: 1700,
  uuid: 2950,
  jsonb: 3802,
} as const;

const RIGHT_ALIGNED: ReadonlySet<number> = new Set([
  TypeOid.int2,
  TypeOid.int4,
  TypeOid.int8,
  TypeOid.oid,
  TypeOid.float4,
  TypeOid.float8,
  TypeOid.numeric,
  28, // xid
  29, // cid
  790, // money
  5069, // xid8
]);

/** psql right-aligns numeric types. */
export function isRightAligned(typeOid: number): boolean {
  return RIGHT_ALIGNED.has(typeOid);
}

export function displayValue(value: RecordedValue, typeOid: number, format: 0 | 1): string {
  if (value === null) return '';
  if (typeof value === 'string') return value;
  const buf = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (format === 1) {
    const decoded = decodeBinary(buf, typeOid);
    if (decoded !== null) return decoded;
  }
  return `\\x${buf.toString('hex')}`;
}

// Postgres timestamps count microseconds from 2000-01-01T00:00:00Z.
const PG_EPOCH_MS = Date.UTC(2000, 0, 1);
const INT64_MAX = 0x7fffffffffffffffn;
const INT64_MIN = -0x8000000000000000n;

function decodeBinary(buf: Buffer, typeOid: number): string | null {
  switch (typeOid) {
    case TypeOid.bool:
      return buf.length === 1 ? (buf[0] === 0 ? 'f' : 't') : null;
    case TypeOid.int2:
      return buf.length === 2 ? String(buf.readInt16BE(0)) : null;
    case TypeOid.int4:
      return buf.length === 4 ? String(buf.readInt32BE(0)) : null;
    case TypeOid.oid:
      return buf.length === 4 ? String(buf.readUInt32BE(0)) : null;
    case TypeOid.int8:
      return buf.length === 8 ? String(buf.readBigInt64BE(0)) : null;
    case TypeOid.float4:
      return buf.length === 4 ? formatFloat(buf.readFloatBE(0)) : null;
    case TypeOid.float8:
      return buf.length === 8 ? formatFloat(buf.readDoubleBE(0)) : null;
    case TypeOid.text:
    case TypeOid.varchar:
    case TypeOid.bpchar:
    case TypeOid.name:
    case TypeOid.json:
      return buf.toString('utf8');
    case TypeOid.jsonb:
      // Binary jsonb is a version byte (1) followed by the JSON text.
      return buf.length >= 1 && buf[0] === 1 ? buf.subarray(1).toString('utf8') : null;
    case TypeOid.uuid: {
      if (buf.length !== 16) return null;
      const h = buf.toString('hex');
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
    }
    case TypeOid.timestamptz:
    case TypeOid.timestamp:
      return buf.length === 8 ? formatTimestamp(buf.readBigInt64BE(0), typeOid === TypeOid.timestamptz) : null;
    case TypeOid.date: {
      if (buf.length !== 4) return null;
      const days = buf.readInt32BE(0);
      if (days === 0x7fffffff) return 'infinity';
      if (days === -0x80000000) return '-infinity';
      return new Date(PG_EPOCH_MS + days * 86_400_000).toISOString().slice(0, 10);
    }
    default:
      return null;
  }
}

function formatFloat(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return 'Infinity';
  if (n === -Infinity) return '-Infinity';
  return String(n);
}

function formatTimestamp(micros: bigint, withZone: boolean): string {
  if (micros === INT64_MAX) return 'infinity';
  if (micros === INT64_MIN) return '-infinity';
  // Floor division: a timestamp before 2000 has a negative count but a positive fraction.
  const ms = micros >= 0n ? micros / 1000n : (micros - 999n) / 1000n;
  const subMs = Number(micros - ms * 1000n);
  const iso = new Date(PG_EPOCH_MS + Number(ms)).toISOString();
  const fraction = `${iso.slice(20, 23)}${String(subMs).padStart(3, '0')}`.replace(/0+$/, '');
  const text = `${iso.slice(0, 10)} ${iso.slice(11, 19)}${fraction === '' ? '' : `.${fraction}`}`;
  return withZone ? `${text}+00` : text;
}
