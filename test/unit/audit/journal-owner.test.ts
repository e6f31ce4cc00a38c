// One process owns a store's journal (durable-journal.ts), whatever name it opens the
// store by: the chain's journal mark is one per store file, so a second journal on the
// same file would have its entries taken for ones the chain already has.
import { symlinkSync } from 'node:fs';
import { expect, test } from 'vitest';
import { JournalBusyError } from '../../../src/audit/durable-journal.js';
import { openSqliteStore, type SqliteAuditStore } from '../../../src/audit/sqlite-store.js';
import { decision, sessionStart, tempDir } from './helpers.js';

test('a decision journaled through a symlink to the store file reaches the chain', async () => {
  using dir = tempDir();
  const path = dir.file('audit.db');
  const first = await openSqliteStore({ path, flushIntervalMs: 60_000 });
  symlinkSync(path, dir.file('link.db'));
  let second: SqliteAuditStore | null = null;
  try {
    second = await openSqliteStore({ path: dir.file('link.db'), flushIntervalMs: 60_000, busyTimeoutMs: 50 });
  } catch (err) {
    expect(err).toBeInstanceOf(JournalBusyError);
  }
  await first.recordSessionStart(sessionStart());
  await first.recordDecision(decision({ statementId: 'st-1' }));
  await first.flush();
  // If it started, the second store journals its decision as j 1 of its own journal.
  await second?.recordDecision(decision({ statementId: 'st-2', decisionId: 'd-2' }));
  await second?.close();
  await first.close();
  const reader = await openSqliteStore({ path, mustExist: true });
  const ids = (await reader.getSession('s-1'))?.statements.map((s) => s.statementId);
  await reader.close();
  expect(ids).toEqual(second === null ? ['st-1'] : ['st-1', 'st-2']);
});
