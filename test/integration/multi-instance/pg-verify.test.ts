// audit verify on the shared Postgres store checks every row the session views can list:
// a row above the chain head, like one at or before the chain's start, is on no link,
// and is reported as a broken link rather than passed over.
import type pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { GENESIS_HASH, linkHash } from '../../../src/audit/chain.js';
import { verifyChain } from '../../../src/store-pg/pg-audit-reader.js';
import { openPool } from '../../../src/store-pg/pg-pool.js';
import { migrate, quoteSchema } from '../../../src/store-pg/pg-schema.js';
import { DEFAULT_PG_SCHEMA } from '../../../src/store-pg/pg-shared-store.js';
import { createStoreDatabase, type StoreDatabase } from './harness.js';

const S = quoteSchema(DEFAULT_PG_SCHEMA);

let store: StoreDatabase;
let pool: pg.Pool;
beforeAll(async () => {
  store = await createStoreDatabase();
  pool = openPool({ url: store.url, poolSize: 2 });
  await migrate(pool, DEFAULT_PG_SCHEMA);
});
afterAll(async () => {
  await pool?.end();
  await store?.drop();
});

test('a record stored above the chain head is a broken link', async () => {
  const record = { kind: 'session-start', at: 1, sessionId: 's-1', ref: null, subject: 'agent-a', traceId: null, body: '{}' };
  const hash = linkHash(GENESIS_HASH, 1, record);
  await pool.query(`INSERT INTO ${S}.records (seq, kind, at, session_id, ref, subject, trace_id, body, hash) VALUES (1, $1, 1, 's-1', NULL, 'agent-a', NULL, '{}', $2)`, [
    record.kind,
    hash,
  ]);
  await pool.query(`INSERT INTO ${S}.chain_head (id, seq, hash) VALUES (1, 1, $1) ON CONFLICT (id) DO UPDATE SET seq = 1, hash = $1`, [hash]);
  expect(await verifyChain(pool, S)).toMatchObject({ ok: true, checked: 1 });

  await pool.query(`INSERT INTO ${S}.records (seq, kind, at, session_id, body, hash) VALUES (1000000, 'statement', 2, 's-1', '{}', $1)`, ['f'.repeat(64)]);
  expect(await verifyChain(pool, S)).toMatchObject({ ok: false, broken: { seq: 1000000, kind: 'statement', problem: 'sequence' } });

  // Without its head row, the chain's records are all above the head.
  await pool.query(`DELETE FROM ${S}.records WHERE seq = 1000000`);
  await pool.query(`DELETE FROM ${S}.chain_head`);
  expect(await verifyChain(pool, S)).toMatchObject({ ok: false, broken: { seq: 1, problem: 'sequence' } });
});
