// The policy on the decision path of a live session, with real clients: a denied
// statement reaches the client with its SQLSTATE, a reason and a decision id, and never
// reaches the upstream (checked in the upstream's own statement log); legit reads work;
// in a pipeline a denied Bind discards until Sync and the connection stays usable.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import pg from 'pg';
import postgres from 'postgres';
import { WELL_KNOWN_TRACES } from '../../../src/demo/generate.js';
import { upstreamLog } from '../../helpers/postgres.js';
import { getToken, testEnv } from '../../helpers/env.js';
import { startTestProxy, type TestProxy } from '../../helpers/proxy.js';

const run = promisify(execFile);
const MINE = WELL_KNOWN_TRACES.agentALow;
const THEIRS = WELL_KNOWN_TRACES.agentBLow;

let proxy: TestProxy;
let token: string;
beforeAll(async () => {
  proxy = await startTestProxy();
  token = await getToken('agent-a');
});
afterAll(async () => proxy.close());

const marker = (): string => `m_${randomUUID().replace(/-/g, '')}`;

async function refused(client: pg.Client, sql: string, values?: unknown[]): Promise<{ code?: string; message: string }> {
  return client.query(sql, values).then(
    () => ({ message: 'allowed' }),
    (e: unknown) => ({ code: (e as { code?: string }).code, message: (e as Error).message }),
  );
}

describe('denials never reach the upstream', () => {
  test.each([
    ['a bulk read', (m: string) => `SELECT trace_id FROM traces /* ${m} */`, '42501', /trace_id/],
    ['an OR that widens the scope', (m: string) => `SELECT * FROM traces WHERE trace_id = '${MINE}' OR true /* ${m} */`, '42501', /trace_id/],
    ['a non-trace table', (m: string) => `SELECT email, api_key FROM customers /* ${m} */`, '42501', /customers/],
    ['a dangerous function', (m: string) => `SELECT pg_read_file('/etc/passwd') /* ${m} */`, '42501', /pg_read_file/],
    ['a write', (m: string) => `DELETE FROM traces WHERE trace_id = '${MINE}' /* ${m} */`, '42501', /./],
    ['DDL', (m: string) => `CREATE TABLE evil_${m} (x int)`, '42501', /./],
    ['COPY', (m: string) => `COPY traces TO STDOUT /* ${m} */`, '42501', /./],
    ['a search_path change', (m: string) => `SET search_path = evil /* ${m} */`, '42501', /search_path/],
    ['a syntax error', (m: string) => `SELEKT 1 /* ${m} */`, '42601', /syntax/],
    // A pinned read past the analyser's bound on FROM items (policies/README): denied like any unanalysable statement.
    [
      'more than 100 FROM items',
      (m: string) =>
        `SELECT t0.trace_id FROM traces t0 ${Array.from({ length: 50 }, (_, i) => `JOIN trace_steps s${i} ON s${i}.trace_id = t0.trace_id`).join(' ')} WHERE t0.trace_id = '${MINE}' /* ${m} */`,
      '42501',
      /more than 100 tables, joins, subqueries and functions in FROM, which the policy cannot analyse/,
    ],
    ['an unanalysable construct', (m: string) => `SELECT * FROM traces TABLESAMPLE BERNOULLI (50) WHERE trace_id = '${MINE}' /* ${m} */`, '42501', /TABLESAMPLE/],
  ])('%s', async (_name, sqlOf, code, reason) => {
    const client = await proxy.connect(token);
    const m = marker();
    const err = await refused(client, sqlOf(m));
    expect(err.code).toBe(code);
    expect(err.message).toMatch(reason);
    expect(err.message).toMatch(/decision [0-9a-f-]{36}/);
    expect(await upstreamLog(testEnv().pg, m)).toEqual([]);
    // The connection stays usable after a denial.
    const ok = await client.query('SELECT trace_id FROM traces WHERE trace_id = $1', [MINE]);
    expect(ok.rows).toHaveLength(1);
  });

  test('a multi-statement Query with one denied statement runs none of them', async () => {
    const client = await proxy.connect(token);
    const m = marker();
    const err = await refused(client, `SELECT trace_id FROM traces WHERE trace_id = '${MINE}' /* ${m} */; SELECT * FROM customers`);
    expect(err.code).toBe('42501');
    expect(await upstreamLog(testEnv().pg, m)).toEqual([]);
  });

  test('a denied extended-protocol statement never reaches the upstream, not even its Parse', async () => {
    const client = await proxy.connect(token);
    const m = marker();
    const err = await refused(client, `SELECT * FROM traces WHERE trace_id <> $1 /* ${m} */`, [MINE]);
    expect(err.code).toBe('42501');
    expect(await upstreamLog(testEnv().pg, m)).toEqual([]);
  });
});

