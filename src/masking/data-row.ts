// Rewrites one DataRow frame ('D', int32 length including itself, int16 field count,
// then per field int32 length, -1 for NULL, and the bytes) with some fields replaced.
// Fields without a mask are never decoded. A row with no change is returned as the same
// Buffer so the relay can forward it without a copy; a changed row is one new Buffer
// with every changed field length and the message length rewritten.
//
// The frame comes from the upstream framer, but nothing here trusts it: a wrong field
// count or a length past the end throws ProtocolError (08P01) and the row is not relayed.
import { ProtocolError } from '../../protocol/protocol-error.js';
import type { FieldMask } from './value-masker.js';

const DATA_ROW = 0x44;
const HEADER = 7; // type byte, int32 length, int16 field count

interface Change {
  lenPos: number;
  end: number;
  bytes: Buffer | null;
}

export function maskDataRowFrame(frame: Buffer, masks: readonly (FieldMask | null)[]): Buffer {
  const total = frame.length;
  if (total < HEADER || frame[0] !== DATA_ROW || frame.readInt32BE(1) !== total - 1) {
    throw new ProtocolError('invalid DataRow frame from server');
  }
  const count = frame.readUInt16BE(5);
  if (count !== masks.length) {
    throw new ProtocolError(`DataRow has ${count} fields, RowDescription ${masks.length}`);
  }
  let changes: Change[] | null = null;
  let pos = HEADER;
  for (let i = 0; i < count; i++) {
    if (total - pos < 4) throw new ProtocolError('invalid DataRow message: truncated field');
    const len = frame.readInt32BE(pos);
    const lenPos = pos;
    pos += 4;
    if (len === -1) continue;
    if (len < 0 || len > total - pos) throw new ProtocolError(`invalid DataRow message: field length ${len}`);
    const mask = masks[i];
    if (mask) {
      const r = mask(frame, pos, pos + len);
      if (r !== undefined) (changes ??= []).push({ lenPos, end: pos + len, bytes: r });
    }
    pos += len;
  }
  if (pos !== total) throw new ProtocolError('invalid DataRow message: trailing bytes');
  if (changes === null) return frame;

  let size = total;
  for (const c of changes) size += (c.bytes ? c.bytes.length : 0) - (c.end - c.lenPos - 4);
  const out = Buffer.allocUnsafe(size);
  let o = frame.copy(out, 0, 0, HEADER);
  out.writeInt32BE(size - 1, 1);
  let from = HEADER;
  for (const c of changes) {
    o += frame.copy(out, o, from, c.lenPos);
    o = out.writeInt32BE(c.bytes ? c.bytes.length : -1, o);
    if (c.bytes) o += c.bytes.copy(out, o);
    from = c.end;
  }
  frame.copy(out, o, from, total);
  return out;
}
