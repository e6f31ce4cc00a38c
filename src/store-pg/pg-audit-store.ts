// The AuditStore on the shared Postgres store (SPEC section 11), for several instances.
//
// Writes go through one writer per instance (`pump`): whatever is queued when it runs
// (durable records, and the batched ones when their interval is due) is appended in ONE
// transaction, and each durable caller's promise settles only after that COMMIT: group
// commit, as in the SQLite store, so a decision is durable before its statement runs and
// a SIGKILL of the instance loses no decision.
//
// One chain for all instances (chain.ts): every append is one call of append_records()
// (pg-schema.ts), which locks the single `chain_head` row FOR UPDATE, appends the records
// only if the head is still the one this instance linked them to (else it returns the
// real head and the records are re-linked and sent again), and moves the head, in one
// transaction and one round trip. Appends from different instances therefore serialise
// on that row for the length of one INSERT, and the chain is one total order that
// `audit verify` checks exactly as for SQLite (plus: the head row must match the last
// record, so removing the newest records is visible too). We chose this over one chain
// per instance: those need a global order anyway to be read as one history, a verifier
// that merges them, and an anchor for each chain's tail when an instance dies.
// The cost is one row lock per group commit, shared by all instances (see README).
import pg from 'pg';
import { AuditUnavailableError } from '../audit/audit-unavailable-error.js';
import { linkHash } from '../audit/chain.js';
import {
  grantRevokeRecord,
  sessionEndRecord,
  pruneRecord,
  type PendingRecord,
} from '../audit/records.js';
import { DurableRecordWriter } from '../audit/durable-writer.js';
import { CappedResponseRecorder, type RecorderSink } from '../audit/response-recorder.js';
import type {
  AuditStore,
  ChainHead,
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
} from '../audit/store.js';
import * as reader from './pg-audit-reader.js';
import { quoteSchema } from './pg-schema.js';

export interface PgAuditStoreOptions {
  readonly pool: pg.Pool;
  readonly schema: string;
  /** Default 50. */
  readonly flushIntervalMs?: number;
  /** Default 500. */
  readonly maxBatchRecords?: number;
  readonly now?: () => number;
  readonly onError?: (err: unknown, context: string) => void;
  /** Whether close() ends the pool (the CLI owns it); default false. */
  readonly ownsPool?: boolean;
}

type Batched = PendingRecord | ((at: number) => PendingRecord);

interface DurableWaiter {
  readonly records: readonly PendingRecord[];
  readonly resolve: () => void;
  readonly reject: (err: AuditUnavailableError) => void;
}

const PRUNE_BATCH = 10_000;

type Columns = [number[], string[], number[], (string | null)[], (string | null)[], (string | null)[], (string | null)[], string[], string[]];

/** The records as column arrays, linked after `head` (seq and hash of each). */
function linkRecords(head: ChainHead, records: readonly PendingRecord[]): Columns {
  const cols: Columns = [[], [], [], [], [], [], [], [], []];
  let { seq, hash } = head;
  for (const r of records) {
    seq += 1;
    hash = linkHash(hash, seq, r);
    cols[0].push(seq);
    cols[1].push(r.kind);
    cols[2].push(r.at);
    cols[3].push(r.sessionId);
    cols[4].push(r.ref);
    cols[5].push(r.subject);
    cols[6].push(r.traceId);
    cols[7].push(r.body);
    cols[8].push(hash);
  }
  return cols;
}

export class PgAuditStore extends DurableRecordWriter implements AuditStore, RecorderSink {
  private readonly pool: pg.Pool;
  private readonly s: string;
  private readonly flushIntervalMs: number;
  private readonly maxBatchRecords: number;
  private readonly now: () => number;
  private readonly onError: ((err: unknown, context: string) => void) | undefined;
  private readonly ownsPool: boolean;
  private closed = false;
  private durableQueue: DurableWaiter[] = [];
  private batchQueue: Batched[] = [];
  private batchDue = false;
  private batchTimer: NodeJS.Timeout | null = null;
  private writing: Promise<void> | null = null;
  private readonly openRecorders = new Set<CappedResponseRecorder>();
  /** The head as of this instance's last append; a guess that append_records checks. */
  private head: ChainHead | null = null;

  constructor(options: PgAuditStoreOptions) {
    super();
    this.pool = options.pool;
    this.s = quoteSchema(options.schema);
    this.flushIntervalMs = options.flushIntervalMs ?? 50;
    this.maxBatchRecords = options.maxBatchRecords ?? 500;
    this.now = options.now ?? Date.now;
    this.onError = options.onError;
    this.ownsPool = options.ownsPool ?? false;
  }

