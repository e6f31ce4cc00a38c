// The default AuditStore: one SQLite file through better-sqlite3.
//
// Writes go to a writer thread (sqlite-writer-thread.ts) that owns the write handle, so
// commits, hashing and WAL checkpoints (fsync) never stall the proxy's event loop. This
// thread keeps a handle of its own for reads, verify and prune (WAL: readers see every
// committed record and never block the writer; prune takes the write lock like the CLI).
//
// Write paths (store.ts explains the contract):
// - durable records are written to the journal (durable-journal.ts) with one write() and
//   the caller goes on; they then travel with the batched records, and the writer moves
//   them into the chain. With synchronous=FULL, for CLI commands, and while the writer
//   reports failures, they are instead handed over together on the next turn of the event
//   loop, and the writer commits everything waiting in one transaction (group commit);
//   each caller's promise settles only after that commit.
// - batched records (responses, completions, revocations, session ends) are built as
//   they come and handed over every `flushIntervalMs`, or sooner when `maxBatchRecords`
//   or 256 KiB of them are waiting. The writer keeps a failed batch, in order, and retries
//   it; nothing is dropped.
//
// Failure and recovery: a failed write closes the writer's handle and marks the store
// unavailable for `retryAfterMs`; durable writes in that window reject at once with
// AuditUnavailableError (fail closed, cheaply). The next write after it reopens the file,
// so the store recovers by itself once the disk is writable again. While the writer
// reports failures, durable records are not journaled: they wait for the commit, so a
// statement is refused for a store that cannot take its record (a journaled record that
// the writer could not commit stays in the journal and the writer's retries). If the
// writer thread itself dies, everything waiting on it is refused, and the next write
// starts a new one, handed first the journal's entries the old one had not committed.
import { realpathSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import { AuditUnavailableError } from './audit-unavailable-error.js';
import {
  clearJournal,
  DurableJournal,
  JournalBusyError,
  lockJournal,
  readJournal,
  releaseJournalLock,
} from './durable-journal.js';
import { grantRevokeRecord, sessionEndRecord, type PendingRecord } from './records.js';
import { DurableRecordWriter } from './durable-writer.js';
import { CappedResponseRecorder, type RecorderSink } from './response-recorder.js';
import { pruneChain, verifyChain } from './sqlite-chain-audit.js';
import { SqliteConnection, type SynchronousMode } from './sqlite-connection.js';
import * as reader from './sqlite-reader.js';
import {
  JOURNAL_ENTRY,
  RECORD_COLUMNS,
  resolveSqliteModule,
  writerThreadSource,
  type RecordColumn,
  type WriteAnswer,
  type WriteRequest,
  type WriterConfig,
  type WriterError,
} from './sqlite-writer-thread.js';
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
  /**
   * Default 5. The writer commits batched records with the next durable ones, so that
   * decision waits for all of them: at 50 ms, one point read in fifty at one client
   * waited for fifty statements' responses (1-client p99 +3.0-3.8 ms; at 5 ms +2.0 ms,
   * alternating A/B through the proxy, CPU per statement unchanged within the noise).
   */
  readonly flushIntervalMs?: number;
  /** Default 500. */
  readonly maxBatchRecords?: number;
  /** After a failed write, durable writes fail fast for this long; default 100. */
  readonly retryAfterMs?: number;
  /** Refuse to create the file (CLI commands on an existing store). */
  readonly mustExist?: boolean;
  /** Stamps response chunks handed to the writer; default Date.now. */
  readonly now?: () => number;
  /** Told about failures no caller sees (a batch that could not be written). */
  readonly onError?: (err: unknown, context: string) => void;
}

type Batched = PendingRecord | ((at: number) => PendingRecord);

// A batch this large is handed over at once: the copy into the writer stays small.
const HAND_OVER_BYTES = 256 * 1024;
// The writer checkpoints inside a commit once the WAL holds this many pages, and every
// decision waiting meanwhile waits for that checkpoint (its copy and fsyncs). A point
// read writes about five 4 KB pages, so at SQLite's default of 1,000 one decision in two
// hundred waited; at 4,000 (a 16 MB WAL) one in eight hundred, each wait longer.
// bench/store-compare.js --recording: decision wait p99 from 8.5-10.8 ms to 3.9-4.9 ms at
// one client and from 36-45 ms to 12-22 ms at eight, the longest from 47-119 ms to
// 108-300 ms, CPU unchanged.
const AUTOCHECKPOINT_PAGES = 4_000;

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (err: AuditUnavailableError) => void;
}

