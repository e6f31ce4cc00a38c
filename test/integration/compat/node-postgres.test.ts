// node-postgres (pg) with its pool (pg-pool), in the test process, through tracegate.
// The pool takes the token from a function, so a pool whose connection was ended by an
// expired token opens the next one with a fresh token: the pattern the README shows.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import type { SessionDetail } from '../../../src/audit/store.js';
import { NOT_ENTITLED } from '../../../src/policy/decision.js';
import { getToken } from '../../helpers/env.js';
import { startTestProxy, type TestProxy } from '../../helpers/proxy.js';
import {
  BULK_SQL,
  endedBecauseExpired,
  errorOf,
  expectMasked,
  MINE,
  packageVersion,
  PLANTED_IN_MINE,
  READ_SQL,
  recordedValues,
  recording,
  THEIRS,
  traceReadFormats,
  type TraceRow,
} from './harness.js';
import { Report } from './results.js';


const report = new Report('node-postgres', 'node-postgres + pg-pool', 'in the test process', 'test/integration/compat/node-postgres.test.ts');
report.version = `pg ${packageVersion('pg')}, pg-pool ${packageVersion('pg-pool')} (npm)`;

let proxy: TestProxy;
let pool: pg.Pool;
const pools: pg.Pool[] = [];

function newPool(password: string | (() => Promise<string>), extra: pg.PoolConfig = {}): pg.Pool {
  const p = new pg.Pool({ ...proxy.clientConfig(''), user: 'agent-a', password, application_name: 'compat-node-postgres', ...extra });
  p.on('error', () => undefined);
  pools.push(p);
  return p;
}

beforeAll(async () => {
  proxy = await startTestProxy();
  pool = newPool(await getToken('agent-a'));
});

afterAll(async () => {
  await Promise.allSettled(pools.map((p) => p.end()));
  await proxy?.close();
  report.note('The pool takes `password` as an async function, so each new connection gets a current token: after an expired token ended a connection, the pool\'s next connection logs in with a fresh one.');
  await report.publish();
});

describe('node-postgres + pg-pool', () => {
  it('logs in with an access token as the password', async () => {
    await report.check('login', 'pg.Pool, token as password', async () => {
      const { rows } = await pool.query<{ one: number }>('SELECT 1 AS one');
      expect(rows[0]?.one).toBe(1);
    });
  });

  it('reads one trace with a bound parameter, masked', async () => {
    await report.check('read', 'pool.query(text, [traceId]): unnamed statement (extended protocol), text results', async () => {
      const { rows } = await pool.query<TraceRow>(READ_SQL, [MINE]);
      expectMasked(rows);
      expect(rows[0]?.created_at).toBeInstanceOf(Date);
    });
  });

  it('reads through a named prepared statement', async () => {
    await report.check('prepared', 'query({ name, text, values }): named statement, executed twice', async () => {
      const client = await pool.connect();
      try {
        for (let i = 0; i < 2; i++) expectMasked((await client.query<TraceRow>({ name: 'compat-read', text: READ_SQL, values: [MINE] })).rows);
      } finally {
        client.release();
      }
    });
  });

  it('gets binary results, masked', async () => {
    await report.check('binary', 'query({ text, values, binary: true }): every result column in binary format', async () => {
      // `binary` is a runtime option of pg's Query (and Client) that @types/pg leaves out.
      const config: pg.QueryConfig & { binary: boolean } = { text: READ_SQL, values: [MINE], binary: true };
      const { rows, fields } = await pool.query<TraceRow>(config);
      expect(fields.every((f) => f.format === 'binary')).toBe(true);
      expectMasked(rows);
      expect(rows[0]?.created_at).toBeInstanceOf(Date);
    });
  });

  it('surfaces a denial as pg.DatabaseError with code 42501, and the connection stays usable', async () => {
    const client = await pool.connect();
    try {
      await report.check('denied', 'pg.DatabaseError, code 42501 (simple query and at Bind)', async () => {
        const bulk = await errorOf<pg.DatabaseError>(client.query(BULK_SQL));
        expect(bulk).toBeInstanceOf(pg.DatabaseError);
        expect(bulk.code).toBe('42501');
        expect(bulk.message).toMatch(/read without pinning trace_id/);
        const other = await errorOf<pg.DatabaseError>(client.query({ name: 'compat-other', text: READ_SQL, values: [THEIRS] }));
        expect(other).toBeInstanceOf(pg.DatabaseError);
        expect(other.code).toBe('42501');
        expect(other.message).toContain(NOT_ENTITLED);
      });
      await report.check('usable', 'same pooled client: next statement, and a transaction after a denial inside one', async () => {
        expectMasked((await client.query<TraceRow>(READ_SQL, [MINE])).rows);
        await client.query('BEGIN');
        await errorOf<pg.DatabaseError>(client.query(BULK_SQL));
        await client.query('ROLLBACK');
        expectMasked((await client.query<TraceRow>(READ_SQL, [MINE])).rows);
      });
    } finally {
      client.release();
    }
  });

  it('ends an expired session with FATAL 28000; the pool reconnects with a fresh token', async () => {
    await report.check('expiry', 'pg.DatabaseError code 28000 (FATAL) on the expired connection; the pool\'s next connection gets a fresh token from its password function', async () => {
      let calls = 0;
      const expiring = await getToken('agent-a', { expiresIn: 2 });
      const tokens = newPool(async () => (++calls === 1 ? expiring : getToken('agent-a')), { max: 1 });
      expectMasked((await tokens.query<TraceRow>(READ_SQL, [MINE])).rows);
      await new Promise((r) => setTimeout(r, 2_600));
      const err = await errorOf<pg.DatabaseError>(tokens.query(READ_SQL, [MINE]));
      expect(err.code).toBe('28000');
      expect((err as pg.DatabaseError).severity).toBe('FATAL');
      expect(err.message).toMatch(/token expired/);
      expectMasked((await tokens.query<TraceRow>(READ_SQL, [MINE])).rows);
      expect(calls).toBe(2);
    });
  });

  it('was recorded: binary columns masked, the expired session ended for it', async () => {
    const rec = await recording(proxy);
    let sessions: SessionDetail[];
    try {
      sessions = await rec.sessions((all) => endedBecauseExpired(all));
    } finally {
      await rec.close();
    }
    expect(endedBecauseExpired(sessions)).toBe(true);
    expect([...traceReadFormats(sessions)].sort()).toEqual([0, 1]);
    const values = recordedValues(sessions).join('\n');
    for (const planted of PLANTED_IN_MINE) expect(values).not.toContain(planted);
  });
});
