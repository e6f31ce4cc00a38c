// Framing of what the upstream server sends, and the decoded shapes of those messages.
// The relay forwards most frames untouched as `raw`; only the few the session must
// understand are decoded (decodeBackend), and DataRow has a fast path for masking.
import { ByteQueue } from './byte-queue.js';
import type { ErrorFields } from './error-fields.js';
import { ProtocolError } from './protocol-error.js';

export type { ErrorFields } from './error-fields.js';
export { decodeBackend, readDataRowFields } from './backend-decode.js';

export const BackendCode = {
  Authentication: 0x52, // R
  ParameterStatus: 0x53, // S
  BackendKeyData: 0x4b, // K
  ReadyForQuery: 0x5a, // Z
  RowDescription: 0x54, // T
  DataRow: 0x44, // D
  CommandComplete: 0x43, // C
  ErrorResponse: 0x45, // E
  NoticeResponse: 0x4e, // N
  ParseComplete: 0x31, // 1
  BindComplete: 0x32, // 2
  CloseComplete: 0x33, // 3
  NoData: 0x6e, // n
  PortalSuspended: 0x73, // s
  EmptyQueryResponse: 0x49, // I
  ParameterDescription: 0x74, // t
  CopyInResponse: 0x47, // G
  CopyOutResponse: 0x48, // H
  CopyBothResponse: 0x57, // W
  CopyData: 0x64, // d
  CopyDone: 0x63, // c
  NotificationResponse: 0x41, // A
  FunctionCallResponse: 0x56, // V
  NegotiateProtocolVersion: 0x76, // v
} as const;

export interface FieldDescription {
  name: string;
  tableOid: number;
  columnNumber: number;
  typeOid: number;
  typeSize: number;
  typeModifier: number;
  format: 0 | 1;
}

export type TransactionStatus = 'I' | 'T' | 'E';

export type BackendMessage =
  | { type: 'AuthenticationOk' }
  | { type: 'AuthenticationCleartextPassword' }
  | { type: 'AuthenticationMD5Password'; salt: Buffer }
  | { type: 'AuthenticationSASL'; mechanisms: string[] }
  | { type: 'AuthenticationSASLContinue'; data: string }
  | { type: 'AuthenticationSASLFinal'; data: string }
  | { type: 'ParameterStatus'; name: string; value: string }
  | { type: 'BackendKeyData'; processId: number; secretKey: number }
  | { type: 'ReadyForQuery'; status: TransactionStatus }
  | { type: 'RowDescription'; fields: FieldDescription[] }
  // Raw field bytes, never decoded as text: binary-format results must survive the relay.
  | { type: 'DataRow'; fields: (Buffer | null)[] }
  | { type: 'CommandComplete'; tag: string }
  | { type: 'ErrorResponse'; fields: ErrorFields }
  | { type: 'NoticeResponse'; fields: ErrorFields }
  | { type: 'ParseComplete' }
  | { type: 'BindComplete' }
  | { type: 'CloseComplete' }
  | { type: 'NoData' }
  | { type: 'PortalSuspended' }
  | { type: 'EmptyQueryResponse' }
  | { type: 'ParameterDescription'; typeOids: number[] }
  | { type: 'CopyInResponse'; format: 0 | 1; columnFormats: (0 | 1)[] }
  | { type: 'CopyOutResponse'; format: 0 | 1; columnFormats: (0 | 1)[] }
  | { type: 'CopyBothResponse'; format: 0 | 1; columnFormats: (0 | 1)[] }
  | { type: 'NotificationResponse'; processId: number; channel: string; payload: string }
  // Anything else (CopyData, FunctionCallResponse, ...): framed and relayable, not decoded.
  | { type: 'Other'; code: number };

export type BackendMessageType = BackendMessage['type'];

/** `raw` is the exact frame (type byte, length, body) as a view. */
export interface BackendFrame {
  code: number;
  raw: Buffer;
}

export class BackendReader {
  private readonly queue = new ByteQueue();
  private readonly maxMessageBytes: number;
  private failure: ProtocolError | null = null;

  constructor(opts: { maxMessageBytes: number }) {
    if (!Number.isSafeInteger(opts.maxMessageBytes) || opts.maxMessageBytes < 5) {
      throw new RangeError('maxMessageBytes must be an integer of at least 5');
    }
    this.maxMessageBytes = opts.maxMessageBytes;
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
  read(): BackendFrame | null {
    if (this.failure) throw this.failure;
    const q = this.queue;
    const avail = q.end - q.start;
    if (avail < 5) return null;
    const len = q.buf.readInt32BE(q.start + 1);
    if (len < 4 || len > this.maxMessageBytes) {
      // A lost frame boundary cannot be recovered: every later read fails the same way.
      this.failure = new ProtocolError(`invalid message length ${len} from server`);
      throw this.failure;
    }
    const total = len + 1;
    if (avail < total) {
      q.expect(total);
      return null;
    }
    const code = q.buf[q.start] as number;
    return { code, raw: q.take(total) };
  }
}
