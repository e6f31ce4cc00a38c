// The default AuditStore: one SQLite file through better-sqlite3 (sqlite-connection.ts).
//
// Write paths (store.ts explains the contract):
// - durable records are queued and committed together on the next turn of the event
//   loop (group commit): every decision made in one I/O phase shares one transaction,
//   and each caller's promise settles only after that commit.
// - batched records (responses, completions, revocations, session ends) are committed
//   every `flushIntervalMs`, or sooner when `maxBatchRecords` are waiting. A failed
//   batch stays queued, in order, and is retried; nothing is dropped.
//
// Failure and recovery: any failed write closes the handle and marks the store
// unavailable for `retryAfterMs`; durable writes in that window reject at once with
// AuditUnavailableError (fail closed, cheaply). The next write after it reopens the file,
// so the store recovers by itself once the disk is writable again: a handle that SQLite
// opened read-only, or whose file went away, is never reused.
import { performance } from 'node:perf_hooks';
import type Database from 'better-sqlite3';
import { AuditUnavailableError } from './audit-unavailable-error.js';
import {
  grantRevokeRecord,
  sessionEndRecord,
  type PendingRecord,
} from './records.js';
import { DurableRecordWriter } from './durable-writer.js';
import { CappedResponseRecorder, type RecorderSink } from './response-recorder.js';
import { pruneChain, verifyChain } from './sqlite-chain-audit.js';
import { SqliteConnection, type SynchronousMode } from './sqlite-connection.js';
import * as reader from './sqlite-reader.js';
import type {
  AuditStore,
  ExportLine,
  GrantQuery,
  GrantRevoke,
  GrantView,
  PruneReport,
  ResponseRecorder,
  ResponseRecorderOptions,
  SessionDetail,
  SessionEnd,
  SessionQuery,
  SessionSummary,
  VerifyReport,
} from './store.js';

export interface SqliteStoreOptions {
  readonly path: string;
  /** NORMAL (default): survives SIGKILL of the proxy. FULL: also survives power loss. */
  readonly synchronous?: SynchronousMode;
  /** How long a write waits for a lock held by another process (the CLI); default 1000. */
  readonly busyTimeoutMs?: number;
  /** Default 50. */
  readonly flushIntervalMs?: number;
  /** Default 500. */
  readonly maxBatchRecords?: number;
  /** After a failed write, durable writes fail fast for this long; default 100. */
  readonly retryAfterMs?: number;
  /** Refuse to create the file (CLI commands on an existing store). */
  readonly mustExist?: boolean;
  /** Stamps response chunks written by a flush; default Date.now. */
  readonly now?: () => number;
  /** Told about failures no caller sees (a batch that could not be written). */
  readonly onError?: (err: unknown, context: string) => void;
}

type Batched = PendingRecord | ((at: number) => PendingRecord);

interface DurableWaiter {
  readonly records: readonly PendingRecord[];
  readonly resolve: () => void;
  readonly reject: (err: AuditUnavailableError) => void;
}

/** Opens (creating and migrating if needed) the store; throws if the file cannot be used. */
export async function openSqliteStore(options: SqliteStoreOptions): Promise<SqliteAuditStore> {
  return new SqliteAuditStore(options);
}

export class SqliteAuditStore extends DurableRecordWriter implements AuditStore, RecorderSink {
  private readonly options: Required<Omit<SqliteStoreOptions, 'onError'>> & Pick<SqliteStoreOptions, 'onError'>;
  private conn: SqliteConnection | null;
  private closed = false;
  private unavailableUntil = 0;
  private lastError: unknown = null;
  private durableQueue: DurableWaiter[] = [];
  private durableScheduled = false;
  private batchQueue: Batched[] = [];
  private batchTimer: NodeJS.Timeout | null = null;
  private readonly openRecorders = new Set<CappedResponseRecorder>();

  constructor(options: SqliteStoreOptions) {
    super();
    this.options = {
      path: options.path,
      synchronous: options.synchronous ?? 'NORMAL',
      busyTimeoutMs: options.busyTimeoutMs ?? 1000,
      flushIntervalMs: options.flushIntervalMs ?? 50,
      maxBatchRecords: options.maxBatchRecords ?? 500,
      retryAfterMs: options.retryAfterMs ?? 100,
      mustExist: options.mustExist ?? false,
      now: options.now ?? Date.now,
      onError: options.onError,
    };
    // Opened eagerly so that a misconfigured path fails at start, not at the first query.
    this.conn = this.openConnection();
  }

  // ---- durable path ---------------------------------------------------------------

  protected override durable(records: readonly PendingRecord[]): Promise<void> {
    if (this.closed) return Promise.reject(new AuditUnavailableError('audit store is closed'));
    return new Promise((resolve, reject) => {
      this.durableQueue.push({ records, resolve, reject });
      if (!this.durableScheduled) {
        this.durableScheduled = true;
        setImmediate(this.commitDurable);
      }
    });
  }

  private readonly commitDurable = (): void => {
    this.durableScheduled = false;
    const waiters = this.durableQueue;
    if (waiters.length === 0) return;
    this.durableQueue = [];
    const records = waiters.length === 1 ? (waiters[0] as DurableWaiter).records : waiters.flatMap((w) => w.records);
    try {
      this.write(records);
    } catch (err) {
      const failure = asUnavailable(err);
      for (const w of waiters) w.reject(failure);
      return;
    }
    for (const w of waiters) w.resolve();
  };

  // ---- batched path ---------------------------------------------------------------

