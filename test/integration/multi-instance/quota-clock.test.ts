// Instances sharing a store count quotas together, on the store's clock. Each instance's
// own clock may drift (NTP, a resumed VM): counted on the caller's clock, an instance
// running a minute ahead found the other instances' grants a minute old and expired
// them, so two instances together let through twice a grantsPerMinute.
import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { parsePolicy } from '../../../src/policy/load.js';
import { DEFAULT_PG_SCHEMA } from '../../../src/store-pg/pg-shared-store.js';
import { PgQuotaStore } from '../../../src/store-pg/pg-quota-store.js';
import { migrate } from '../../../src/store-pg/pg-schema.js';
import { createStoreDatabase, type StoreDatabase } from './harness.js';

const POLICY = parsePolicy(
  `version: 1
traceTables:
  - { table: public.traces, key: trace_id }
rules:
  - name: two-a-minute
    groups: [ai-agents]
    quotas:
      grantsPerMinute: 2
`,
  'quota-clock.yaml',
  { env: {} },
);
const RULE = POLICY.rules[0];

let store: StoreDatabase;
let pool: pg.Pool;
beforeAll(async () => {
  store = await createStoreDatabase();
  pool = new pg.Pool({ connectionString: store.url, max: 2 });
  await migrate(pool, DEFAULT_PG_SCHEMA);
});
afterAll(async () => {
  await pool?.end();
  await store?.drop();
});

test('grantsPerMinute holds across instances whose clocks differ by a minute', async () => {
  if (!RULE) throw new Error('no rule');
  const quotas = new PgQuotaStore({ pool, schema: DEFAULT_PG_SCHEMA });
  const read = (now: number) => quotas.checkAndCount({ rule: RULE, subject: 'agent-a', traceId: 'tr_000001', now });
  const behind = Date.now();
  const ahead = behind + 61_000;
  expect(await read(behind)).toEqual({ ok: true });
  expect(await read(behind)).toEqual({ ok: true });
  // The instance whose clock runs a minute ahead still finds both grants of this minute.
  expect(await read(ahead)).toMatchObject({ ok: false, sqlstate: '53400' });
  expect(await read(behind)).toMatchObject({ ok: false, sqlstate: '53400' });
});

// An instance of the previous version, still running during a rolling upgrade, calls
// the seven-argument form with its own clock: it is counted on the store's clock too.
test("the previous version's call form still works, on the store's clock", async () => {
  const old = (now: number) =>
    pool.query<{ ok: boolean; problem: string | null }>(`SELECT ok, problem FROM ${DEFAULT_PG_SCHEMA}.quota_check($1, $2, $3, $4, $5, $6, $7)`, [
      'old-version',
      'agent-a',
      'tr_000001',
      now,
      null,
      null,
      1,
    ]);
  expect((await old(Date.now())).rows).toEqual([{ ok: true, problem: null }]);
  expect((await old(Date.now() + 61_000)).rows).toEqual([{ ok: false, problem: 'grants' }]);
});
