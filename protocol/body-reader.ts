// Bounds-checked cursor over one message body. Every read checks the remaining length
// first, so a lying count or length surfaces as ProtocolError 08P01 instead of reading
// into the next message or allocating from an attacker-chosen number.
import { ProtocolError } from './protocol-error.js';
import { decodeUtf8Strict } from './strict-utf8.js';

const EMPTY = Buffer.alloc(0);

export class BodyReader {
  private buf: Buffer = EMPTY;
  private pos = 0;
  private end = 0;

  reset(buf: Buffer, start: number, end: number): this {
    this.buf = buf;
    this.pos = start;
    this.end = end;
    return this;
  }

  /** Drops the reference to the last body, which would otherwise outlive its message. */
  release(): void {
    this.buf = EMPTY;
    this.pos = 0;
    this.end = 0;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  need(n: number): void {
    if (n > this.end - this.pos) throw new ProtocolError('invalid message format: insufficient data left in message');
  }

  uint8(): number {
    this.need(1);
    return this.buf[this.pos++] as number;
  }

  uint16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  int16(): number {
    this.need(2);
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  int32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  uint32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  /** A view, not a copy: callers forward or retain it as they see fit. */
  bytes(n: number): Buffer {
    this.need(n);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  rest(): Buffer {
    return this.bytes(this.end - this.pos);
  }

  cstring(): string {
    const nul = this.buf.indexOf(0, this.pos);
    if (nul === -1 || nul >= this.end) throw new ProtocolError('invalid message format: unterminated string');
    const s = decodeUtf8Strict(this.buf, this.pos, nul);
    this.pos = nul + 1;
    return s;
  }

  /** Postgres's pq_getmsgend: a body with bytes left over is malformed, never ignored. */
  finish(): void {
    if (this.pos !== this.end) throw new ProtocolError('invalid message format');
  }
}