  openResponse(options: ResponseRecorderOptions): ResponseRecorder {
    const recorder = new CappedResponseRecorder(options, this);
    this.openRecorders.add(recorder);
    return recorder;
  }

  recordGrantRevoked(revoke: GrantRevoke): void {
    this.emit(() => grantRevokeRecord(revoke));
  }

  recordSessionEnd(end: SessionEnd): void {
    // Statements the session left open will never end: keep what they captured.
    for (const r of this.openRecorders) {
      if (r.sessionId === end.sessionId) {
        r.emitChunk();
        this.openRecorders.delete(r);
      }
    }
    this.emit(() => sessionEndRecord(end));
  }

  /** RecorderSink: records are built when the batch is written, off the hot path. */
  emit(record: Batched): void {
    if (this.closed) {
      this.options.onError?.(new AuditUnavailableError('audit store is closed'), 'record after close');
      return;
    }
    this.batchQueue.push(record);
    if (this.batchQueue.length >= this.options.maxBatchRecords) this.scheduleBatch(0);
    else if (this.batchTimer === null) this.scheduleBatch(this.options.flushIntervalMs);
  }

  ended(recorder: CappedResponseRecorder): void {
    this.openRecorders.delete(recorder);
  }

  private scheduleBatch(delayMs: number): void {
    if (this.batchTimer !== null) {
      if (delayMs > 0) return;
      clearTimeout(this.batchTimer);
    }
    this.batchTimer = setTimeout(this.runBatch, delayMs);
    this.batchTimer.unref();
  }

  private readonly runBatch = (): void => {
    this.batchTimer = null;
    if (!this.writeBatch() && this.batchQueue.length > 0) {
      this.scheduleBatch(Math.max(this.options.flushIntervalMs, this.options.retryAfterMs));
    }
  };

  /** Writes the whole batch queue; false (records kept, in order) when it failed. */
  private writeBatch(): boolean {
    if (this.batchQueue.length === 0) return true;
    const at = this.options.now();
    // Built once: a retry must write the same bytes with the same timestamps.
    const records = this.batchQueue.map((r) => (typeof r === 'function' ? r(at) : r));
    this.batchQueue = records;
    try {
      this.write(records);
    } catch (err) {
      this.options.onError?.(err, `audit batch of ${records.length} records not written yet`);
      return false;
    }
    // Records queued during the write cannot exist (it is synchronous), so all are done.
    this.batchQueue = [];
    return true;
  }

  // ---- flush and close ------------------------------------------------------------

  async flush(): Promise<void> {
    for (const r of this.openRecorders) r.emitChunk();
    this.commitDurable();
    if (!this.writeBatch()) {
      throw new AuditUnavailableError(`audit store: ${this.batchQueue.length} records not written`, {
        cause: this.lastError,
      });
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.flush();
    } finally {
      this.closed = true;
      if (this.batchTimer !== null) clearTimeout(this.batchTimer);
      this.batchTimer = null;
      this.conn?.close();
      this.conn = null;
    }
  }

  // ---- read side ------------------------------------------------------------------

  async listSessions(query: SessionQuery): Promise<SessionSummary[]> {
    return reader.listSessions(this.readDb(), query);
  }

  async getSession(sessionId: string): Promise<SessionDetail | null> {
    return reader.getSession(this.readDb(), sessionId);
  }

  async grantHistory(query: GrantQuery): Promise<GrantView[]> {
    return reader.grantHistory(this.readDb(), query);
  }

  exportSince(since: number): AsyncIterable<ExportLine> {
    return reader.exportSince(() => this.readDb(), since);
  }

  async verify(): Promise<VerifyReport> {
    await this.flush();
    return verifyChain(() => this.readDb());
  }

  async prune(before: number): Promise<PruneReport> {
    await this.flush();
    try {
      return await pruneChain(() => this.connection(), before, this.options.now());
    } catch (err) {
      this.fail(err);
      throw asUnavailable(err);
    }
  }

  // ---- the handle -----------------------------------------------------------------

  private write(records: readonly PendingRecord[]): void {
    const conn = this.connection();
    try {
      conn.append(records);
    } catch (err) {
      this.fail(err);
      throw new AuditUnavailableError('audit store cannot record', { cause: err });
    }
  }

  private readDb(): Database.Database {
    return this.connection().db;
  }

  private connection(): SqliteConnection {
    if (this.closed) throw new AuditUnavailableError('audit store is closed');
    if (this.conn !== null) return this.conn;
    if (performance.now() < this.unavailableUntil) {
      throw new AuditUnavailableError('audit store unavailable', { cause: this.lastError });
    }
    try {
      this.conn = this.openConnection();
    } catch (err) {
      this.fail(err);
      throw new AuditUnavailableError('audit store cannot be opened', { cause: err });
    }
    return this.conn;
  }

  private openConnection(): SqliteConnection {
    return new SqliteConnection({
      path: this.options.path,
      synchronous: this.options.synchronous,
      busyTimeoutMs: this.options.busyTimeoutMs,
      mustExist: this.options.mustExist,
    });
  }

  private fail(err: unknown): void {
    this.lastError = err;
    this.unavailableUntil = performance.now() + this.options.retryAfterMs;
    try {
      this.conn?.close();
    } catch (closeErr) {
      this.options.onError?.(closeErr, 'closing a failed audit store handle');
    }
    this.conn = null;
  }
}

function asUnavailable(err: unknown): AuditUnavailableError {
  return err instanceof AuditUnavailableError
    ? err
    : new AuditUnavailableError('audit store cannot record', { cause: err });
}