describe('the analyser\'s bound on FROM items', () => {
  test('a bound read past it is denied at Parse, again from the cache, and the session goes on', async () => {
    const client = await proxy.connect(token);
    const m = marker();
    const joins = (n: number): string => Array.from({ length: n }, (_, i) => `JOIN trace_steps s${i} ON s${i}.trace_id = t0.trace_id`).join(' ');
    const sql = `SELECT t0.trace_id FROM traces t0 ${joins(50)} WHERE t0.trace_id = $1 /* ${m} */`;
    for (let i = 0; i < 2; i++) {
      const err = await refused(client, sql, [MINE]);
      expect(err.code).toBe('42501');
      expect(err.message).toMatch(/more than 100 tables, joins, subqueries and functions in FROM/);
      const ok = await client.query(`SELECT t0.trace_id FROM traces t0 ${joins(5)} WHERE t0.trace_id = $1 LIMIT 1`, [MINE]);
      expect(ok.rows).toHaveLength(1);
    }
    expect(await upstreamLog(testEnv().pg, m)).toEqual([]);
  });
});

describe('statement size', () => {
  // A legit read padded past limits.maxStatementSize (64 KiB): dense SQL costs the
  // shared event loop 2 to 4 µs per byte to parse, so it is refused before the parser.
  const padded = (m: string, filler: string): string =>
    `SELECT trace_id FROM traces WHERE trace_id = $1 /* ${m} ${filler} */`;

  test.each([
    ['ASCII, simple Query', 'x'.repeat(70_000), false],
    ['ASCII, extended protocol', 'x'.repeat(70_000), true],
    // 40,000 characters, 80,000 bytes: the limit counts bytes, as the parser reads them.
    ['two-byte characters, extended protocol', 'é'.repeat(40_000), true],
  ])('a statement longer than the limit is refused unparsed with 54000 (%s)', async (_name, filler, extended) => {
    const client = await proxy.connect(token);
    const m = marker();
    const sql = padded(m, filler);
    const err = extended ? await refused(client, sql, [MINE]) : await refused(client, sql.replace('$1', `'${MINE}'`));
    expect(err.code).toBe('54000');
    expect(err.message).toMatch(/longer than 65536 bytes.*limits\.maxStatementSize/);
    expect(err.message).toMatch(/decision [0-9a-f-]{36}/);
    expect(await upstreamLog(testEnv().pg, m)).toEqual([]);
    // Under the limit, the same read runs: the session is unharmed.
    const ok = await client.query(padded(marker(), 'x'.repeat(60_000)), [MINE]);
    expect(ok.rows).toHaveLength(1);
  });
});

describe('entitlement', () => {
  test("another agent's trace is refused exactly like a trace that does not exist", async () => {
    const client = await proxy.connect(token);
    const theirs = await refused(client, 'SELECT * FROM traces WHERE trace_id = $1', [THEIRS]);
    const missing = await refused(client, 'SELECT * FROM traces WHERE trace_id = $1', ['tr_999999']);
    expect(theirs.code).toBe('42501');
    expect(missing.code).toBe('42501');
    const strip = (s: string): string => s.replace(/decision [0-9a-f-]{36}/, '');
    expect(strip(theirs.message)).toBe(strip(missing.message));
  });
});

