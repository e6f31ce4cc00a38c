// Binary-format arrays and anonymous records (array_send, record_send), masked element
// by element with each element's own type OID, which both formats carry in the value.
// Every length is bounds-checked: a value that does not parse is reported as null so the
// caller fails closed (the field becomes NULL) instead of relaying unread bytes.
//
//   array:  int32 ndim, int32 has-null flag, int32 element OID, ndim x (int32 size,
//           int32 lower bound), then per element int32 length (-1 NULL) and bytes
//   record: int32 field count, then per field int32 OID, int32 length (-1 NULL), bytes

/** Masks element `index` (of type `typeOid`): new bytes, null for NULL, undefined for unchanged. */
export type BinaryElementMask = (typeOid: number, buf: Buffer, start: number, end: number, index: number) => Buffer | null | undefined;

export const MALFORMED = Symbol('malformed');

interface Change {
  lenPos: number;
  end: number;
  bytes: Buffer | null;
}

function rebuild(buf: Buffer, start: number, end: number, changes: Change[], patch: (out: Buffer) => void): Buffer {
  let size = end - start;
  for (const c of changes) size += (c.bytes ? c.bytes.length : 0) - (c.end - c.lenPos - 4);
  const out = Buffer.allocUnsafe(size);
  let from = start;
  let o = 0;
  for (const c of changes) {
    o += buf.copy(out, o, from, c.lenPos);
    o = out.writeInt32BE(c.bytes ? c.bytes.length : -1, o);
    if (c.bytes) o += c.bytes.copy(out, o);
    from = c.end;
  }
  buf.copy(out, o, from, end);
  patch(out);
  return out;
}

/** Walks `count` length-prefixed items from `pos`; with `perItemOid` each has its type first (records). */
function maskItems(
  buf: Buffer,
  pos: number,
  end: number,
  count: number,
  fixedOid: number,
  perItemOid: boolean,
  mask: BinaryElementMask,
): { changes: Change[]; end: number } | typeof MALFORMED {
  const changes: Change[] = [];
  for (let k = 0; k < count; k++) {
    let oid = fixedOid;
    if (perItemOid) {
      if (end - pos < 4) return MALFORMED;
      oid = buf.readUInt32BE(pos);
      pos += 4;
    }
    if (end - pos < 4) return MALFORMED;
    const len = buf.readInt32BE(pos);
    const lenPos = pos;
    pos += 4;
    if (len === -1) continue;
    if (len < 0 || len > end - pos) return MALFORMED;
    const r = mask(oid, buf, pos, pos + len, k);
    pos += len;
    if (r !== undefined) changes.push({ lenPos, end: pos, bytes: r });
  }
  return { changes, end: pos };
}

export function maskBinaryArray(buf: Buffer, start: number, end: number, mask: BinaryElementMask): Buffer | undefined | typeof MALFORMED {
  if (end - start < 12) return MALFORMED;
  const ndim = buf.readInt32BE(start);
  const elemOid = buf.readUInt32BE(start + 8);
  if (ndim < 0 || ndim > 6 || end - start < 12 + ndim * 8) return MALFORMED;
  let count = ndim === 0 ? 0 : 1;
  for (let d = 0; d < ndim; d++) {
    count *= buf.readInt32BE(start + 12 + d * 8);
    // Each element takes at least its 4-byte length: a larger count is a lie.
    if (count < 0 || count > (end - start) / 4) return MALFORMED;
  }
  const r = maskItems(buf, start + 12 + ndim * 8, end, count, elemOid, false, mask);
  if (r === MALFORMED || r.end !== end) return MALFORMED;
  if (r.changes.length === 0) return undefined;
  const nulled = r.changes.some((c) => c.bytes === null);
  return rebuild(buf, start, end, r.changes, (out) => {
    if (nulled) out.writeInt32BE(1, 4);
  });
}

/** `fields`, when known (a table's row type), is the field count the record must have. */
export function maskBinaryRecord(buf: Buffer, start: number, end: number, mask: BinaryElementMask, fields?: number): Buffer | undefined | typeof MALFORMED {
  if (end - start < 4) return MALFORMED;
  const count = buf.readInt32BE(start);
  if (count < 0 || count > (end - start) / 8 || (fields !== undefined && count !== fields)) return MALFORMED;
  const r = maskItems(buf, start + 4, end, count, 0, true, mask);
  if (r === MALFORMED || r.end !== end) return MALFORMED;
  if (r.changes.length === 0) return undefined;
  return rebuild(buf, start, end, r.changes, () => {});
}