/** Opens (creating and migrating if needed) the store; throws if the file cannot be used. */
export async function openSqliteStore(options: SqliteStoreOptions): Promise<SqliteAuditStore> {
  const store = new SqliteAuditStore(options);
  try {
    await store.started();
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}

export class SqliteAuditStore extends DurableRecordWriter implements AuditStore, RecorderSink {
  private readonly options: Required<Omit<SqliteStoreOptions, 'onError'>> & Pick<SqliteStoreOptions, 'onError'>;
  private conn: SqliteConnection | null;
  private closed = false;
  private unavailableUntil = 0;
  private lastError: unknown = null;
  private durableCols: RecordColumn[] = [];
  private durableWaiters: Waiter[] = [];
  private durableScheduled = false;
  private batchCols: RecordColumn[] = [];
  private batchBytes = 0;
  private batchTimer: NodeJS.Timeout | null = null;
  private readonly openRecorders = new Set<CappedResponseRecorder>();
  private writer: Worker | null = null;
  private nextId = 1;
  private readonly waiting = new Map<number, Waiter>();
  private journal: DurableJournal | null = null;
  private journalLock: Database.Database | null = null;
  /** The store file's real path, which the journal's files are named after. */
  private journalBase = '';
  /** Journal entries handed to the writer and not yet reported committed, by j. */
  private unconfirmed: { readonly j: number; readonly cols: RecordColumn[] }[] = [];
  /** The writer's last commit failed: durable records wait for the commit again. */
  private failing = false;

  constructor(options: SqliteStoreOptions) {
    super();
    this.options = {
      path: options.path,
      synchronous: options.synchronous ?? 'NORMAL',
      busyTimeoutMs: options.busyTimeoutMs ?? 1000,
      flushIntervalMs: options.flushIntervalMs ?? 5,
      maxBatchRecords: options.maxBatchRecords ?? 500,
      retryAfterMs: options.retryAfterMs ?? 100,
      mustExist: options.mustExist ?? false,
      now: options.now ?? Date.now,
      onError: options.onError,
    };
    // Opened eagerly (creating and migrating the file) so that a misconfigured path fails
    // at start, not at the first query; the writer opens the file this one made.
    this.conn = this.openConnection();
  }

  /**
   * Starts the writer thread and waits until it has the file open, so that neither a
   * broken setup nor the thread's start-up is left to the first decision.
   */
  started(): Promise<void> {
    this.openJournal();
    return new Promise((resolve, reject) => {
      this.waiting.set(-1, { resolve, reject });
      const writer = this.writerThread();
      writer.ref();
    });
  }

  // ---- durable path ---------------------------------------------------------------

  /**
   * Takes the journal's lock, and moves into the chain whatever a previous process
   * journaled and did not commit. The proxy then keeps the lock and journals; a CLI
   * command lets go of it, and leaves the journal alone while a proxy holds it.
   */
  private openJournal(): void {
    const { mustExist, synchronous, busyTimeoutMs } = this.options;
    if (this.options.path === ':memory:') return;
    // Not the name the store was opened by: the chain's journal mark is the file's, and a
    // second journal under another name (a symlink) would have its entries skipped as
    // ones the chain already has.
    const path = realpathSync(this.options.path);
    if (mustExist) {
      // A CLI command reads the store whatever the journal's state (a read-only copy, a
      // proxy holding it): what it cannot replay waits for the proxy's next start.
      try {
        const lock = lockJournal(path, 0, false);
        if (lock !== null) this.replayJournal(path, lock, true);
      } catch (err) {
        this.options.onError?.(err, 'audit journal left for the next start: this command cannot replay it');
      }
      return;
    }
    const lock = lockJournal(path, busyTimeoutMs, true);
    if (lock === null) throw new JournalBusyError(path);
    this.replayJournal(path, lock, synchronous === 'FULL');
    if (synchronous === 'FULL') return;
    try {
      this.journal = new DurableJournal(path, this.connection().journalApplied());
    } catch (err) {
      releaseJournalLock(lock);
      throw err;
    }
    this.journalLock = lock;
    this.journalBase = path;
  }

  /** Moves what the journal holds into the chain and removes it; `release` lets go of the lock. */
  private replayJournal(path: string, lock: Database.Database, release: boolean): void {
    try {
      const conn = this.connection();
      const entries = readJournal(path, (file) =>
        this.options.onError?.(new Error(`${file}: a line that does not parse`), 'audit journal: skipped a write that did not complete'),
      );
      if (entries.length > 0) conn.replayJournal(entries);
      // Removed, not emptied: new files are created 0600 whatever mode the old ones had.
      clearJournal(path);
    } catch (err) {
      releaseJournalLock(lock);
      throw err;
    }
    if (release) releaseJournalLock(lock);
  }

  protected override durable(records: readonly PendingRecord[]): Promise<void> {
    if (this.closed) return Promise.reject(new AuditUnavailableError('audit store is closed'));
    if (performance.now() < this.unavailableUntil) {
      return Promise.reject(new AuditUnavailableError('audit store unavailable', { cause: this.lastError }));
    }
    if (this.journal !== null && !this.failing) return this.journaled(this.journal, records);
    return new Promise((resolve, reject) => {
      for (const r of records) this.durableCols.push(r.kind, r.at, r.sessionId, r.ref, r.subject, r.traceId, r.body);
      this.durableWaiters.push({ resolve, reject });
      if (!this.durableScheduled) {
        this.durableScheduled = true;
        setImmediate(this.handOverDurable);
      }
    });
  }

  private journaled(journal: DurableJournal, records: readonly PendingRecord[]): Promise<void> {
    const cols: RecordColumn[] = [];
    let bytes = 0;
    for (const r of records) {
      cols.push(r.kind, r.at, r.sessionId, r.ref, r.subject, r.traceId, r.body);
      bytes += r.body.length;
    }
    let j: number;
    try {
      j = journal.append(cols);
    } catch (err) {
      this.failing = true;
      this.markUnavailable(err);
      return Promise.reject(asUnavailable(err));
    }
    const entry: RecordColumn[] = [JOURNAL_ENTRY, j, records.length, null, null, null, null, ...cols];
    this.unconfirmed.push({ j, cols: entry });
    this.addToBatch(entry, bytes);
    return Promise.resolve();
  }

  /** The writer committed the journal's entries up to `j`. */
  private confirmed(j: number): void {
    this.journal?.appliedThrough(j);
    let done = 0;
    while (done < this.unconfirmed.length && (this.unconfirmed[done] as { j: number }).j <= j) done++;
    if (done > 0) this.unconfirmed = this.unconfirmed.slice(done);
  }

  private readonly handOverDurable = (): void => {
    this.durableScheduled = false;
    if (this.durableWaiters.length === 0) return;
    const cols = this.durableCols;
    const waiters = this.durableWaiters;
    this.durableCols = [];
    this.durableWaiters = [];
    const settle: Waiter = {
      resolve: () => {
        for (const w of waiters) w.resolve();
      },
      reject: (err) => {
        for (const w of waiters) w.reject(err);
      },
    };
    this.send(cols, settle, false);
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

  /**
   * RecorderSink. Built here, one at a time, rather than all at once when the batch is
   * handed over: a batch of up to 256 KiB built in one go stalls the event loop.
   */
  emit(record: Batched): void {
    if (this.closed) {
      this.options.onError?.(new AuditUnavailableError('audit store is closed'), 'record after close');
      return;
    }
    const r = typeof record === 'function' ? record(this.options.now()) : record;
    this.addToBatch([r.kind, r.at, r.sessionId, r.ref, r.subject, r.traceId, r.body], r.body.length);
  }

  private addToBatch(cols: readonly RecordColumn[], bytes: number): void {
    for (const c of cols) this.batchCols.push(c);
    this.batchBytes += bytes;
    if (this.batchCols.length >= this.options.maxBatchRecords * RECORD_COLUMNS || this.batchBytes >= HAND_OVER_BYTES) {
      this.scheduleBatch(0);
    } else if (this.batchTimer === null) this.scheduleBatch(this.options.flushIntervalMs);
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
    this.send([], null, false);
  };

  private takeBatch(): RecordColumn[] {
    const cols = this.batchCols;
    if (cols.length === 0) return cols;
    this.batchCols = [];
    this.batchBytes = 0;
    if (this.batchTimer !== null) clearTimeout(this.batchTimer);
    this.batchTimer = null;
    return cols;
  }

  // ---- flush and close ------------------------------------------------------------

  async flush(): Promise<void> {
    if (this.closed) return;
    for (const r of this.openRecorders) r.emitChunk();
    // Durable records still waiting for the next turn go first; the writer answers in order.
    this.handOverDurable();
    await new Promise<void>((resolve, reject) => this.send([], { resolve, reject }, true));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.flush();
    } finally {
      this.closed = true;
      if (this.batchTimer !== null) clearTimeout(this.batchTimer);
      this.batchTimer = null;
      const writer = this.writer;
      this.writer = null;
      // What arrived while the flush was under way (a statement ending, a decision that
      // waits for the commit) goes with the close: nothing more can arrive now.
      const batched = this.takeBatch();
      const durable = this.durableCols;
      const waiters = this.durableWaiters;
      this.durableCols = [];
      this.durableWaiters = [];
      if (writer === null) {
        const failure = new AuditUnavailableError('audit store is closed: no writer', { cause: this.lastError });
        for (const w of waiters) w.reject(failure);
        if (batched.length > 0) this.options.onError?.(failure, `audit batch of ${batched.length / RECORD_COLUMNS} records lost at close: no writer`);
      } else {
        // The writer commits them, closes its handle and answers before the thread is stopped.
        await new Promise<void>((resolve) => {
          const id = this.nextId++;
          this.waiting.set(id, {
            resolve: () => {
              for (const w of waiters) w.resolve();
              resolve();
            },
            reject: (err) => {
              for (const w of waiters) w.reject(err);
              resolve();
            },
          });
          writer.once('exit', () => resolve());
          writer.ref();
          writer.postMessage({ id, cols: batched.concat(durable), durableFrom: batched.length / RECORD_COLUMNS, flush: true, close: true } satisfies WriteRequest);
        });
        await writer.terminate();
      }
      for (const w of this.waiting.values()) w.reject(new AuditUnavailableError('audit store is closed'));
      this.waiting.clear();
      this.closeJournal();
      this.conn?.close();
      this.conn = null;
    }
  }

  /** Entries the writer did not commit stay on disk for the next start to replay. */
  private closeJournal(): void {
    const journal = this.journal;
    const lock = this.journalLock;
    this.journal = null;
    this.journalLock = null;
    if (journal === null || lock === null) return;
    try {
      journal.close();
      if (journal.settled()) clearJournal(this.journalBase);
    } finally {
      releaseJournalLock(lock);
    }
  }

  // ---- the writer thread ----------------------------------------------------------

  /**
   * Hands the batched records waiting and then `durable` to the writer. `answer` settles
   * once the durable ones are committed, or (with `flush`) once nothing batched is left.
   */
  private send(durable: RecordColumn[], answer: Waiter | null, flush: boolean): void {
    // Durable records go alone: the batch keeps its own pace (and the order it had before
    // the writer thread, which `verify`'s and the readers' tests rely on by seq). Not while
    // journaled ones wait, perhaps in it: acknowledged first (their statements may have
    // run and ended), they stay ahead in the chain of a decision made after a switch to
    // waiting for the commit.
    const batched = durable.length > 0 && this.unconfirmed.length === 0 ? [] : this.takeBatch();
    if (batched.length === 0 && durable.length === 0 && answer === null) return;
    let writer: Worker;
    try {
      writer = this.writerThread();
    } catch (err) {
      const failure = asUnavailable(err);
      answer?.reject(failure);
      if (batched.length > 0) this.options.onError?.(failure, `audit batch of ${batched.length / RECORD_COLUMNS} records lost: no writer`);
      return;
    }
    const id = answer === null ? 0 : this.nextId++;
    if (answer !== null) {
      this.waiting.set(id, answer);
      if (this.waiting.size === 1) writer.ref();
    }
    const cols = batched.length === 0 ? durable : durable.length === 0 ? batched : batched.concat(durable);
    writer.postMessage({ id, cols, durableFrom: batched.length / RECORD_COLUMNS, flush, close: false } satisfies WriteRequest);
  }

  private writerThread(): Worker {
    if (this.writer !== null) return this.writer;
    const config: WriterConfig = {
      path: this.options.path,
      synchronous: this.options.synchronous,
      busyTimeoutMs: this.options.busyTimeoutMs,
      retryAfterMs: this.options.retryAfterMs,
      retryIntervalMs: Math.max(this.options.flushIntervalMs, this.options.retryAfterMs),
      sqliteModule: resolveSqliteModule(),
      autocheckpointPages: AUTOCHECKPOINT_PAGES,
    };
    const writer = new Worker(writerThreadSource(), { eval: true, workerData: config });
    writer.unref();
    writer.on('message', (answer: WriteAnswer) => this.answered(answer));
    const lost = (err: unknown): void => {
      if (this.writer !== writer) return;
      this.writer = null;
      this.failing = true;
      this.markUnavailable(err);
      const failure = new AuditUnavailableError('audit store writer stopped', { cause: err });
      for (const w of this.waiting.values()) w.reject(failure);
      this.waiting.clear();
      this.options.onError?.(err, 'audit store writer thread stopped; batched records it had not committed are lost (journaled ones go to the next)');
    };
    writer.on('error', lost);
    writer.on('exit', (code) => lost(new Error(`audit store writer thread exited with code ${code}`)));
    this.writer = writer;
    if (this.unconfirmed.length > 0) {
      const cols = this.unconfirmed.flatMap((e) => e.cols);
      writer.postMessage({ id: 0, cols, durableFrom: cols.length / RECORD_COLUMNS, flush: false, close: false } satisfies WriteRequest);
    }
    return writer;
  }

  private answered(answer: WriteAnswer): void {
    if (answer.ok) {
      // Only a commit that wrote shows the chain takes records again: a flush with
      // nothing to write, a new writer that opened the file, or a commit of entries the
      // chain already had (an empty transaction succeeds on a full disk) does not.
      if (answer.applied !== undefined) {
        this.confirmed(answer.applied);
        if (answer.wrote === true) this.failing = false;
      }
      this.settle(answer.id)?.resolve();
      return;
    }
    const cause = writerError(answer.error);
    this.failing = true;
    this.markUnavailable(cause);
    const waiter = this.settle(answer.id);
    if (waiter === undefined) {
      this.options.onError?.(
        cause,
        answer.id === -1 ? 'audit store writer cannot open the file' : `audit batch of ${answer.pending} records not written yet`,
      );
      return;
    }
    waiter.reject(
      answer.pending > 0 && !answer.unavailable
        ? new AuditUnavailableError(`audit store: ${answer.pending} records not written`, { cause })
        : answer.unavailable
          ? new AuditUnavailableError('audit store unavailable', { cause })
          : new AuditUnavailableError('audit store cannot record', { cause }),
    );
  }

  private settle(id: number): Waiter | undefined {
    if (id === 0 || !this.waiting.has(id)) return undefined;
    const waiter = this.waiting.get(id);
    this.waiting.delete(id);
    if (this.waiting.size === 0) this.writer?.unref();
    return waiter;
  }

  private markUnavailable(err: unknown): void {
    this.lastError = err;
    this.unavailableUntil = performance.now() + this.options.retryAfterMs;
  }

  // ---- read side ------------------------------------------------------------------

  async listSessions(query: SessionQuery): Promise<SessionSummary[]> {
    await this.journalApplied();
    return reader.listSessions(this.readDb(), query);
  }

  async getSession(sessionId: string): Promise<SessionDetail | null> {
    await this.journalApplied();
    return reader.getSession(this.readDb(), sessionId);
  }

  async grantHistory(query: GrantQuery): Promise<GrantView[]> {
    await this.journalApplied();
    return reader.grantHistory(this.readDb(), query);
  }

  async *exportSince(since: number): AsyncIterable<ExportLine> {
    await this.journalApplied();
    yield* reader.exportSince(() => this.readDb(), since);
  }

  /**
   * A read sees every durable record that was acknowledged, as it did when they were
   * committed before the caller went on: journaled ones are committed first. If that
   * fails they stay in the journal for the writer's retries, and the read goes ahead.
   */
  private async journalApplied(): Promise<void> {
    if (this.unconfirmed.length === 0 || this.closed) return;
    try {
      // Not flush(): statements still streaming keep their recording in one piece.
      await new Promise<void>((resolve, reject) => this.send([], { resolve, reject }, true));
    } catch (err) {
      this.options.onError?.(err, 'audit read before the journal is committed');
    }
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
      this.failConnection(err);
      throw asUnavailable(err);
    }
  }

  // ---- this thread's handle -------------------------------------------------------

  private readDb(): Database.Database {
    return this.connection().db;
  }

  private connection(): SqliteConnection {
    if (this.closed) throw new AuditUnavailableError('audit store is closed');
    if (this.conn !== null) return this.conn;
    try {
      this.conn = this.openConnection();
    } catch (err) {
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

  private failConnection(err: unknown): void {
    try {
      this.conn?.close();
    } catch (closeErr) {
      this.options.onError?.(closeErr, 'closing a failed audit store handle');
    }
    this.conn = null;
    this.options.onError?.(err, 'audit store prune failed');
  }
}

function writerError(e: WriterError): Error {
  const err = new Error(e.message);
  err.name = e.name;
  return e.code === undefined ? err : Object.assign(err, { code: e.code });
}

function asUnavailable(err: unknown): AuditUnavailableError {
  return err instanceof AuditUnavailableError
    ? err
    : new AuditUnavailableError('audit store cannot record', { cause: err });
}
