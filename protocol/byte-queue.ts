// Receive buffer shared by the frontend and backend framers. It keeps the unread bytes
// contiguous so a frame can be returned as one subarray view, and copies only when a
// frame straddles chunks: a chunk pushed into an empty queue is adopted as is.
//
// Views handed out stay valid: bytes already returned are never overwritten (new data
// is only appended past `end`, and a full buffer is replaced, not compacted in place).
// A view keeps its whole backing chunk alive; callers that retain frames long-term
// should copy them. Callers must not mutate a chunk after pushing it.
//
// Growth follows bytes actually received, never a declared length alone: a peer that
// announces a 64 MiB message and sends five bytes gets a small buffer, not 64 MiB.
const EMPTY = Buffer.alloc(0);
const MIN_CAPACITY = 16 * 1024;

export class ByteQueue {
  buf: Buffer = EMPTY;
  start = 0;
  end = 0;
  private owned = false;
  private frameHint = 0;

  get length(): number {
    return this.end - this.start;
  }

  push(chunk: Buffer): void {
    const n = chunk.length;
    if (n === 0) return;
    if (this.start === this.end) {
      this.buf = chunk;
      this.start = 0;
      this.end = n;
      this.owned = false;
      return;
    }
    if (this.owned && this.end + n <= this.buf.length) {
      chunk.copy(this.buf, this.end);
      this.end += n;
      return;
    }
    const used = this.end - this.start;
    const needed = used + n;
    // Double for amortised copying, but never past the frame being assembled (the
    // framer has already checked its declared length against the cap).
    const growth = this.frameHint > needed ? Math.min(needed * 2, this.frameHint) : needed * 2;
    const next = Buffer.allocUnsafe(Math.max(growth, MIN_CAPACITY));
    this.buf.copy(next, 0, this.start, this.end);
    chunk.copy(next, used);
    this.buf = next;
    this.start = 0;
    this.end = needed;
    this.owned = true;
  }

  /** Tells the queue how many bytes the incomplete frame at `start` will occupy. */
  expect(frameLength: number): void {
    this.frameHint = frameLength;
  }

  /** Returns a view of the next `n` bytes and drops them from the queue. */
  take(n: number): Buffer {
    const view = this.buf.subarray(this.start, this.start + n);
    this.start += n;
    this.frameHint = 0;
    if (this.start === this.end) {
      this.buf = EMPTY;
      this.start = 0;
      this.end = 0;
      this.owned = false;
    }
    return view;
  }
}
