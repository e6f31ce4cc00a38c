// Captures one statement's response as the client saw it, capped, and hands it to the
// store in chunks. Store-agnostic: the store supplies a sink that queues the records.
// The hot path is `add`: an encode and an array push, no I/O and no clock. It never
// throws on a late message (a session bug must not take the connection down with it).
import { encodeMessage, encodeTruncation, wireSize, type EncodedEvent } from './response-codec.js';
import { responseChunkRecord, statementCompleteRecord, type PendingRecord } from './records.js';
import type { ResponseMessage, ResponseRecorder, ResponseRecorderOptions, StatementCompletion } from './store.js';

export const DEFAULT_RESPONSE_CAP_BYTES = 256 * 1024;
// A long result is written in pieces, so a flush (or a crash) keeps what was sent so far
// and no single record gets large.
const CHUNK_BYTES = 64 * 1024;

export interface RecorderSink {
  /** Queues a record on the batched path, built when written; `at` is the write time. */
  emit(record: (at: number) => PendingRecord): void;
  /** The recorder has ended and will emit nothing more. */
  ended(recorder: CappedResponseRecorder): void;
}

export class CappedResponseRecorder implements ResponseRecorder {
  readonly sessionId: string;
  readonly statementId: string;
  private readonly capBytes: number;
  private readonly sink: RecorderSink;
  private pending: EncodedEvent[] = [];
  private pendingBytes = 0;
  private chunk = 0;
  private recordedBytes = 0;
  private droppedRows = 0;
  private droppedMessages = 0;
  private droppedBytes = 0;
  private isTruncated = false;
  private isEnded = false;

  constructor(options: ResponseRecorderOptions, sink: RecorderSink) {
    this.sessionId = options.sessionId;
    this.statementId = options.statementId;
    this.capBytes = options.capBytes ?? DEFAULT_RESPONSE_CAP_BYTES;
    this.sink = sink;
  }

  get truncated(): boolean {
    return this.isTruncated;
  }

  add(message: ResponseMessage): void {
    if (this.isEnded) return;
    const size = wireSize(message);
    // An ErrorResponse says how the statement ended: always kept, whatever the cap.
    if (message.type !== 'ErrorResponse') {
      if (!this.isTruncated && this.recordedBytes + size > this.capBytes) {
        this.isTruncated = true;
        this.push(encodeTruncation(this.capBytes), 0);
      }
      if (this.isTruncated) {
        if (message.type === 'DataRow') this.droppedRows++;
        else this.droppedMessages++;
        this.droppedBytes += size;
        return;
      }
    }
    this.recordedBytes += size;
    this.push(encodeMessage(message), size);
  }

  end(completion: StatementCompletion): void {
    if (this.isEnded) return;
    this.isEnded = true;
    const events = this.pending;
    const chunk = this.chunk++;
    this.pending = [];
    this.pendingBytes = 0;
    const summary = {
      recordedBytes: this.recordedBytes,
      truncated: this.isTruncated,
      droppedRows: this.droppedRows,
      droppedMessages: this.droppedMessages,
      droppedBytes: this.droppedBytes,
    };
    this.sink.emit(() =>
      statementCompleteRecord(this.sessionId, this.statementId, completion, summary, chunk, events),
    );
    this.sink.ended(this);
  }

  /** Emits what was captured so far (the store's flush); the recorder stays open. */
  emitChunk(): void {
    if (this.pending.length === 0) return;
    const events = this.pending;
    const chunk = this.chunk++;
    this.pending = [];
    this.pendingBytes = 0;
    this.sink.emit((at) => responseChunkRecord(this.sessionId, this.statementId, at, chunk, events));
  }

  private push(event: EncodedEvent, size: number): void {
    this.pending.push(event);
    this.pendingBytes += size;
    if (this.pendingBytes >= CHUNK_BYTES) this.emitChunk();
  }
}
