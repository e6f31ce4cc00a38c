// Postgres reads `x.f` (and `(expr).f`) as the call f(x) when f is not a column of x
// (functional notation, "SQL functions on composite types"). For a function in FROM
// that returns a scalar, `x` is that scalar: `SELECT q.ts_stat FROM unnest(ARRAY['...'])
// q` calls ts_stat(text), and so does `('...'::text).ts_stat` with no FROM at all. The
// analyser records `q.ts_stat` as a column reference and `(expr).ts_stat` as a field
// selection, never as a function call, so no allow-list check runs on them: any
// function taking one argument can be called. ts_stat(text) runs its argument as a
// query, so an agent reads any table the proxy's role can read: customers, and every
// trace. Each test expects the refusal (42501); where the statement runs instead, the
// failure shows what came back.
import { afterAll, beforeAll, expect, test } from 'vitest';
import type pg from 'pg';
import { DEMO_CUSTOMERS, WELL_KNOWN_TRACES } from '../../../src/demo/generate.js';
import { getToken, withSuperuser } from '../../helpers/env.js';
import { startTestProxy, type TestProxy } from '../../helpers/proxy.js';

const THEIRS = WELL_KNOWN_TRACES.agentBLow;

let proxy: TestProxy;
let client: pg.Client;
beforeAll(async () => {
  proxy = await startTestProxy();
  client = await proxy.connect(await getToken('agent-a'));
});
afterAll(async () => {
  await client?.end();
  await proxy?.close();
});

const quote = (text: string): string => `'${text.replace(/'/g, "''")}'`;
const hexDecode = (h: string): string => Buffer.from(h, 'hex').toString('utf8');

/**
 * ts_stat runs `SELECT <value> <from>` as a tsvector of one lexeme per row (hex-encoded,
 * so that no masking detector recognises it) and returns each lexeme as `word`.
 */
function innerQuery(value: string, from: string): string {
  return quote(`SELECT array_to_tsvector(ARRAY[encode(convert_to(${value}, 'UTF8'), 'hex')]) ${from}`);
}

/** The rows a statement returns (decoded with `decode`), or the SQLSTATE it was refused with. */
async function outcome(sql: string, decode: (row: Record<string, unknown>) => string = (r) => JSON.stringify(r)): Promise<{ refused: string } | { returned: string[] }> {
  return client.query(sql).then(
    (r) => ({ returned: r.rows.map(decode).sort() }),
    (e: { code?: string }) => ({ refused: e.code ?? '?' }),
  );
}

const word = (r: Record<string, unknown>): string => hexDecode(String(r['word']));

test('q.ts_stat: an agent reads the customers table', async () => {
  const sql = `SELECT (q.ts_stat).word FROM unnest(ARRAY[${innerQuery(`email || ' ' || api_key`, 'FROM customers')}]) AS q`;
  const got = await outcome(sql, word);
  // Without the fix: { returned: every customer's email and api_key }.
  expect(got, JSON.stringify(got)).toEqual({ refused: '42501' });
  expect(DEMO_CUSTOMERS.length).toBeGreaterThan(0);
});

test("q.ts_stat: an agent reads another agent's trace", async () => {
  const theirs = await withSuperuser((db) => db.query(`SELECT count(*)::int AS n FROM trace_steps WHERE trace_id = $1`, [THEIRS]));
  expect(theirs.rows[0]?.n).toBeGreaterThan(0);
  const sql = `SELECT (q.ts_stat).word FROM unnest(ARRAY[${innerQuery(`step || ' ' || coalesce(content, '')`, `FROM trace_steps WHERE trace_id = '${THEIRS}'`)}]) AS q`;
  const got = await outcome(sql, word);
  // Without the fix: { returned: every step of agent-b's trace }.
  expect(got, JSON.stringify(got)).toEqual({ refused: '42501' });
});

test('(expr).ts_stat: the same with no FROM at all', async () => {
  const sql = `SELECT (((${innerQuery(`email || ' ' || api_key`, 'FROM customers')})::text).ts_stat).word`;
  const got = await outcome(sql, word);
  expect(got, JSON.stringify(got)).toEqual({ refused: '42501' });
});

test('denied functions run: a settings read, an advisory lock', async () => {
  // Denied by name (they read settings, take locks) ...
  await expect(client.query(`SELECT current_setting('port')`)).rejects.toMatchObject({ code: '42501' });
  await expect(client.query(`SELECT pg_advisory_lock(424242)`)).rejects.toMatchObject({ code: '42501' });
  // ... but not when spelled as functional notation.
  expect(await outcome(`SELECT s.current_setting FROM unnest(ARRAY['port']) AS s`)).toEqual({ refused: '42501' });
  await outcome(`SELECT g.pg_advisory_lock FROM generate_series(424242, 424242) AS g`);
  const locks = await withSuperuser((db) => db.query(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = 424242 AND granted`));
  expect(locks.rows[0]?.n).toBe(0);
});

test('c.to_jsonb: catalog columns that are never readable (pg_class.reltuples, pg_proc.prosrc)', async () => {
  expect(await outcome(`SELECT c.reltuples FROM pg_class c WHERE c.relname = 'customers'`)).toEqual({ refused: '42501' });
  const got = await outcome(`SELECT c.to_jsonb FROM pg_class c WHERE c.relname = 'customers'`);
  // Without the fix: { returned: [{"to_jsonb": {..., "reltuples": 5, "relpages": 1, "relacl": ...}}] }.
  expect(got, JSON.stringify(got)).toEqual({ refused: '42501' });
});
