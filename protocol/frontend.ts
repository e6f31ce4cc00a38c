// Framing and decoding of what a client sends. Two phases, as in Postgres: untyped
// length-prefixed startup packets (StartupMessage, SSLRequest, GSSENCRequest,
// CancelRequest), then typed messages. Every length is checked against a cap before
// anything is buffered for it, every body is consumed exactly, and every string is
// strict UTF-8. This module decodes only: it never answers, never decides.
import { BodyReader } from './body-reader.js';
import { ByteQueue } from './byte-queue.js';
import { decodeStartupPacket, decodeTypedMessage, FRONTEND_LENGTH_LIMITS, MAX_STARTUP_PACKET_LENGTH } from './frontend-decode.js';
import { ProtocolError } from './protocol-error.js';

export type FrontendMessage =
  | { type: 'StartupMessage'; protocolVersion: number; parameters: Record<string, string> }
  | { type: 'SSLRequest' }
  | { type: 'GSSENCRequest' }
  | { type: 'CancelRequest'; processId: number; secretKey: number }
  | { type: 'PasswordMessage'; data: Buffer }
  | { type: 'Query'; sql: string }
  | { type: 'Parse'; name: string; sql: string; paramTypes: number[] }
  | {
      type: 'Bind';
      portal: string;
      statement: string;
      paramFormats: number[];
      params: (Buffer | null)[];
      resultFormats: number[];
    }
  | { type: 'Describe'; kind: 'S' | 'P'; name: string }
  | { type: 'Execute'; portal: string; maxRows: number }
  | { type: 'Close'; kind: 'S' | 'P'; name: string }
  | { type: 'Sync' }
  | { type: 'Flush' }
  | { type: 'Terminate' }
  | { type: 'FunctionCall'; functionOid: number; argFormats: number[]; args: (Buffer | null)[]; resultFormat: number }
  | { type: 'CopyData'; data: Buffer }
  | { type: 'CopyDone' }
  | { type: 'CopyFail'; message: string };

export type FrontendMessageType = FrontendMessage['type'];

/** `raw` is the exact frame (type byte, length, body) as a view, for untouched relaying. */
export interface FrontendFrame {
  message: FrontendMessage;
  raw: Buffer;
}

export type FrontendPhase = 'startup' | 'typed';

export {
  readCleartextPassword,
  FrontendCode,
  MAX_STARTUP_PACKET_LENGTH,
  SMALL_MESSAGE_LIMIT,
  MAX_AUTH_MESSAGE_LENGTH,
} from './frontend-decode.js';

function checkedLimit(maxMessageBytes: number): number {
  if (!Number.isSafeInteger(maxMessageBytes) || maxMessageBytes < 5) throw new RangeError('maxMessageBytes must be an integer of at least 5');
  return maxMessageBytes;
}

export class FrontendReader {
  private readonly queue = new ByteQueue();
  private readonly body = new BodyReader();
  private maxMessageBytes: number;
  private currentPhase: FrontendPhase = 'startup';
  // After the first malformed frame the stream position is meaningless; every later
  // call fails the same way instead of resynchronising on attacker-chosen bytes.
  private failure: ProtocolError | null = null;

  constructor(opts: { maxMessageBytes: number }) {
    this.maxMessageBytes = checkedLimit(opts.maxMessageBytes);
  }

  /** The length limit for messages from now on (login reads under a lower one than the session). */
  setMaxMessageBytes(maxMessageBytes: number): void {
    this.maxMessageBytes = checkedLimit(maxMessageBytes);
  }

  get phase(): FrontendPhase {
    return this.currentPhase;
  }

  /** Bytes received but not yet returned by read(). */
  get buffered(): number {
    return this.queue.length;
  }

  push(chunk: Buffer): void {
    if (this.failure) throw this.failure;
    this.queue.push(chunk);
  }

  /** The next complete frame, or null when more bytes are needed. Throws ProtocolError. */
  read(): FrontendFrame | null {
    if (this.failure) throw this.failure;
    try {
      return this.currentPhase === 'startup' ? this.readStartup() : this.readTyped();
    } catch (err) {
      if (err instanceof ProtocolError) this.failure = err;
      throw err;
    }
  }

  private readStartup(): FrontendFrame | null {
    const q = this.queue;
    if (q.end - q.start < 4) return null;
    const len = q.buf.readInt32BE(q.start);
    if (len < 8 || len > MAX_STARTUP_PACKET_LENGTH) throw new ProtocolError('invalid length of startup packet');
    if (q.end - q.start < len) {
      q.expect(len);
      return null;
    }
    const raw = q.take(len);
    const message = decodeStartupPacket(this.body.reset(raw, 0, len));
    this.body.release();
    if (message.type === 'StartupMessage') this.currentPhase = 'typed';
    return { message, raw };
  }

  private readTyped(): FrontendFrame | null {
    const q = this.queue;
    const avail = q.end - q.start;
    if (avail < 1) return null;
    const code = q.buf[q.start] as number;
    const typeLimit = FRONTEND_LENGTH_LIMITS[code] as number;
    // Checked on the first byte so garbage is refused before any of it is buffered.
    if (typeLimit === 0) throw new ProtocolError(`invalid frontend message type ${code}`);
    if (avail < 5) return null;
    const len = q.buf.readInt32BE(q.start + 1);
    if (len < 4 || len > Math.min(typeLimit, this.maxMessageBytes)) {
      throw new ProtocolError(`invalid message length ${len} for message type ${code}`);
    }
    const total = len + 1;
    if (avail < total) {
      q.expect(total);
      return null;
    }
    const raw = q.take(total);
    const message = decodeTypedMessage(code, this.body.reset(raw, 5, total));
    // An idle session would otherwise hold its last message's bytes (after login, the
    // PasswordMessage with the client's token) for as long as it stays connected.
    this.body.release();
    return { message, raw };
  }
}
