// Strict UTF-8 decoding for wire strings. A lossy decode (U+FFFD substitution, BOM
// stripping) would let the policy read a different text than the server executes, so
// anything that is not well-formed UTF-8 is rejected with 22021, as Postgres does.
// Buffer#toString('utf8') keeps a leading BOM, unlike TextDecoder's default.
import { isUtf8 } from 'node:buffer';
import { ProtocolError } from './protocol-error.js';
import { SqlState } from './sqlstate.js';

export function decodeUtf8Strict(buf: Buffer, start: number, end: number): string {
  if (start === end) return '';
  if (!isAscii(buf, start, end) && !isUtf8(buf.subarray(start, end))) {
    throw new ProtocolError('invalid byte sequence for encoding "UTF8"', SqlState.CharacterNotInRepertoire);
  }
  return buf.toString('utf8', start, end);
}

// Most identifiers and SQL are short ASCII; checking them inline avoids a native call.
function isAscii(buf: Buffer, start: number, end: number): boolean {
  if (end - start > 64) return false;
  for (let i = start; i < end; i++) {
    if ((buf[i] as number) > 0x7f) return false;
  }
  return true;
}