describe('legit reads', () => {
  test('a join on trace_id with JSONB operators, ORDER BY and LIMIT', async () => {
    const client = await proxy.connect(token);
    const r = await client.query(
      `SELECT s.step, s.role, t.risk, jsonb_typeof(s.tool_calls) AS calls, s.tool_calls->0->>'name' AS first_tool
         FROM traces t JOIN trace_steps s ON s.trace_id = t.trace_id
        WHERE t.trace_id = $1 ORDER BY s.step LIMIT 3`,
      [MINE],
    );
    expect(r.rows.length).toBeGreaterThan(0);
  });

  test('an expression over a masked column is refused rather than leaked', async () => {
    const client = await proxy.connect(token);
    const err = await refused(client, 'SELECT lower(user_email) FROM traces WHERE trace_id = $1', [MINE]);
    expect(err.code).toBe('42501');
    expect(err.message).toMatch(/user_email/);
  });

  test('an aggregate over one trace', async () => {
    const client = await proxy.connect(token);
    const r = await client.query('SELECT count(*)::int AS n FROM trace_steps WHERE trace_id = $1', [MINE]);
    expect(r.rows[0].n).toBeGreaterThan(0);
  });
});

describe('extended protocol pipelines', () => {
  test('a denied Bind in a pipeline discards until Sync; the connection stays usable', async () => {
    const sql = postgres({ host: '127.0.0.1', port: proxy.port, user: 'agent-a', database: 'traces', password: token, max: 1, onnotice: () => undefined });
    try {
      const results = await Promise.allSettled([
        sql`SELECT trace_id FROM traces WHERE trace_id = ${MINE}`,
        sql`SELECT trace_id FROM traces WHERE trace_id = ${THEIRS}`,
        sql`SELECT trace_id FROM traces WHERE trace_id = ${MINE}`,
      ]);
      expect(results[0]).toMatchObject({ status: 'fulfilled' });
      expect(results[1]).toMatchObject({ status: 'rejected', reason: { code: '42501' } });
      expect(results[2]).toMatchObject({ status: 'fulfilled' });
      const after = await sql`SELECT count(*)::int AS n FROM trace_steps WHERE trace_id = ${MINE}`;
      expect(after[0]?.n).toBeGreaterThan(0);
    } finally {
      await sql.end();
    }
  });
});

describe('limits', () => {
  test('a result over maxRows is an error (54000), never a partial result', async () => {
    const policyFile = join(proxy.dir, 'small-limits.yaml');
    writeFileSync(
      policyFile,
      `version: 1
traceTables:
  - { table: public.traces, key: trace_id, owner: agent_id, risk: risk }
  - { table: public.trace_steps, key: trace_id }
rules:
  - name: tiny
    groups: [security]
    limits: { maxRows: 2, maxBytes: 1MB }
`,
    );
    const limited = await startTestProxy({ policyFile });
    try {
      const client = await limited.connect(await getToken('reviewer'));
      const err = await refused(client, 'SELECT step FROM trace_steps WHERE trace_id = $1', [MINE]);
      expect(err.code).toBe('54000');
      expect(err.message).toMatch(/more than 2 rows/);
      const ok = await client.query('SELECT trace_id FROM traces WHERE trace_id = $1', [MINE]);
      expect(ok.rows).toHaveLength(1);
    } finally {
      await limited.close();
    }
  });
});

describe('psql', () => {
  test('psql shows the denial with its SQLSTATE', async () => {
    const result = await run(
      'psql',
      ['-X', '-v', 'VERBOSITY=verbose', '-h', '127.0.0.1', '-p', String(proxy.port), '-U', 'agent-a', '-d', 'traces', '-c', 'SELECT * FROM customers'],
      { env: { ...process.env, PGPASSWORD: token, PGSSLMODE: 'disable' } },
    ).then(
      () => ({ stderr: '' }),
      (e: unknown) => e as { stderr: string },
    );
    expect(result.stderr).toMatch(/42501/);
    expect(result.stderr).toMatch(/customers/);
  });
});
