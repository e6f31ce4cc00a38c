// postgres.js, in the test process, through tracegate. It prepares every tagged-template
// query as a named statement by default and reads text results only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import postgres from 'postgres';
import type { SessionDetail } from '../../../src/audit/store.js';
import { NOT_ENTITLED } from '../../../src/policy/decision.js';
import { getToken } from '../../helpers/env.js';
import { startTestProxy, type TestProxy } from '../../helpers/proxy.js';
import { BULK_SQL, endedBecauseExpired, errorOf, expectMasked, MINE, packageVersion, recording, THEIRS, type TraceRow } from './harness.js';
import { Report } from './results.js';


const report = new Report('postgres-js', 'postgres.js', 'in the test process', 'test/integration/compat/postgres-js.test.ts');
report.version = `${packageVersion('postgres')} (npm)`;

let proxy: TestProxy;
let sql: postgres.Sql;
const clients: postgres.Sql[] = [];

function connect(pass: string | (() => Promise<string>), opts: postgres.Options<Record<string, never>> = {}): postgres.Sql {
  const c = postgres({
    host: '127.0.0.1',
    port: proxy.port,
    user: 'agent-a',
    database: 'traces',
    pass: pass as string,
    ssl: false,
    connection: { application_name: 'compat-postgres-js' },
    onnotice: () => undefined,
    ...opts,
  });
  clients.push(c);
  return c;
}

const read = async (s: postgres.Sql, id: string): Promise<TraceRow[]> => [
  ...(await s<TraceRow[]>`SELECT trace_id, agent_id, user_email, risk, created_at, summary FROM traces WHERE trace_id = ${id}`),
];

beforeAll(async () => {
  proxy = await startTestProxy();
  sql = connect(await getToken('agent-a'), { max: 1 });
});

afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.end({ timeout: 1 })));
  await proxy?.close();
  report.note('`pass` may be an async function: each new connection asks it for a current token.');
  report.note('postgres.js 3.4.x rejects the first query after it reconnected from a FATAL with that FATAL again (here 28000 "token expired"); the query did not run, and the next one works. The driver does the same after PostgreSQL\'s own FATALs (porsager/postgres#1215, #1223): retry once.');
  await report.publish();
});

describe('postgres.js', () => {
  it('logs in with an access token as the password', async () => {
    await report.check('login', 'postgres({ pass: token })', async () => {
      const [row] = await sql<{ one: number }[]>`SELECT 1 AS one`;
      expect(row?.one).toBe(1);
    });
  });

  it('reads one trace with a bound parameter, masked (unnamed statement)', async () => {
    await report.check('read', 'prepare: false: unnamed statement (extended protocol)', async () => {
      const unprepared = connect(await getToken('agent-a'), { prepare: false, max: 1 });
      const rows = [...(await unprepared<TraceRow[]>`SELECT trace_id, agent_id, user_email, risk, created_at, summary FROM traces WHERE trace_id = ${MINE}`)];
      expectMasked(rows);
      expect(rows[0]?.created_at).toBeInstanceOf(Date);
    });
  });

  it('reads through a named prepared statement (the default)', async () => {
    await report.check('prepared', 'default prepare: true: named statement, executed twice', async () => {
      expectMasked(await read(sql, MINE));
      expectMasked(await read(sql, MINE));
    });
  });

  it('binary results do not apply', () => {
    report.set('binary', 'n/a', 'postgres.js always asks for text results');
  });

  it('surfaces a denial as PostgresError with code 42501, and the connection stays usable', async () => {
    await report.check('denied', 'postgres.PostgresError, code 42501 (simple query and at Bind)', async () => {
      const bulk = await errorOf<postgres.PostgresError>(sql.unsafe(BULK_SQL).execute());
      expect(bulk).toBeInstanceOf(postgres.PostgresError);
      expect(bulk.code).toBe('42501');
      expect(bulk.message).toMatch(/read without pinning trace_id/);
      const other = await errorOf<postgres.PostgresError>(read(sql, THEIRS));
      expect(other).toBeInstanceOf(postgres.PostgresError);
      expect(other.code).toBe('42501');
      expect(other.message).toContain(NOT_ENTITLED);
    });
    await report.check('usable', 'same connection (max: 1): next statement, and sql.begin() after a denial inside it', async () => {
      expectMasked(await read(sql, MINE));
      await expect(sql.begin(async (tx) => tx.unsafe(BULK_SQL))).rejects.toMatchObject({ code: '42501' });
      expectMasked(await read(sql, MINE));
    });
  });

  it('ends an expired session (FATAL 28000, seen as CONNECTION_CLOSED); the next connection gets a fresh token', async () => {
    await report.check('expiry', 'the expired connection\'s query fails with CONNECTION_CLOSED (postgres.js waits for ReadyForQuery after an ErrorResponse, so a FATAL\'s SQLSTATE never reaches the caller, as with PostgreSQL\'s own FATALs); the next query reconnects, asking `pass` for a fresh token', async () => {
      let calls = 0;
      const expiring = await getToken('agent-a', { expiresIn: 2 });
      const s = connect(async () => (++calls === 1 ? expiring : getToken('agent-a')), { max: 1 });
      expectMasked(await read(s, MINE));
      await new Promise((r) => setTimeout(r, 2_600));
      const err = await errorOf<postgres.PostgresError>(read(s, MINE));
      expect(err.code).toBe('CONNECTION_CLOSED');
      // postgres.js (3.4.x) keeps the ErrorResponse it read before the close and rejects
      // the first query on the reconnected socket with it (porsager/postgres#1215, #1223;
      // it does the same with PostgreSQL's own FATALs): that query did not run.
      const replayed = await read(s, MINE).then(
        () => null,
        (e: unknown) => e as postgres.PostgresError,
      );
      if (replayed) expect(replayed).toMatchObject({ code: '28000', message: expect.stringMatching(/token expired/) });
      expectMasked(await read(s, MINE));
      expect(calls).toBe(2);
    });
  });

  it('was recorded: the expired session ended for it', async () => {
    const rec = await recording(proxy);
    let sessions: SessionDetail[];
    try {
      sessions = await rec.sessions((all) => endedBecauseExpired(all));
    } finally {
      await rec.close();
    }
    expect(endedBecauseExpired(sessions)).toBe(true);
  });
});
