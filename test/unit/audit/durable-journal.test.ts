// The SQLite store's journal of durable records (durable-journal.ts): a durable record
// is on disk before its caller goes on, reaches the chain exactly once whatever happens
// to the writer or the process, and one process owns the journal.
import { once } from 'node:events';
import { appendFileSync, copyFileSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Worker } from 'node:worker_threads';
import { describe, expect, test } from 'vitest';
import { JournalBusyError } from '../../../src/audit/durable-journal.js';
import { openSqliteStore, type SqliteAuditStore } from '../../../src/audit/sqlite-store.js';
import { decision, sessionStart, T0, tempDir } from './helpers.js';
import { canMakeImmutable, canMountTmpfs, fillFileSystem, immutable, smallTmpfs } from './os-failures.js';

const statementIds = async (path: string): Promise<string[]> => {
  const store = await openSqliteStore({ path, mustExist: true });
  try {
    return (await store.getSession('s-1'))?.statements.map((s) => s.statementId) ?? [];
  } finally {
    await store.close();
  }
};

/** A session started on a new store whose batches wait an hour: only the journal, flush and close write. */
async function startedStore(path: string): Promise<SqliteAuditStore> {
  const store = await openSqliteStore({ path, flushIntervalMs: 60_000 });
  await store.recordSessionStart(sessionStart());
  return store;
}

