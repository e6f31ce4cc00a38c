// The thread that owns the SQLite store's write handle (node:worker_threads), so that
// commits, chain hashing, index updates and WAL checkpoints (fsync) never run on the
// proxy's event loop. The main thread (sqlite-store.ts) hands it records as flat column
// arrays and awaits an answer only where the contract needs one: durable records (the
// decision path) and flush/close.
//
// Protocol, in order over one port:
//   main -> thread  WriteRequest: `cols` holds the records, 7 columns each (RECORD_COLUMNS);
//                   the first `durableFrom` records are batched, the rest durable. `id` > 0
//                   asks for an answer: once the durable ones are committed (or refused),
//                   and for `flush`, once nothing batched is left unwritten.
//   thread -> main  WriteAnswer for each id; id 0 reports a batch that failed and is kept,
//                   or how far the journal's entries are committed (`applied`);
//                   id -1, sent once at start, whether the thread could open the file.
// The thread drains every request waiting on its port and commits them in one IMMEDIATE
// transaction (group commit). Batched records wait for the next durable commit (or
// `retryIntervalMs`), unless they carry journal entries (JOURNAL_ENTRY); those that fail
// are kept, in order, ahead of anything newer, and retried; durable ones are refused
// (the caller answers 58030). After a failure the handle is closed and, for
// `retryAfterMs`, durable records are refused without touching the file; the next write
// after that reopens it.
//
// The thread runs `writerThreadMain`'s source (Function.prototype.toString), evaluated
// in the worker: the test runner executes TypeScript sources, which a worker cannot load
// by path. So that function references nothing outside itself; its hashing must stay
// identical to chain.ts's linkHash, which `verify` (and the chain tests) check it against.
import { createRequire } from 'node:module';

/** kind, at, sessionId, ref, subject, traceId, body */
export const RECORD_COLUMNS = 7;
/**
 * In the kind column, a row that is no record: `[JOURNAL_ENTRY, j, n, null x 4]` says the
 * next n records are the durable journal's entry j (durable-journal.ts). The writer skips
 * an entry the chain already has and moves the chain's journal mark past the others.
 */
export const JOURNAL_ENTRY = -1;
export type RecordColumn = string | number | null;

export interface WriterConfig {
  readonly path: string;
  readonly synchronous: string;
  readonly busyTimeoutMs: number;
  readonly retryAfterMs: number;
  readonly retryIntervalMs: number;
  /** better-sqlite3's entry point, resolved by the main thread. */
  readonly sqliteModule: string;
  /** WAL pages after which a commit checkpoints (sqlite-store.ts says why not SQLite's 1,000). */
  readonly autocheckpointPages: number;
}

export interface WriteRequest {
  readonly id: number;
  readonly cols: readonly RecordColumn[];
  readonly durableFrom: number;
  readonly flush: boolean;
  readonly close: boolean;
}

export interface WriterError {
  readonly name: string;
  readonly message: string;
  readonly code: string | undefined;
}

export type WriteAnswer =
  | {
      readonly id: number;
      readonly ok: true;
      /** With id 0: a commit succeeded, and the journal's entries up to this j are in. */
      readonly applied?: number;
      /** With `applied`: the commit wrote records (one that only skipped some shows nothing about the file). */
      readonly wrote?: boolean;
    }
  | {
      readonly id: number;
      readonly ok: false;
      /** The durable records were refused because the store is in its retry window. */
      readonly unavailable: boolean;
      /** Batched records kept for a retry. */
      readonly pending: number;
      readonly error: WriterError;
    };

interface Port {
  on(event: 'message', listener: (value: WriteRequest) => void): void;
  postMessage(value: WriteAnswer): void;
}

type Receive = (port: Port) => { message: WriteRequest } | undefined;

