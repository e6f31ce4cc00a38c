// Frames on their way to one socket, gathered so that what the relay sends in one pass
// goes out in one write. A syscall and a wake-up of the peer per message cost more than
// the message (5 to 6 per extended-protocol transaction before this).
//
// Frames that sit back to back in the buffer they were read from (untouched ones,
// relayed as the views the framer returned) are joined into one view, not copied.
// Small batches are copied into one buffer and written with write(); large ones go out
// as a writev of the pieces, so a big result is never copied here. A batch past
// FLUSH_BYTES is written at once, so what a socket's backpressure sees is never more
// than that behind what the relay has produced.
import type net from 'node:net';

const FLUSH_BYTES = 64 * 1024;

export class Outbox {
  private pieces: Buffer[] = [];
  private bytes = 0;

  constructor(
    private readonly socket: net.Socket,
    /** The socket asked us to wait (write() returned false). */
    private readonly onBacklog: () => void,
  ) {}

  add(frame: Buffer): void {
    const n = this.pieces.length;
    const last = n > 0 ? this.pieces[n - 1] : undefined;
    if (last !== undefined && last.buffer === frame.buffer && last.byteOffset + last.length === frame.byteOffset) {
      this.pieces[n - 1] = Buffer.from(last.buffer, last.byteOffset, last.length + frame.length);
    } else {
      this.pieces.push(frame);
    }
    this.bytes += frame.length;
    if (this.bytes >= FLUSH_BYTES) this.flush();
  }

  flush(): void {
    if (this.bytes === 0) return;
    const pieces = this.pieces;
    const bytes = this.bytes;
    this.pieces = [];
    this.bytes = 0;
    const socket = this.socket;
    if (socket.destroyed || socket.writableEnded) return;
    let ok: boolean;
    if (pieces.length === 1) {
      ok = socket.write(pieces[0] as Buffer);
    } else if (bytes < FLUSH_BYTES) {
      ok = socket.write(Buffer.concat(pieces, bytes));
    } else {
      socket.cork();
      for (const piece of pieces) socket.write(piece);
      socket.uncork();
      ok = !socket.writableNeedDrain;
    }
    if (!ok) this.onBacklog();
  }

  /** Drops what was not written (the socket is being destroyed). */
  discard(): void {
    this.pieces = [];
    this.bytes = 0;
  }
}