  // ---- durable path ---------------------------------------------------------------

  protected override durable(records: readonly PendingRecord[]): Promise<void> {
    if (this.closed) return Promise.reject(new AuditUnavailableError('audit store is closed'));
    return new Promise((resolve, reject) => {
      this.durableQueue.push({ records, resolve, reject });
      this.kick();
    });
  }

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
    for (const r of this.openRecorders) {
      if (r.sessionId === end.sessionId) {
        r.emitChunk();
        this.openRecorders.delete(r);
      }
    }
    this.emit(() => sessionEndRecord(end));
  }

  emit(record: Batched): void {
    if (this.closed) {
      this.onError?.(new AuditUnavailableError('audit store is closed'), 'record after close');
      return;
    }
    this.batchQueue.push(record);
    if (this.batchQueue.length >= this.maxBatchRecords) this.scheduleBatch(0);
    else if (this.batchTimer === null) this.scheduleBatch(this.flushIntervalMs);
  }

  ended(recorder: CappedResponseRecorder): void {
    this.openRecorders.delete(recorder);
  }

  private scheduleBatch(delayMs: number): void {
    if (this.batchTimer !== null) {
      if (delayMs > 0) return;
      clearTimeout(this.batchTimer);
    }
    this.batchTimer = setTimeout(() => {
      this.batchTimer = null;
      this.batchDue = true;
      this.kick();
    }, delayMs);
    this.batchTimer.unref();
  }

  // ---- the writer -----------------------------------------------------------------

  /** Starts the writer unless it runs; it drains whatever is queued, then stops. */
  private kick(): Promise<void> {
    if (this.writing === null) {
      this.writing = this.pump().finally(() => {
        this.writing = null;
        // Queued after the loop's last check but before this ran: would wait for nobody.
        if (this.durableQueue.length > 0 || (this.batchDue && this.batchQueue.length > 0)) void this.kick();
      });
    }
    return this.writing;
  }

  private async pump(): Promise<void> {
    // Let everything decided in this turn of the event loop join the same commit.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.durableQueue.length > 0 || (this.batchDue && this.batchQueue.length > 0)) {
      const waiters = this.durableQueue;
      this.durableQueue = [];
      let batch: PendingRecord[] = [];
      if (this.batchDue && this.batchQueue.length > 0) {
        const at = this.now();
        // Built once: a retry writes the same bytes with the same timestamps.
        batch = this.batchQueue.map((r) => (typeof r === 'function' ? r(at) : r));
        this.batchQueue = [];
      }
      this.batchDue = false;
      const records = waiters.length === 1 && batch.length === 0 ? (waiters[0] as DurableWaiter).records : [...waiters.flatMap((w) => w.records), ...batch];
      try {
        await this.append(records);
      } catch (err) {
        const failure = err instanceof AuditUnavailableError ? err : new AuditUnavailableError('audit store cannot record', { cause: err });
        for (const w of waiters) w.reject(failure);
        if (batch.length > 0) {
          // Kept, in order, ahead of anything queued since; retried later.
          this.batchQueue = [...batch, ...this.batchQueue];
          this.onError?.(err, `audit batch of ${batch.length} records not written yet`);
          if (!this.closed) this.scheduleBatch(Math.max(this.flushIntervalMs, 250));
          // Waiters queued since this attempt get their own try; a failing batch must
          // not block them forever, so the batch waits for its timer.
        }
        continue;
      }
      for (const w of waiters) w.resolve();
    }
  }

  /**
   * Appends the records to the one chain, in order, in one transaction: a single call of
   * append_records() (pg-schema.ts) linked to the head this instance last saw, re-linked
   * and retried when another instance appended meanwhile.
   */
  private async append(records: readonly PendingRecord[]): Promise<ChainHead> {
    if (records.length === 0) return this.head ?? { seq: 0, hash: '' };
    try {
      let head = this.head ?? (await this.readHead());
      for (let attempt = 0; ; attempt++) {
        const cols = linkRecords(head, records);
        const row = (
          await this.pool.query<{ ok: boolean; head_seq: number; head_hash: string }>(
            `SELECT ok, head_seq, head_hash FROM ${this.s}.append_records($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
            [head.seq, head.hash, ...cols],
          )
        ).rows[0];
        if (!row) throw new Error('append_records returned no row');
        head = { seq: row.head_seq, hash: row.head_hash };
        this.head = head;
        if (row.ok) return head;
        if (attempt >= 50) throw new Error('audit store: the chain head kept moving; 50 attempts to append failed');
      }
    } catch (err) {
      this.head = null;
      throw err instanceof AuditUnavailableError ? err : new AuditUnavailableError('audit store cannot record', { cause: err });
    }
  }

  private async readHead(): Promise<ChainHead> {
    const row = (await this.pool.query<{ seq: number; hash: string }>(`SELECT seq, hash FROM ${this.s}.chain_head WHERE id = 1`)).rows[0];
    if (!row) throw new Error('audit store: the chain head row is missing');
    return row;
  }

  // ---- flush and close ------------------------------------------------------------

  async flush(): Promise<void> {
    for (const r of this.openRecorders) r.emitChunk();
    if (this.batchQueue.length > 0) this.batchDue = true;
    while (this.writing !== null) await this.writing;
    if (this.durableQueue.length > 0 || this.batchQueue.length > 0) {
      this.batchDue = this.batchQueue.length > 0;
      await this.kick();
    }
    if (this.batchQueue.length > 0) {
      throw new AuditUnavailableError(`audit store: ${this.batchQueue.length} records not written`);
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
      if (this.ownsPool) await this.pool.end();
    }
  }

  // ---- read side ------------------------------------------------------------------

  async listSessions(query: SessionQuery): Promise<SessionSummary[]> {
    return reader.listSessions(this.pool, this.s, query);
  }

  async getSession(sessionId: string): Promise<SessionDetail | null> {
    return reader.getSession(this.pool, this.s, sessionId);
  }

  async grantHistory(query: GrantQuery): Promise<GrantView[]> {
    return reader.grantHistory(this.pool, this.s, query);
  }

  exportSince(since: number): AsyncIterable<ExportLine> {
    return reader.exportSince(this.pool, this.s, since);
  }

  async verify(): Promise<VerifyReport> {
    await this.flush();
    return reader.verifyChain(this.pool, this.s);
  }

  /**
   * As the SQLite store: a `prune` record announcing the checkpoint is appended first,
   * then the prefix is deleted in short transactions that move the checkpoint along.
   */
  async prune(before: number): Promise<PruneReport> {
    await this.flush();
    const s = this.s;
    const start = (await this.pool.query<{ seq: number }>(`SELECT seq FROM ${s}.checkpoint WHERE id = 1`)).rows[0]?.seq ?? 0;
    const firstKept = (await this.pool.query<{ seq: number | null }>(`SELECT min(seq) AS seq FROM ${s}.records WHERE at >= $1`, [before])).rows[0]?.seq ?? null;
    const tail = (await this.pool.query<{ seq: number }>(`SELECT seq FROM ${s}.chain_head WHERE id = 1`)).rows[0]?.seq ?? 0;
    const target = firstKept === null ? tail : firstKept - 1;
    if (target <= start) return { pruned: 0, checkpoint: null };
    const row = (await this.pool.query<{ hash: string }>(`SELECT hash FROM ${s}.records WHERE seq = $1`, [target])).rows[0];
    if (!row) return { pruned: 0, checkpoint: null };
    const announced: ChainHead = { seq: target, hash: row.hash };
    await this.append([pruneRecord(this.now(), announced, target - start, before)]);
    let pruned = 0;
    for (;;) {
      const client = await this.pool.connect();
      let step = 0;
      try {
        await client.query('BEGIN');
        const from = (await client.query<{ seq: number }>(`SELECT seq FROM ${s}.checkpoint WHERE id = 1 FOR UPDATE`)).rows[0]?.seq ?? 0;
        const upTo = Math.min(announced.seq, from + PRUNE_BATCH);
        if (upTo > from) {
          const last = (await client.query<{ hash: string }>(`SELECT hash FROM ${s}.records WHERE seq = $1`, [upTo])).rows[0];
          if (!last) throw new Error(`audit prune: record ${upTo} is missing`);
          step = (await client.query(`DELETE FROM ${s}.records WHERE seq <= $1`, [upTo])).rowCount ?? 0;
          await client.query(
            `INSERT INTO ${s}.checkpoint (id, seq, hash, at) VALUES (1, $1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, at = excluded.at`,
            [upTo, last.hash, this.now()],
          );
        }
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw new AuditUnavailableError('audit prune failed', { cause: err });
      } finally {
        client.release();
      }
      if (step === 0) break;
      pruned += step;
    }
    return { pruned, checkpoint: announced };
  }
}
