// Recording is on the decision path: while the audit store cannot write, statements are
// refused with 58030 and nothing runs upstream (checked in the upstream's own log), new
// logins are refused, and once the store can write again the same proxy and the same
// session serve again, without a restart. Two real OS failures, as the unit tests use
// them (test/unit/audit/os-failures.ts): an immutable store file and a full disk. We run
// as root, where a read-only mode bit stops nothing; each test skips, with the reason,
// on a machine that cannot produce its failure.
import { closeSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, test } from 'vitest';
import type pg from 'pg';
import { WELL_KNOWN_TRACES } from '../../../src/demo/generate.js';
import { getToken, testEnv } from '../../helpers/env.js';
import { upstreamLog, upstreamStatements } from '../../helpers/postgres.js';
import { startTestProxy, type TestProxy } from '../../helpers/proxy.js';
import { canMakeImmutable, canMountTmpfs, immutable, smallTmpfs } from '../../unit/audit/os-failures.js';
import { auditCli, marker, readSession, sessionIdByApplication, STORE_FILE } from './harness.js';

const MINE = WELL_KNOWN_TRACES.agentALow;
// After a failed write the store refuses at once for 100 ms, then tries the file again.
const RETRY_WINDOW_MS = 100;

async function failure(query: Promise<unknown>): Promise<{ code?: string; message: string } | 'ran'> {
  return query.then(
    () => 'ran' as const,
    (e: { code?: string; message: string }) => ({ code: e.code, message: e.message }),
  );
}

/**
 * With the store broken by `breakStore` (undone by disposing what it returns): every kind
 * of statement and a new login are refused with 58030 and nothing reaches the upstream;
 * then the same session and new ones are served and recorded again.
 */
async function outage(proxy: TestProxy, storePath: string, breakStore: () => Disposable): Promise<void> {
  const token = await getToken('agent-a');
  const client = await proxy.connect(token, { application_name: 'recording-outage' });
  await client.query('SELECT step FROM trace_steps WHERE trace_id = $1', [MINE]);
  const [simple, extended, denied, recovered] = [marker(), marker(), marker(), marker()];

  {
    using _broken = breakStore();
    const refusals = {
      simple: await failure(client.query(`SELECT step, content FROM trace_steps WHERE trace_id = '${MINE}' /* ${simple} */`)),
      extended: await failure(client.query(`SELECT step, content FROM trace_steps WHERE trace_id = $1 /* ${extended} */`, [MINE])),
      // A denial that cannot be recorded is refused all the same, as unrecordable.
      denied: await failure(client.query(`SELECT email FROM customers /* ${denied} */`)),
      login: await failure(proxy.connect(token, { application_name: 'recording-outage-login' })),
    };
    for (const refusal of Object.values(refusals)) {
      expect(refusal).toMatchObject({ code: '58030', message: expect.stringMatching(/audit store cannot record/) });
    }
  }
  const pgEnv = testEnv().pg;
  expect(await upstreamLog(pgEnv, simple)).toEqual([]);
  expect(await upstreamLog(pgEnv, denied)).toEqual([]);
  // The extended Parse goes ahead (the decision needs the Bind's values); it never ran.
  expect(await upstreamStatements(pgEnv, extended)).toEqual([]);

  await sleep(RETRY_WINDOW_MS * 2);
  const again = await client.query(`SELECT step FROM trace_steps WHERE trace_id = $1 /* ${recovered} */`, [MINE]);
  expect(again.rows.length).toBeGreaterThan(0);
  expect(await upstreamStatements(pgEnv, recovered)).toHaveLength(1);
  const fresh: pg.Client = await proxy.connect(token, { application_name: 'recording-outage-after' });
  expect((await fresh.query('SELECT risk FROM traces WHERE trace_id = $1', [MINE])).rows).toEqual([{ risk: 'low' }]);

  await proxy.auditCommitted();
  const sessionId = await sessionIdByApplication(storePath, 'recording-outage');
  const texts = (await readSession(storePath, sessionId))?.statements.map((s) => s.text) ?? [];
  // What was refused left no decision behind; what ran after recovery did.
  expect(texts.filter((t) => [simple, extended, denied].some((m) => t.includes(m)))).toEqual([]);
  expect(texts.filter((t) => t.includes(recovered))).toHaveLength(1);
  expect((await auditCli(storePath, 'verify')).code).toBe(0);
}

describe('the audit store cannot write', () => {
  test.skipIf(!canMakeImmutable())('an immutable store file: 58030, nothing upstream, served again once writable', async () => {
    await using proxy = await startTestProxy();
    const storePath = join(proxy.dir, STORE_FILE);
    // Not the -shm file: SQLite maps it, and a write fault on an immutable mapping is a
    // SIGBUS that would kill the test process, not an error the store could report. The
    // journal's files are the store's too: a decision is written there first.
    const files = [storePath, `${storePath}-wal`, `${storePath}-durable-a`, `${storePath}-durable-b`];
    await outage(proxy, storePath, () => immutable([...files, proxy.dir]));
  });

  test.skipIf(!canMountTmpfs())('a full disk: 58030, nothing upstream, served again once space is freed', async () => {
    using fs = smallTmpfs(1024);
    const storePath = join(fs.path, STORE_FILE);
    await using proxy = await startTestProxy({ extraYaml: `store: { sqlite: { path: ${storePath} } }` });
    await outage(proxy, storePath, () => fill(fs.path));
  });
});

/**
 * Fills the file system at `dir` to the last byte, the journal's last page included (a
 * line of its own it skips when read): disposing frees the space.
 */
function fill(dir: string): Disposable {
  const files = [join(dir, 'filler'), join(dir, 'filler-small')];
  for (const [file, size, flags] of [
    [files[0], 64 * 1024, 'w'],
    // Then in small pieces, so not even one more page fits.
    [files[1], 512, 'w'],
    [join(dir, `${STORE_FILE}-durable-a`), 1, 'a'],
    [join(dir, `${STORE_FILE}-durable-b`), 1, 'a'],
  ] as const) {
    const fd = openSync(file as string, flags);
    try {
      for (;;) writeSync(fd, Buffer.alloc(size, flags === 'a' ? 0x0a : 1));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
    } finally {
      closeSync(fd);
    }
  }
  return { [Symbol.dispose]: () => files.forEach((f) => unlinkSync(f as string)) };
}
