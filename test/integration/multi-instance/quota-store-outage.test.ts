// With a shared store, quotas are counted in Postgres. When that store cannot be reached
// at the quota check, the statement is refused as for any store that cannot record
// (ERROR 58030, naming its decision) and the session is kept for the next statement;
// it used to end the session with an internal error (FATAL XX000).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { WELL_KNOWN_TRACES } from '../../../src/demo/generate.js';
import { getToken, withSuperuser } from '../../helpers/env.js';
import type { TestProxy } from '../../helpers/proxy.js';
import { createStoreDatabase, eventually, startInstance, type StoreDatabase } from './harness.js';

const READ = 'SELECT trace_id FROM traces WHERE trace_id = $1';
const MINE = WELL_KNOWN_TRACES.agentALow;

let dir: string;
let store: StoreDatabase;
let proxy: TestProxy;

const superuser = (sql: string, params: unknown[] = []): Promise<unknown> => withSuperuser((db) => db.query(sql, params), 'postgres');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tracegate-quota-outage-'));
  const policyFile = join(dir, 'policy.yaml');
  writeFileSync(
    policyFile,
    `version: 1
traceTables:
  - { table: public.traces, key: trace_id, owner: agent_id, risk: risk }
rules:
  - name: owners
    groups: [ai-agents]
    entitlement: { owner: { claim: sub } }
    quotas:
      grantsPerMinute: 100
`,
  );
  store = await createStoreDatabase();
  proxy = await startInstance(store, { policyFile, admin: false });
}, 120_000);
afterAll(async () => {
  await proxy?.close().catch(() => undefined);
  await superuser(`ALTER ROLE ${store.database} LOGIN`).catch(() => undefined);
  await store?.drop();
  rmSync(dir, { recursive: true, force: true });
});

test('a quota check the store cannot answer refuses the statement with 58030 and keeps the session', async () => {
  const client = await proxy.connect(await getToken('agent-a'));
  expect((await client.query(READ, [MINE])).rows).toEqual([{ trace_id: MINE }]);
  // The store's role can no longer log in, and its sessions are ended.
  await superuser(`ALTER ROLE ${store.database} NOLOGIN`);
  await superuser('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [store.database]);
  const refused = await client.query(READ, [MINE]).then(
    () => null,
    (err: { code?: string; severity?: string; message: string }) => ({ code: err.code, severity: err.severity, message: err.message }),
  );
  expect(refused).toMatchObject({ code: '58030', severity: 'ERROR', message: expect.stringMatching(/\(decision [0-9a-f-]{36}\)/) });
  // The session is still there: once the store is back, the same client reads again.
  await superuser(`ALTER ROLE ${store.database} LOGIN`);
  const again = await eventually(
    () => client.query(READ, [MINE]).then((r) => r.rows, () => undefined),
    'a read once the store is back',
    10_000,
  );
  expect(again).toEqual([{ trace_id: MINE }]);
  await client.end();
});