describe('durable journal', () => {
  test('a journaled record is not committed twice when a start replays what the chain already has', async () => {
    using dir = tempDir();
    const path = dir.file('audit.db');
    const store = await startedStore(path);
    await store.recordDecision(decision({ statementId: 'st-1' }));
    await store.flush();
    // What a crash right after the writer's commit leaves: the entries still journaled.
    const journaled = readFileSync(`${path}-durable-a`, 'utf8');
    await store.recordDecision(decision({ statementId: 'st-2', decisionId: 'd-2' }));
    const withSecond = readFileSync(`${path}-durable-a`, 'utf8');
    expect(withSecond.startsWith(journaled)).toBe(true);
    await store.close();
    expect(existsSync(`${path}-durable-a`)).toBe(false);

    // Replayed: st-1 and st-2 are in the chain already, so nothing is added twice.
    writeFileSync(`${path}-durable-a`, withSecond);
    expect(await statementIds(path)).toEqual(['st-1', 'st-2']);
    expect(existsSync(`${path}-durable-a`)).toBe(false);

    const reopened = await openSqliteStore({ path, mustExist: true });
    expect(await reopened.verify()).toMatchObject({ ok: true, checked: 3 });
    await reopened.close();
  });

  test('a start replays entries the chain lacks, in order, and skips a torn line', async () => {
    using dir = tempDir();
    const path = dir.file('audit.db');
    const store = await startedStore(path);
    await store.recordDecision(decision({ statementId: 'st-1' }));
    await store.recordDecision(decision({ statementId: 'st-2', decisionId: 'd-2' }));
    const journal = readFileSync(`${path}-durable-a`, 'utf8');
    await store.close();

    // The chain has all three; a journal from a process killed before its writer
    // committed the last two, with a write that failed half-way between them.
    const lines = journal.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    const [first, second, third] = lines as [string, string, string];
    const fresh = dir.file('fresh.db');
    const seed = await openSqliteStore({ path: fresh, flushIntervalMs: 60_000 });
    await seed.recordSessionStart(sessionStart());
    await seed.close();
    const errors: string[] = [];
    writeFileSync(`${fresh}-durable-b`, `${second}\n${third.slice(0, 40)}\n${third}\n`);
    appendFileSync(`${fresh}-durable-b`, '');
    // Entry 1 (the session start) is in fresh's chain under its own j 1: the mark skips it.
    expect(first.startsWith('1\t1\t')).toBe(true);
    const replayed = await openSqliteStore({ path: fresh, onError: (_e, context) => errors.push(context) });
    expect((await replayed.getSession('s-1'))?.statements.map((s) => s.statementId)).toEqual(['st-1', 'st-2']);
    expect(errors).toEqual([expect.stringMatching(/did not complete/)]);
    expect(await replayed.verify()).toMatchObject({ ok: true, checked: 3 });
    await replayed.close();
  });

  test('a line that parses but is not a record is skipped: it does not stop the start', async () => {
    using dir = tempDir();
    const path = dir.file('audit.db');
    const seed = await openSqliteStore({ path });
    await seed.recordSessionStart(sessionStart());
    await seed.close();
    const bad = ['2\t1\t[1,2,null,null,null,null]\t{}', '3\t1\t["statement","x",null,null,null,null]\t{}', '4\t1\t["statement",1,null,null,null,null]\tnull'];
    writeFileSync(`${path}-durable-a`, `${bad.join('\n')}\n`);
    const errors: string[] = [];
    const store = await openSqliteStore({ path, onError: (_e, context) => errors.push(context) });
    expect(errors).toHaveLength(3);
    expect(await store.verify()).toMatchObject({ ok: true, checked: 1 });
    await store.close();
  });

  test('entries a dead writer thread had not committed are sent to the next one, once', async () => {
    using dir = tempDir();
    const path = dir.file('audit.db');
    const store = await openSqliteStore({ path, retryAfterMs: 20, flushIntervalMs: 1 });
    await store.recordSessionStart(sessionStart());
    await store.recordDecision(decision({ statementId: 'st-1' }));
    // Handed to the writer, which stops before (or after) committing them.
    await sleep(5);
    const writer = (store as unknown as { writer: Worker }).writer;
    const exited = once(writer, 'exit');
    await writer.terminate();
    await exited;
    await sleep(40);
    await store.recordDecision(decision({ statementId: 'st-2', decisionId: 'd-2' }));
    expect((await store.getSession('s-1'))?.statements.map((s) => s.statementId)).toEqual(['st-1', 'st-2']);
    expect(await store.verify()).toMatchObject({ ok: true, checked: 3 });
    await store.close();
  });

  test.skipIf(!canMountTmpfs())('after its writer thread dies, the store journals again only once a commit writes', async () => {
    using fs = smallTmpfs(1024);
    const path = join(fs.path, 'audit.db');
    const store = await openSqliteStore({ path, retryAfterMs: 20, onError: () => {} });
    const internals = store as unknown as { writer: Worker; unconfirmed: unknown[] };
    await store.recordSessionStart(sessionStart());
    await store.recordDecision(decision({ statementId: 'st-1' }));
    const committedUnreported = [...internals.unconfirmed];
    await store.flush();
    {
      using _full = fillFileSystem(fs.path);
      const writer = internals.writer;
      const exited = once(writer, 'exit');
      await writer.terminate();
      await exited;
      // As if it died between its commit and its report: the next writer is sent st-1
      // again, and its commit only skips it, which succeeds on a full disk. Neither that,
      // nor a new writer that opened the file, shows that the file takes records.
      internals.unconfirmed = committedUnreported;
      await sleep(40);
      await store.flush();
      await expect(store.recordDecision(decision({ statementId: 'st-refused' }))).rejects.toMatchObject({ sqlstate: '58030' });
    }
    await sleep(40);
    await store.recordDecision(decision({ statementId: 'st-after' }));
    expect((await store.getSession('s-1'))?.statements.map((s) => s.statementId)).toEqual(['st-1', 'st-after']);
    await store.close();
  });

  test.skipIf(!canMakeImmutable())('a decision that waits for the chain goes after the journaled ones acknowledged before it', async () => {
    using dir = tempDir();
    const path = dir.file('audit.db');
    const store = await openSqliteStore({ path, retryAfterMs: 20, flushIntervalMs: 60_000, onError: () => {} });
    await store.recordSessionStart(sessionStart());
    await store.recordDecision(decision({ statementId: 'st-1' }));
    {
      // The journal cannot take the next one: the store refuses it and stops journaling.
      using _lock = immutable([`${path}-durable-a`]);
      await expect(store.recordDecision(decision({ statementId: 'st-refused', decisionId: 'd-r' }))).rejects.toMatchObject({
        sqlstate: '58030',
      });
    }
    await sleep(40);
    // Committed before it is acknowledged, while st-1 still waits with the batched records.
    await store.recordDecision(decision({ statementId: 'st-2', decisionId: 'd-2' }));
    expect((await store.getSession('s-1'))?.statements.map((s) => s.statementId)).toEqual(['st-1', 'st-2']);
    expect(await store.verify()).toMatchObject({ ok: true, checked: 3 });
    await store.close();
  });

  test.skipIf(!canMakeImmutable())('a CLI command that cannot replay the journal reads the chain and leaves the journal for the next start', async () => {
    using dir = tempDir();
    const path = dir.file('audit.db');
    const store = await startedStore(path);
    await store.recordDecision(decision({ statementId: 'st-1' }));
    await store.flush();
    await store.recordDecision(decision({ statementId: 'st-2', decisionId: 'd-2' }));
    // What a killed proxy leaves, copied while it runs: st-2 journaled only.
    using copy = tempDir();
    const copied = copy.file('audit.db');
    for (const suffix of ['', '-wal', '-durable-a', '-durable-b', '-durable-lock']) copyFileSync(`${path}${suffix}`, `${copied}${suffix}`);
    await store.close();
    const contexts: string[] = [];
    {
      // A store it cannot write, as a read-only copy.
      using _lock = immutable([copied, `${copied}-wal`]);
      const cli = await openSqliteStore({ path: copied, mustExist: true, onError: (_e, context) => contexts.push(context) });
      expect((await cli.getSession('s-1'))?.statements.map((s) => s.statementId)).toEqual(['st-1']);
      await cli.close();
    }
    expect(contexts).toEqual([expect.stringMatching(/cannot replay/)]);
    expect(await statementIds(copied)).toEqual(['st-1', 'st-2']);
  });

  test('a second proxy on the same store file is refused at start; a CLI reader is not', async () => {
    using dir = tempDir();
    const path = dir.file('audit.db');
    const store = await startedStore(path);
    await expect(openSqliteStore({ path, busyTimeoutMs: 50 })).rejects.toBeInstanceOf(JournalBusyError);
    // A CLI command leaves the running proxy's journal alone.
    const cli = await openSqliteStore({ path, mustExist: true });
    await cli.close();
    expect(readFileSync(`${path}-durable-a`, 'utf8')).toContain('session-start');
    await store.recordDecision(decision());
    expect((await store.getSession('s-1'))?.statements).toHaveLength(1);
    await store.close();
  });

  test('the journal stays bounded: it moves to its other file once the first is committed', async () => {
    using dir = tempDir();
    const path = dir.file('audit.db');
    const store = await startedStore(path);
    const body = 'x'.repeat(4000);
    const sizes: number[] = [];
    for (let c = 0; c < 40; c++) {
      for (let i = 0; i < 100; i++) {
        await store.recordDecision(decision({ statementId: `st-${c}-${i}`, at: T0 + c, text: `SELECT '${body}'` }));
      }
      await store.flush();
      sizes.push(statSync(`${path}-durable-a`).size + statSync(`${path}-durable-b`).size);
    }
    // About 17 MB journaled in all; never more than two files' worth at a time.
    expect(Math.max(...sizes)).toBeLessThan(9.5e6);
    expect(await store.verify()).toMatchObject({ ok: true, checked: 4001 });
    await store.close();
  });
});
