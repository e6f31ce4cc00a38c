// Functional notation: Postgres reads `x.f` and `(expr).f` as the call f(x) when f is not
// a column (or field) of x. The policy must not mistake such a call for a column
// reference or a field selection, which no allow-list check covers.
import { beforeAll, describe, expect, it } from 'vitest';
import { initSqlParser } from '../../../src/sql/analyze.js';
import { agent, run } from './fixtures.js';

beforeAll(async () => {
  await initSqlParser();
});

const PIN = `trace_id = 't1'`;
const TRACE = { exists: true, owner: 'agent-a', risk: 'low' };

describe('functional notation is refused', () => {
  it.each([
    // A scalar function in FROM: q is its value, q.f is f(q), for any f.
    [`SELECT q.ts_stat::text FROM unnest(ARRAY['SELECT array_to_tsvector(ARRAY[api_key]) FROM customers']) AS q`, /q\.ts_stat may be the function call ts_stat\(q\)/],
    [`SELECT q.ts_stat FROM unnest(ARRAY['SELECT 1']) q`, /ts_stat\(q\)/],
    [`SELECT s.current_setting FROM unnest(ARRAY['port']) AS s`, /current_setting\(s\)/],
    [`SELECT g.pg_advisory_lock FROM generate_series(1, 1) AS g`, /pg_advisory_lock\(g\)/],
    [`SELECT g.pg_terminate_backend FROM generate_series(1, 1) AS g`, /pg_terminate_backend\(g\)/],
    [`SELECT x.pg_read_file FROM jsonb_array_elements_text('["/etc/passwd"]') x`, /pg_read_file\(x\)/],
    // Subqueries, CTEs and joins whose columns are all known.
    [`SELECT s.current_setting FROM (SELECT 'port'::text AS v) s`, /current_setting\(s\)/],
    [`WITH w AS (SELECT 'port'::text AS v) SELECT w.current_setting FROM w`, /current_setting\(w\)/],
    // Anywhere in the statement, not only the select list.
    [`SELECT 1 FROM generate_series(1, 1) g WHERE g.pg_advisory_lock IS NULL`, /pg_advisory_lock\(g\)/],
    [`SELECT s.step FROM trace_steps s, unnest(ARRAY['port']) u WHERE s.${PIN} ORDER BY u.current_setting`, /current_setting\(u\)/],
    // Row-taking built-ins over a table or catalog row: its never-readable columns, its masked columns, an aggregate.
    [`SELECT c.to_jsonb FROM pg_class c WHERE c.relname = 'customers'`, /to_jsonb\(c\)/],
    [`SELECT p.row_to_json FROM pg_proc p`, /row_to_json\(p\)/],
    [`SELECT a.record_out FROM pg_attribute a`, /record_out\(a\)/],
    [`SELECT t.to_jsonb FROM traces t WHERE t.${PIN}`, /to_jsonb\(t\)/],
    [`SELECT t.record_out FROM traces t WHERE t.${PIN}`, /record_out\(t\)/],
    [`SELECT traces.concat FROM traces WHERE ${PIN}`, /concat\(traces\)/],
    [`SELECT s.count FROM trace_steps s WHERE s.${PIN}`, /count\(s\)/],
  ])('%s', (sql, reason) => {
    const d = run(sql, { who: agent, trace: TRACE });
    expect(d).toMatchObject({ outcome: 'deny', sqlstate: '42501', reason: expect.stringMatching(reason) });
  });

  it.each([
    `SELECT (q.ts_stat).word FROM unnest(ARRAY['SELECT array_to_tsvector(ARRAY[api_key]) FROM customers']) AS q`,
    `SELECT ((('SELECT array_to_tsvector(ARRAY[api_key]) FROM customers')::text).ts_stat).word`,
    `SELECT ('port'::text).current_setting`,
    `SELECT (x).current_setting FROM (SELECT 'port'::text) s(x)`,
    `SELECT (s.content).reverse FROM trace_steps s WHERE s.${PIN}`,
    `SELECT (jsonb_each(tool_calls)).key FROM trace_steps WHERE ${PIN}`,
  ])('a field selection by name: %s', (sql) => {
    const d = run(sql, { who: agent, trace: TRACE });
    expect(d).toMatchObject({ outcome: 'deny', sqlstate: '42501', reason: expect.stringMatching(/field selection \(\.\.\.\)\.\w+, which Postgres runs as the function/) });
  });
});

describe('columns are still columns', () => {
  it.each([
    `SELECT t.trace_id, t.summary, t.user_email FROM traces t WHERE t.${PIN}`,
    `SELECT s.step, s.content FROM trace_steps s WHERE s.${PIN} ORDER BY s.step`,
    `SELECT e.key, e.value FROM trace_steps s, jsonb_each(s.tool_calls) e WHERE s.${PIN}`,
    `SELECT g.g FROM generate_series(1, 3) g`,
    `SELECT x.v FROM (SELECT step AS v FROM trace_steps WHERE ${PIN}) x`,
    `SELECT to_jsonb(t) FROM traces t WHERE t.${PIN}`,
    `SELECT s.* FROM trace_steps s WHERE s.${PIN}`,
    `SELECT c.relname, c.oid FROM pg_class c`,
  ])('%s', (sql) => {
    expect(run(sql, { who: agent, trace: TRACE }).outcome).toBe('allow');
  });
});
