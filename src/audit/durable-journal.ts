// The SQLite store's journal of durable records: decisions, grants, session starts,
// approval steps. SPEC section 6 puts a decision's record on disk before its statement
// runs; the hash chain's commit happens on the writer thread, and waiting for it cost the
// proxy 40 to 60% of its 8-client throughput and 0.2 ms of every statement's latency
// (bench/README, "What bounds the 8-client throughput"). So the record is first written
// here, with one write() on the event loop, and the decision goes on; the writer moves
// it into the chain with the batched records and notes how far it got (`durable_applied`).
// A start replays what the chain does not have yet.
//
// Durability is the chain's under synchronous=NORMAL: a written record survives a SIGKILL
// of the proxy (the OS has the bytes), not a power loss. synchronous=FULL does not use
// the journal. Written by hand: it is an append-only file of JSON lines, which no
// library makes cheaper than writeSync.
//
// Layout: two files used in turn, `<store>-durable-a` and `-b`, each a JSON line per
// entry, `[j, ...record columns]`, j counting up across restarts. Writing switches to the
// other file once the current one is past ROTATE_BYTES and every entry of the other is in
// the chain, so the journal stays bounded by how far the writer lags. One process owns
// the journal: it holds an exclusive SQLite lock on `<store>-durable-lock` for its life
// (the kernel drops it when the process dies, SIGKILL included).
import { closeSync, constants, existsSync, ftruncateSync, fstatSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import Database from 'better-sqlite3';
import { createPrivately } from './sqlite-connection.js';
import { RECORD_COLUMNS, type RecordColumn } from './sqlite-writer-thread.js';

const ROTATE_BYTES = 4 * 1024 * 1024;
// O_APPEND: after the other file is emptied, writes to it start at its new end.
const OPEN_EMPTY = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_APPEND;

export interface JournalEntry {
  readonly j: number;
  readonly cols: readonly RecordColumn[];
}

interface JournalFile {
  readonly path: string;
  readonly fd: number;
  size: number;
  /** The last entry written to it since it was last emptied; 0 when empty. */
  lastJ: number;
}

export class JournalBusyError extends Error {
  constructor(path: string) {
    super(`audit store ${path} is in use by another tracegate process (its journal is locked)`);
    this.name = 'JournalBusyError';
  }
}

/**
 * Takes the journal's lock, or returns null when `waitMs` passes with another process
 * holding it, or (without `create`) when no proxy ever made the lock file, and so no
 * journal. The lock is a SQLite write transaction left open on a file of its own.
 */
export function lockJournal(storePath: string, waitMs: number, create: boolean): Database.Database | null {
  const path = `${storePath}-durable-lock`;
  if (create) createPrivately(path);
  else if (!existsSync(path)) return null;
  const db = new Database(path, { timeout: waitMs });
  try {
    db.exec('BEGIN EXCLUSIVE');
    return db;
  } catch (err) {
    db.close();
    if ((err as { code?: unknown }).code === 'SQLITE_BUSY') return null;
    throw err;
  }
}

export function releaseJournalLock(lock: Database.Database): void {
  if (lock.open) lock.close();
}

/** Every entry both files hold, by j; a line that does not parse (a torn write) is skipped. */
export function readJournal(storePath: string, onBadLine: (path: string) => void): JournalEntry[] {
  const entries: JournalEntry[] = [];
  for (const path of journalPaths(storePath)) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const entry = parseLine(line);
      if (entry === null) onBadLine(path);
      else entries.push(entry);
    }
  }
  return entries.sort((a, b) => a.j - b.j);
}

/** Removes both files; the caller holds the lock and has replayed them. */
export function clearJournal(storePath: string): void {
  for (const path of journalPaths(storePath)) {
    try {
      unlinkSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}

export class DurableJournal {
  private readonly files: [JournalFile, JournalFile];
  private current: 0 | 1 = 0;
  private nextJ: number;
  private applied: number;
  private separate = false;

  /** Opens both files empty; `applied` is the chain's mark, every earlier j is in it. */
  constructor(storePath: string, applied: number) {
    const [a, b] = journalPaths(storePath);
    const open = (path: string): JournalFile => ({ path, fd: openSync(path, OPEN_EMPTY, 0o600), size: 0, lastJ: 0 });
    const first = open(a);
    try {
      this.files = [first, open(b)];
    } catch (err) {
      closeSync(first.fd);
      throw err;
    }
    this.applied = applied;
    this.nextJ = applied + 1;
  }

  /**
   * Writes `cols` (whole records) as one entry and returns its j. Throws if the bytes
   * are not all written; the entry then counts as not written, and the next one starts
   * on a line of its own.
   */
  append(cols: readonly RecordColumn[]): number {
    this.rotate();
    const file = this.files[this.current];
    const j = this.nextJ;
    const line = `${this.separate ? '\n' : ''}${JSON.stringify([j, ...cols])}\n`;
    const bytes = Buffer.from(line, 'utf8');
    let written = 0;
    try {
      while (written < bytes.length) written += writeSync(file.fd, bytes, written);
    } catch (err) {
      file.size += written;
      this.separate = written > 0;
      throw err;
    }
    this.separate = false;
    this.nextJ = j + 1;
    file.size += bytes.length;
    file.lastJ = j;
    return j;
  }

  /** The writer has committed every entry up to `j`. */
  appliedThrough(j: number): void {
    if (j > this.applied) this.applied = j;
  }

  /** Every written entry is in the chain. */
  settled(): boolean {
    return this.applied >= this.nextJ - 1;
  }

  close(): void {
    for (const f of this.files) closeSync(f.fd);
  }

  private rotate(): void {
    const file = this.files[this.current];
    if (file.size < ROTATE_BYTES) return;
    const next = this.current === 0 ? 1 : 0;
    const other = this.files[next];
    if (other.lastJ > this.applied) return;
    ftruncateSync(other.fd, 0);
    if (fstatSync(other.fd).size !== 0) return;
    other.size = 0;
    other.lastJ = 0;
    this.current = next;
  }
}

function journalPaths(storePath: string): [string, string] {
  return [`${storePath}-durable-a`, `${storePath}-durable-b`];
}

function parseLine(line: string): JournalEntry | null {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return null;
  }
  if (!Array.isArray(value) || value.length < 1 + RECORD_COLUMNS || (value.length - 1) % RECORD_COLUMNS !== 0) return null;
  const [j, ...cols] = value as unknown[];
  if (typeof j !== 'number' || !Number.isSafeInteger(j) || j < 1) return null;
  if (!cols.every((c) => c === null || typeof c === 'string' || typeof c === 'number')) return null;
  return { j, cols: cols as RecordColumn[] };
}
