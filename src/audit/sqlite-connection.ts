// One open better-sqlite3 handle on the store file: pragmas, migrations, the prepared
// statements, and the append transaction that extends the chain. Synchronous by nature;
// the store (sqlite-store.ts) decides when to call it and what a failure means.
//
// Durability: WAL with synchronous=NORMAL makes a commit a write() into the WAL, no
// fsync, so a committed record survives a SIGKILL of the proxy (the OS has the bytes)
// but not a power loss or kernel crash, which needs synchronous=FULL (an fsync per
// commit, i.e. per group of decisions).
import { closeSync, openSync } from 'node:fs';
import Database from 'better-sqlite3';
import { GENESIS_HASH, linkHash } from './chain.js';
import type { JournalEntry } from './durable-journal.js';
import type { PendingRecord, RecordKind } from './records.js';
import { RECORD_COLUMNS } from './sqlite-writer-thread.js';
import { migrate } from './sqlite-schema.js';

export const SYNCHRONOUS_MODES = ['NORMAL', 'FULL'] as const;
export type SynchronousMode = (typeof SYNCHRONOUS_MODES)[number];

export interface ConnectionOptions {
  readonly path: string;
  readonly synchronous: SynchronousMode;
  readonly busyTimeoutMs: number;
  /** Refuse to create a new file (the CLI reading an existing store). */
  readonly mustExist: boolean;
}

export interface ChainTail {
  readonly seq: number;
  readonly hash: string;
}

export class SqliteConnection {
  readonly db: Database.Database;
  private readonly lastRecord: Database.Statement<[], { seq: number; hash: string }>;
  private readonly checkpointRow: Database.Statement<[], { seq: number; hash: string }>;
  private readonly insert: Database.Statement<
    [number, string, number, string | null, string | null, string | null, string | null, string, string]
  >;
  private readonly appendTx: Database.Transaction<(records: readonly PendingRecord[]) => ChainTail>;
  private readonly journalMark: Database.Statement<[], { j: number }>;
  private readonly setJournalMark: Database.Statement<[number]>;

  constructor(options: ConnectionOptions) {
    if (!options.mustExist) createPrivately(options.path);
    const db = new Database(options.path, {
      fileMustExist: options.mustExist,
      timeout: options.busyTimeoutMs,
    });
    try {
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal') throw new Error(`audit store: cannot enable WAL (journal_mode is ${String(mode)})`);
      db.pragma(`synchronous = ${options.synchronous}`);
      migrate(db);
      this.lastRecord = db.prepare('SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1');
      this.checkpointRow = db.prepare('SELECT seq, hash FROM checkpoint WHERE id = 1');
      this.journalMark = db.prepare('SELECT j FROM durable_applied WHERE id = 1');
      this.setJournalMark = db.prepare('UPDATE durable_applied SET j = ? WHERE id = 1');
      this.insert = db.prepare(
        `INSERT INTO records (seq, kind, at, session_id, ref, subject, trace_id, body, hash)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
    } catch (err) {
      db.close();
      throw err;
    }
    this.db = db;
    this.appendTx = db.transaction((records: readonly PendingRecord[]) => {
      // The tail is read under the write lock, not cached: another process (the CLI's
      // prune) may have appended since, and a cached tail would fork the chain.
      let { seq, hash } = this.tail();
      for (const r of records) {
        seq += 1;
        const next = linkHash(hash, seq, r);
        this.insert.run(seq, r.kind, r.at, r.sessionId, r.ref, r.subject, r.traceId, r.body, next);
        hash = next;
      }
      return { seq, hash };
    });
  }

  /** Appends the records, in order, in one IMMEDIATE transaction. Throws on failure. */
  append(records: readonly PendingRecord[]): ChainTail {
    return this.appendTx.immediate(records);
  }

  /** The last journal entry in the chain (durable-journal.ts). */
  journalApplied(): number {
    return this.journalMark.get()?.j ?? 0;
  }

  /**
   * Appends the journal entries the chain does not have yet, in j order, in one
   * transaction with the new mark; returns how many records that was.
   */
  replayJournal(entries: readonly JournalEntry[]): number {
    return this.db.transaction(() => {
      let mark = this.journalApplied();
      const records: PendingRecord[] = [];
      for (const e of entries) {
        if (e.j <= mark) continue;
        mark = e.j;
        for (let i = 0; i < e.cols.length; i += RECORD_COLUMNS) {
          const [kind, at, sessionId, ref, subject, traceId, body] = e.cols.slice(i, i + RECORD_COLUMNS);
          records.push({
            kind: kind as RecordKind,
            at: at as number,
            sessionId: sessionId as string | null,
            ref: ref as string | null,
            subject: subject as string | null,
            traceId: traceId as string | null,
            body: body as string,
          });
        }
      }
      if (records.length > 0) this.appendTx(records);
      this.setJournalMark.run(mark);
      return records.length;
    }).immediate();
  }

  tail(): ChainTail {
    return this.lastRecord.get() ?? this.checkpointRow.get() ?? { seq: 0, hash: GENESIS_HASH };
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

/**
 * Creates a store file readable by its owner only, unless it exists. The store holds
 * statements, parameters and every response as its client saw it (a reviewer's unmasked
 * rows among them); SQLite would create it 0644 (less the umask), and its -wal and -shm
 * files take the database file's mode.
 */
export function createPrivately(path: string): void {
  if (path === ':memory:') return;
  try {
    closeSync(openSync(path, 'wx', 0o600));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}
