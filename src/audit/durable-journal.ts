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
// the journal. Written by hand: it is an append-only file of lines, which no
// library makes cheaper than writeSync.
//
// Layout: two files used in turn, `<store>-durable-a` and `-b`, a line per entry
// (encodeLine), j counting up across restarts. Writing switches to the
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
// Ends a torn line: a write cut just before its newline is a whole entry to JSON.parse,
// and under the j the next entry reuses it would be replayed in that entry's place. No
// JSON value parses with this byte after it.
const TORN_END = '!\n';

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

/** Every entry both files hold, by j; a line that does not parse or is not ended (a torn write) is skipped. */
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
    const lines = text.split('\n');
    // Bytes after the last newline are a write that did not complete, whole entry or not:
    // the next entry that ends it may be in the other file (a rotation), or none came.
    const unended = lines.pop();
    if (unended !== undefined && unended !== '') onBadLine(path);
    for (const line of lines) {
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
   * are not all written; the entry then counts as not written, and the next one first
   * ends the torn line so that it does not parse.
   */
  append(cols: readonly RecordColumn[]): number {
    this.rotate();
    const file = this.files[this.current];
    const j = this.nextJ;
    const line = `${this.separate ? TORN_END : ''}${encodeLine(j, cols)}`;
    const bytes = Buffer.from(line, 'utf8');
    let written = 0;
    try {
      while (written < bytes.length) written += writeSync(file.fd, bytes, written);
    } catch (err) {
      file.size += written;
      // A torn line stays unended until a line is written whole after it, whatever the
      // attempts between wrote (nothing, on a full disk).
      if (written > 0) this.separate = true;
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

// A line: j, the number of records n, then each record's other columns as a JSON array
// and its body. A body is the canonical JSON object records.ts builds, which holds no
// raw tab or newline, so it is written as it is; escaping it again as a JSON string cost
// about as much as the write itself. Anything else would be written as a JSON string.
export function encodeLine(j: number, cols: readonly RecordColumn[]): string {
  let line = `${j}\t${cols.length / RECORD_COLUMNS}`;
  for (let i = 0; i < cols.length; i += RECORD_COLUMNS) {
    const body = String(cols[i + 6]);
    const header = JSON.stringify([cols[i], cols[i + 1], cols[i + 2], cols[i + 3], cols[i + 4], cols[i + 5]]);
    const plain = body.charCodeAt(0) === 0x7b && !body.includes('\t') && !body.includes('\n');
    line += `\t${header}\t${plain ? body : JSON.stringify(body)}`;
  }
  return `${line}\n`;
}

/** An entry, or null for a line that is not one whole entry (a write that failed). */
function parseLine(line: string): JournalEntry | null {
  const parts = line.split('\t');
  const [jText, nText] = parts;
  if (jText === undefined || nText === undefined || !/^[1-9]\d*$/.test(jText) || !/^[1-9]\d*$/.test(nText)) return null;
  const j = Number(jText);
  const n = Number(nText);
  if (!Number.isSafeInteger(j) || parts.length !== 2 + 2 * n) return null;
  const cols: RecordColumn[] = [];
  try {
    for (let k = 2; k < parts.length; k += 2) {
      const header: unknown = JSON.parse(parts[k] as string);
      const bodyText = parts[k + 1] as string;
      // A cut-off object does not parse: a torn body is not taken for a whole one.
      const body: unknown = JSON.parse(bodyText);
      // The chain's columns, typed as records.ts makes them: a line that parses but is
      // not a record must not stop a start that replays it.
      if (!Array.isArray(header) || header.length !== RECORD_COLUMNS - 1) return null;
      const [kind, at, ...ids] = header as unknown[];
      if (typeof kind !== 'string' || !Number.isSafeInteger(at)) return null;
      if (!ids.every((c) => c === null || typeof c === 'string')) return null;
      if (typeof body === 'string') cols.push(...(header as RecordColumn[]), body);
      else if (body !== null && typeof body === 'object' && !Array.isArray(body)) cols.push(...(header as RecordColumn[]), bodyText);
      else return null;
    }
  } catch {
    return null;
  }
  return { j, cols };
}