export function writerThreadMain(config: WriterConfig, port: Port, receive: Receive, req: NodeRequire): void {
  const Database = req(config.sqliteModule) as typeof import('better-sqlite3');
  const { hash } = req('node:crypto') as typeof import('node:crypto');
  const { performance } = req('node:perf_hooks') as typeof import('node:perf_hooks');
  const COLS = 7;
  const JOURNAL_ENTRY = -1;

  interface Handle {
    readonly db: import('better-sqlite3').Database;
    /** The chain's journal mark after the commit, and whether it wrote records. */
    readonly append: (cols: readonly RecordColumn[]) => { through: number; wrote: boolean };
  }
  interface Pending {
    readonly id: number;
    readonly durable: readonly RecordColumn[];
    readonly flush: boolean;
    readonly close: boolean;
    /** Carries journal entries: committed now, to keep the journal and readers' lag short. */
    readonly journaled: boolean;
  }

  let handle: Handle | null = null;
  let unavailableUntil = 0;
  let lastError: unknown = null;
  // Batched records not yet committed, oldest first: they go ahead of anything newer.
  let kept: RecordColumn[] = [];
  let retry: NodeJS.Timeout | null = null;
  let closed = false;

  const describe = (err: unknown): WriterError => {
    const e = err as { name?: unknown; message?: unknown; code?: unknown } | null;
    return {
      name: typeof e?.name === 'string' ? e.name : 'Error',
      message: typeof e?.message === 'string' ? e.message : String(err),
      code: typeof e?.code === 'string' ? e.code : undefined,
    };
  };

  const open = (): Handle => {
    const db = new Database(config.path, { fileMustExist: true, timeout: config.busyTimeoutMs });
    try {
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal') throw new Error(`audit store: cannot enable WAL (journal_mode is ${String(mode)})`);
      db.pragma(`synchronous = ${config.synchronous}`);
      db.pragma(`wal_autocheckpoint = ${config.autocheckpointPages}`);
      const last = db.prepare<[], { seq: number; hash: string }>('SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1');
      const checkpoint = db.prepare<[], { seq: number; hash: string }>('SELECT seq, hash FROM checkpoint WHERE id = 1');
      const mark = db.prepare<[], { j: number }>('SELECT j FROM durable_applied WHERE id = 1');
      const setMark = db.prepare<[number]>('UPDATE durable_applied SET j = ? WHERE id = 1');
      const insert = db.prepare(
        `INSERT INTO records (seq, kind, at, session_id, ref, subject, trace_id, body, hash)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      const tx = db.transaction((cols: readonly RecordColumn[]) => {
        // Read under the write lock, not cached: another process (the CLI's prune) may
        // have appended since, and a cached tail would fork the chain.
        const tail = last.get() ?? checkpoint.get() ?? { seq: 0, hash: '0'.repeat(64) };
        let seq = tail.seq;
        let prev = tail.hash;
        const applied = mark.get()?.j ?? 0;
        let through = applied;
        for (let i = 0; i < cols.length; i += COLS) {
          if (cols[i] === JOURNAL_ENTRY) {
            const j = cols[i + 1] as number;
            // Sent again after a writer thread died, or replayed by a start: already in.
            if (j <= through) i += (cols[i + 2] as number) * COLS;
            else through = j;
            continue;
          }
          seq += 1;
          const [kind, at, sessionId, ref, subject, traceId, body] = cols.slice(i, i + COLS);
          // chain.ts: sha256(prevHash + JSON.stringify([seq, kind, at, sessionId, ref, subject, traceId]) + body)
          const header = JSON.stringify([seq, kind, at, sessionId, ref, subject, traceId]);
          const next = hash('sha256', prev + header + String(body), 'hex');
          insert.run(seq, kind, at, sessionId, ref, subject, traceId, body, next);
          prev = next;
        }
        if (through !== applied) setMark.run(through);
        return { through, wrote: seq > tail.seq };
      });
      return { db, append: (cols) => tx.immediate(cols) };
    } catch (err) {
      db.close();
      throw err;
    }
  };

  const fail = (err: unknown): void => {
    lastError = err;
    unavailableUntil = performance.now() + config.retryAfterMs;
    try {
      if (handle?.db.open) handle.db.close();
    } catch {
      // The handle is dropped either way; the write's own error is what gets reported.
    }
    handle = null;
  };

  // Kept batched records are written after an interval unless a durable commit takes
  // them along first: a transaction per hand-over would rewrite the same index pages.
  const scheduleKept = (): void => {
    if (retry !== null || closed || kept.length === 0) return;
    retry = setTimeout(() => {
      retry = null;
      commit([]);
    }, config.retryIntervalMs);
  };

  const answerFailure = (id: number, unavailable: boolean, err: unknown): void => {
    port.postMessage({ id, ok: false, unavailable, pending: kept.length / COLS, error: describe(err) });
  };

  // One transaction: the kept batched records, then the durable ones in arrival order.
  // A batched record can come before a durable one that was handed over earlier; both
  // were made before either was committed, so neither can depend on the other.
  const commit = (requests: readonly Pending[]): void => {
    if (requests.length > 0 && requests.every((r) => r.id === 0 && r.durable.length === 0 && !r.flush && !r.close && !r.journaled)) {
      scheduleKept();
      return;
    }
    if (retry !== null) clearTimeout(retry);
    retry = null;
    const inWindow = handle === null && performance.now() < unavailableUntil;
    let cols = kept;
    let error: unknown = null;
    if (inWindow) error = lastError;
    else {
      for (const r of requests) if (r.durable.length > 0) cols = cols.concat(r.durable);
      if (cols.length > 0) {
        try {
          handle ??= open();
          const { through, wrote } = handle.append(cols);
          kept = [];
          // After every commit: the store journals again only once one has written.
          port.postMessage({ id: 0, ok: true, applied: through, wrote });
        } catch (err) {
          fail(err);
          error = err;
        }
      }
    }
    for (const r of requests) {
      if (r.id === 0) continue;
      if (r.durable.length > 0 && error !== null) answerFailure(r.id, inWindow, error);
      else if (r.flush && kept.length > 0) answerFailure(r.id, false, lastError);
      else port.postMessage({ id: r.id, ok: true });
    }
    if (kept.length > 0) {
      // Told once per failed write (not per refusal in the window that follows it).
      if (error !== null && !inWindow) answerFailure(0, false, error);
      scheduleKept();
    }
    if (requests.some((r) => r.close)) {
      closed = true;
      if (retry !== null) clearTimeout(retry);
      if (handle?.db.open) handle.db.close();
      handle = null;
    }
  };

  // Opened at start, so the first decision does not wait for the file to be opened; the
  // answer with id -1 tells the store whether the writer is ready.
  try {
    handle = open();
    port.postMessage({ id: -1, ok: true });
  } catch (err) {
    fail(err);
    answerFailure(-1, false, err);
  }

  port.on('message', (first) => {
    const requests: Pending[] = [];
    for (let m: WriteRequest | undefined = first; m !== undefined; m = receive(port)?.message) {
      const split = m.durableFrom * COLS;
      if (split > 0) kept = kept.concat(m.cols.slice(0, split));
      let journaled = false;
      for (let i = 0; i < split && !journaled; i += COLS) journaled = m.cols[i] === JOURNAL_ENTRY;
      requests.push({ id: m.id, durable: split === 0 ? m.cols : m.cols.slice(split), flush: m.flush, close: m.close, journaled });
    }
    commit(requests);
  });
}

/** The worker's source: `writerThreadMain` applied to its workerData and port. */
export function writerThreadSource(): string {
  return `const wt = require('node:worker_threads');
const { createRequire } = require('node:module');
(${writerThreadMain.toString()})(wt.workerData, wt.parentPort, wt.receiveMessageOnPort, createRequire(wt.workerData.sqliteModule));`;
}

export function resolveSqliteModule(): string {
  return createRequire(import.meta.url).resolve('better-sqlite3');
}
