// A journal write that fails part-way (a full disk: the file's last page takes what fits)
// leaves torn bytes behind. The entry counts as not written, its j goes to the next entry,
// and a replay must read the next, acknowledged entry and nothing of the torn one.
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, test } from 'vitest';
import { DurableJournal, encodeLine } from '../../../src/audit/durable-journal.js';
import { statementRecord } from '../../../src/audit/records.js';
import { openSqliteStore } from '../../../src/audit/sqlite-store.js';
import type { RecordColumn } from '../../../src/audit/sqlite-writer-thread.js';
import { decision, tempDir } from './helpers.js';
import { canMountTmpfs, fillFileSystem, smallTmpfs } from './os-failures.js';

const PAGE = 4096;

const cols = (statementId: string, pad = 0): RecordColumn[] => {
  const r = statementRecord(decision({ statementId, text: `SELECT '${'x'.repeat(pad)}'` }));
  return [r.kind, r.at, r.sessionId, r.ref, r.subject, r.traceId, r.body];
};

const lineBytes = (j: number, c: readonly RecordColumn[]): number => Buffer.byteLength(encodeLine(j, c));

/**
 * Writes st-1, padded so that a line for st-torn, all but its newline, ends the file at
 * `endAt`; fills the disk; and tears st-torn there. Returns the filler.
 */
function tearBeforeNewline(journal: DurableJournal, dir: string, endAt: number): { free(): void } {
  const torn = cols('st-torn');
  const first = endAt - (lineBytes(2, torn) - 1);
  expect(journal.append(cols('st-1', first - lineBytes(1, cols('st-1'))))).toBe(1);
  const filler = fillFileSystem(dir, [PAGE]);
  expect(() => journal.append(torn)).toThrow(expect.objectContaining({ code: 'ENOSPC' }));
  return filler;
}

/** What a start replays from `journalOf`'s files, into a store that has none of it. */
async function replayed(journalOf: string): Promise<string[]> {
  using dir = tempDir();
  const path = dir.file('audit.db');
  for (const suffix of ['-durable-a', '-durable-b']) copyFileSync(`${journalOf}${suffix}`, `${path}${suffix}`);
  await (await openSqliteStore({ path, onError: () => {} })).close();
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare<[], { ref: string }>("SELECT ref FROM records WHERE kind = 'statement' ORDER BY seq").all().map((r) => r.ref);
  } finally {
    db.close();
  }
}

describe.skipIf(!canMountTmpfs())('a journal write that fails part-way', () => {
  test('an entry written after two failed writes, the second of no bytes, is read back', async () => {
    using fs = smallTmpfs(64);
    const path = join(fs.path, 'audit.db');
    const journal = new DurableJournal(path, 0);
    try {
      expect(journal.append(cols('st-1'))).toBe(1);
      const filler = fillFileSystem(fs.path, [PAGE]);
      // Takes what the journal's last page has room for...
      expect(() => journal.append(cols('st-torn', 2 * PAGE))).toThrow(expect.objectContaining({ code: 'ENOSPC' }));
      // ...and then not a byte.
      expect(() => journal.append(cols('st-refused'))).toThrow(expect.objectContaining({ code: 'ENOSPC' }));
      filler.free();
      expect(journal.append(cols('st-2'))).toBe(2);
    } finally {
      journal.close();
    }
    expect(await replayed(path)).toEqual(['st-1', 'st-2']);
  });

  test('a write cut just before its newline does not read as an entry', async () => {
    using fs = smallTmpfs(64);
    const path = join(fs.path, 'audit.db');
    const journal = new DurableJournal(path, 0);
    try {
      // The torn line, all but its newline, fills the page.
      tearBeforeNewline(journal, fs.path, PAGE).free();
      expect(journal.append(cols('st-2'))).toBe(2);
    } finally {
      journal.close();
    }
    // The refused statement's record would take j 2 and push out the acknowledged one.
    expect(await replayed(path)).toEqual(['st-1', 'st-2']);
  });

  test('a write cut just before its newline, the last in the journal, is not replayed', async () => {
    using fs = smallTmpfs(64);
    const path = join(fs.path, 'audit.db');
    const journal = new DurableJournal(path, 0);
    try {
      tearBeforeNewline(journal, fs.path, PAGE);
    } finally {
      // The process stops here (killed, or closed with the chain behind).
      journal.close();
    }
    // The statement was refused (58030) and never ran: the chain must not say it was decided.
    expect(await replayed(path)).toEqual(['st-1']);
  });
});

describe.skipIf(!canMountTmpfs())('a journal write that fails part-way as the file reaches its rotation size', () => {
  test('the acknowledged entry written to the other file after it is replayed', async () => {
    const ROTATE_BYTES = 4 * 1024 * 1024;
    using fs = smallTmpfs(ROTATE_BYTES / 1024 + 64);
    const path = join(fs.path, 'audit.db');
    const journal = new DurableJournal(path, 0);
    try {
      // The torn line, all but its newline, ends where the file rotates.
      tearBeforeNewline(journal, fs.path, ROTATE_BYTES).free();
      // Goes to -durable-b: the torn line in -durable-a is never ended.
      expect(journal.append(cols('st-2'))).toBe(2);
    } finally {
      journal.close();
    }
    expect(await replayed(path)).toEqual(['st-1', 'st-2']);
  });
});
