// How masking treats each PostgreSQL type, by the type OID RowDescription reports (a
// domain is reported as its base type). Built-in OIDs are fixed (pg_type.dat); anything
// else (enums, extension types such as citext or hstore, composite types) is `other`.
//
//   string   text, varchar, bpchar, name, "unknown", xml: the value is its text, in
//            both formats; detectors mask in place
//   json     json: JSON text in both formats
//   jsonb    text format JSON text; binary format a version byte (1) then JSON text
//   array    element type from the array header (binary) or ARRAY_ELEMENT (text)
//   record   anonymous composite (SELECT t FROM traces t): fields masked one by one
//   number   int8, numeric: a card number fits; on a hit the field becomes NULL
//   inet     inet, cidr: an address is the whole value; on a hit the field becomes NULL
//   bytes    bytea: scanned as bytes; on a hit the field becomes NULL
//   safe     types whose value cannot spell a detected secret (bool, int4, timestamps,
//            uuid, ...): relayed untouched unless a column rule names them
//   other    unknown OIDs: text format masked in place as text; binary format scanned
//            as bytes, and NULL on a hit, since its layout is unknown
// A column rule on anything but string/json/jsonb makes the field NULL: a strategy's
// text output would not parse as the column's type in the client.
export type ValueKind = 'string' | 'json' | 'jsonb' | 'array' | 'record' | 'number' | 'inet' | 'bytes' | 'safe' | 'other';

export const Oid = {
  bool: 16,
  bytea: 17,
  char: 18,
  name: 19,
  int8: 20,
  int2: 21,
  int4: 23,
  text: 25,
  oid: 26,
  json: 114,
  xml: 142,
  cidr: 650,
  inet: 869,
  unknown: 705,
  bpchar: 1042,
  varchar: 1043,
  numeric: 1700,
  record: 2249,
  jsonb: 3802,
  textArray: 1009,
  varcharArray: 1015,
  bpcharArray: 1014,
  nameArray: 1003,
  jsonArray: 199,
  jsonbArray: 3807,
  int8Array: 1016,
  numericArray: 1231,
  inetArray: 1041,
  cidrArray: 651,
  byteaArray: 1001,
  recordArray: 2287,
  xmlArray: 143,
  int4Array: 1007,
} as const;

const KINDS = new Map<number, ValueKind>([
  [Oid.text, 'string'],
  [Oid.varchar, 'string'],
  [Oid.bpchar, 'string'],
  [Oid.name, 'string'],
  [Oid.unknown, 'string'],
  [Oid.xml, 'string'],
  [Oid.json, 'json'],
  [Oid.jsonb, 'jsonb'],
  [Oid.record, 'record'],
  [Oid.int8, 'number'],
  [Oid.numeric, 'number'],
  [Oid.inet, 'inet'],
  [Oid.cidr, 'inet'],
  [Oid.bytea, 'bytes'],
]);

/** Array type OID -> element type OID, for the text format (binary arrays carry it). */
export const ARRAY_ELEMENT: ReadonlyMap<number, number> = new Map([
  [Oid.textArray, Oid.text],
  [Oid.varcharArray, Oid.varchar],
  [Oid.bpcharArray, Oid.bpchar],
  [Oid.nameArray, Oid.name],
  [Oid.jsonArray, Oid.json],
  [Oid.jsonbArray, Oid.jsonb],
  [Oid.int8Array, Oid.int8],
  [Oid.numericArray, Oid.numeric],
  [Oid.inetArray, Oid.inet],
  [Oid.cidrArray, Oid.cidr],
  [Oid.byteaArray, Oid.bytea],
  [Oid.recordArray, Oid.record],
  [Oid.xmlArray, Oid.xml],
  [1000, 16], // bool[]
  [1002, 18], // "char"[]
  [1005, 21], // int2[]
  [Oid.int4Array, Oid.int4],
  [1028, 26], // oid[]
  [1021, 700], // float4[]
  [1022, 701], // float8[]
  [1182, 1082], // date[]
  [1183, 1083], // time[]
  [1115, 1114], // timestamp[]
  [1185, 1184], // timestamptz[]
  [1187, 1186], // interval[]
  [1270, 1266], // timetz[]
  [2951, 2950], // uuid[]
]);

// Value texts made of digits, signs, dates, hex or geometry only. int8 and numeric are
// absent on purpose (16 digits fit), as are types a user could fill with prose.
const SAFE = new Set<number>([
  16, 18, 21, 23, 24, 26, 27, 28, 29, // bool "char" int2 int4 regproc oid tid xid cid
  600, 601, 602, 603, 604, 628, 718, // geometric
  700, 701, 790, // float4 float8 money
  774, 829, // macaddr8 macaddr
  1082, 1083, 1114, 1184, 1186, 1266, // date/time
  1560, 1562, // bit varbit
  2202, 2203, 2204, 2205, 2206, 3734, 3769, 4089, 4096, // reg* (catalog names)
  2950, // uuid
  3220, 5069, 5038, 2970, // pg_lsn xid8 pg_snapshot txid_snapshot
  3904, 3906, 3908, 3910, 3912, 3926, // ranges
]);

/** OIDs below this are built in (FirstNormalObjectId): never a table's row type. */
export const FIRST_NORMAL_OID = 16384;

export function valueKind(typeOid: number): ValueKind {
  const k = KINDS.get(typeOid);
  if (k !== undefined) return k;
  if (ARRAY_ELEMENT.has(typeOid)) return 'array';
  if (SAFE.has(typeOid)) return 'safe';
  return 'other';
}
