// The store fails closed on a real OS-level write failure and recovers by itself.
import { once } from 'node:events';
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Worker } from 'node:worker_threads';
import { describe, expect, test } from 'vitest';
import { AuditUnavailableError } from '../../../src/audit/audit-unavailable-error.js';
import { openSqliteStore } from '../../../src/audit/sqlite-store.js';
import { decision, sessionStart, T0, tempDir, text } from './helpers.js';
import { canMakeImmutable, canMountTmpfs, immutable, smallTmpfs } from './os-failures.js';

const RETRY_MS = 20;

describe('fail closed', () => {
  test('a writer thread that stops refuses durable writes; the next write after the window starts a new one', async () => {
    using dir = tempDir();
    const contexts: string[] = [];
    const store = await openSqliteStore({ path: dir.file('audit.db'), retryAfterMs: RETRY_MS, onError: (_e, context) => contexts.push(context) });
    await store.recordSessionStart(sessionStart());
    // The thread is internal; stopping it from outside stands in for a crash of it.
    const writer = (store as unknown as { writer: Worker }).writer;
    const exited = once(writer, 'exit');
    await writer.terminate();
    await exited;
    expect(contexts).toEqual([expect.stringMatching(/writer thread stopped/)]);
    await expect(store.recordDecision(decision({ statementId: 'st-refused' }))).rejects.toMatchObject({
      name: 'AuditUnavailableError',
      sqlstate: '58030',
    });
    await sleep(RETRY_MS * 2);
    await store.recordDecision(decision({ statementId: 'st-after' }));
    expect((await store.getSession('s-1'))?.statements.map((s) => s.statementId)).toEqual(['st-after']);
    expect(await store.verify()).toMatchObject({ ok: true, checked: 2 });
    await store.close();
  });

  test.skipIf(!canMakeImmutable())('an immutable store file rejects durable writes, then recovers', async () => {
    using dir = tempDir();
    const path = dir.file('audit.db');
    const errors: unknown[] = [];
    const store = await openSqliteStore({ path, retryAfterMs: RETRY_MS, onError: (e) => errors.push(e) });
    await store.recordSessionStart(sessionStart());

    // The -shm file stays writable: SQLite maps it into memory, and a write fault on an
    // immutable mapping is SIGBUS, not an error (tested by hand: it kills the process).
    // The journal's files are part of the store: a decision is written there first.
    const lock = immutable([path, `${path}-wal`, `${path}-durable-a`, `${path}-durable-b`, dir.path]);
    try {
      const refused = store.recordDecision(decision({ statementId: 'st-refused' }));
      await expect(refused).rejects.toBeInstanceOf(AuditUnavailableError);
      await expect(refused).rejects.toMatchObject({ sqlstate: '58030', cause: { code: 'EPERM' } });
      // Then durable writes wait for the chain's commit again, which fails as well.
      await sleep(RETRY_MS * 2);
      await expect(store.recordDecision(decision({ statementId: 'st-chain' }))).rejects.toMatchObject({
        sqlstate: '58030',
        cause: { code: expect.stringMatching(/^SQLITE_(IOERR|READONLY|CANTOPEN)/) },
      });
      // Within the retry window the store refuses at once, without touching the file.
      await expect(store.recordDecision(decision({ statementId: 'st-fast' }))).rejects.toBeInstanceOf(
        AuditUnavailableError,
      );
      await sleep(RETRY_MS * 2);
      // After the window it tries again (reopening the file) and still fails closed.
      await expect(store.recordDecision(decision({ statementId: 'st-again' }))).rejects.toBeInstanceOf(
        AuditUnavailableError,
      );
    } finally {
      lock.release();
    }
    await sleep(RETRY_MS * 2);
    await store.recordDecision(decision({ statementId: 'st-recovered' }));
    const statements = (await store.getSession('s-1'))?.statements.map((s) => s.statementId);
    expect(statements).toEqual(['st-recovered']);
    expect(await store.verify()).toMatchObject({ ok: true, checked: 2 });
    await store.close();
  });

  test.skipIf(!canMakeImmutable())('a journaled decision the chain cannot take stays journaled; later ones are refused', async () => {
    using dir = tempDir();
    const path = dir.file('audit.db');
    const errors: unknown[] = [];
    const store = await openSqliteStore({ path, retryAfterMs: RETRY_MS, flushIntervalMs: 5, onError: (e) => errors.push(e) });
    await store.recordSessionStart(sessionStart());
    await store.flush();

    const lock = immutable([path, `${path}-wal`, dir.path]);
    try {
      // The journal takes it: the statement may run, its record is on disk.
      await store.recordDecision(decision({ statementId: 'st-journaled' }));
      expect(readFileSync(`${path}-durable-a`, 'utf8')).toContain('"st-journaled"');
      // The writer fails to move it into the chain, and says so...
      await expect(store.flush()).rejects.toBeInstanceOf(AuditUnavailableError);
      // ...so the next decisions wait for the chain, which refuses them.
      await expect(store.recordDecision(decision({ statementId: 'st-refused' }))).rejects.toMatchObject({ sqlstate: '58030' });
      await sleep(RETRY_MS * 2);
      await expect(store.recordDecision(decision({ statementId: 'st-again' }))).rejects.toMatchObject({ sqlstate: '58030' });
    } finally {
      lock.release();
    }
    await sleep(RETRY_MS * 2);
    await store.recordDecision(decision({ statementId: 'st-recovered' }));
    expect((await store.getSession('s-1'))?.statements.map((s) => s.statementId)).toEqual(['st-journaled', 'st-recovered']);
    expect(await store.verify()).toMatchObject({ ok: true, checked: 3 });
    await store.close();
  });

  test.skipIf(!canMountTmpfs())('a full disk rejects durable writes, keeps batched ones, and recovers', async () => {
    using fs = smallTmpfs(1024);
    const path = join(fs.path, 'audit.db');
    const store = await openSqliteStore({ path, retryAfterMs: RETRY_MS, flushIntervalMs: 10, onError: () => {} });
    await store.recordSessionStart(sessionStart());
    await store.recordDecision(decision());

    const filler = join(fs.path, 'filler');
    const fd = openSync(filler, 'w');
    const block = Buffer.alloc(64 * 1024, 1);
    try {
      for (;;) writeSync(fd, block);
    } catch (err) {
      expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC');
    } finally {
      closeSync(fd);
    }
    // Fill what the tmpfs still has in smaller pieces, so SQLite gets not even a page.
    const fd2 = openSync(join(fs.path, 'filler-2'), 'w');
    try {
      for (;;) writeSync(fd2, Buffer.alloc(512, 1));
    } catch {
      // full
    } finally {
      closeSync(fd2);
    }

    // A response captured while the disk is full is kept in memory, not lost.
    const rec = store.openResponse({ sessionId: 's-1', statementId: 'st-1' });
    rec.add({
      type: 'RowDescription',
      fields: [{ name: 'a', tableOid: 0, columnNumber: 0, typeOid: 25, typeSize: -1, typeModifier: -1, format: 0 }],
    });
    for (let i = 0; i < 200; i++) rec.add({ type: 'DataRow', fields: [text('row '.repeat(50))] });
    rec.end({ at: T0, rows: 200, bytes: 40_000, durationMs: 1, commandTag: 'SELECT 200', error: null });
    await expect(store.flush()).rejects.toMatchObject({
      name: 'AuditUnavailableError',
      cause: { code: expect.stringMatching(/^SQLITE_(FULL|IOERR)/) },
    });
    await sleep(RETRY_MS * 2);
    await expect(store.recordDecision(decision({ statementId: 'st-full' }))).rejects.toMatchObject({
      name: 'AuditUnavailableError',
      sqlstate: '58030',
    });

    unlinkSync(filler);
    unlinkSync(join(fs.path, 'filler-2'));
    await sleep(RETRY_MS * 2);
    await store.recordDecision(decision({ statementId: 'st-after' }));
    await store.flush();
    const detail = await store.getSession('s-1');
    expect(detail?.statements.map((s) => s.statementId)).toEqual(['st-1', 'st-after']);
    expect(detail?.statements[0]?.response.filter((e) => e.type === 'DataRow')).toHaveLength(200);
    expect(await store.verify()).toMatchObject({ ok: true });
    await store.close();
  });
});
