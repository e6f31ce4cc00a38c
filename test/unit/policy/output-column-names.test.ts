// A query level's output columns as Postgres names and numbers them. Where the policy's
// list of a subquery's, WITH query's, VALUES list's or function's columns fell short of
// Postgres's, a reference resolved to no column (counted as carrying no trace data) or to
// another one, and functions refused over a trace column ran over it.
import { beforeAll, describe, expect, it } from 'vitest';
import { initSqlParser } from '../../../src/sql/analyze.js';
import { agent, run } from './fixtures.js';

beforeAll(async () => {
  await initSqlParser();
});

const TRACE = { exists: true, owner: 'agent-a', risk: 'low' };
const PIN = `trace_id = 't1'`;

describe('refused', () => {
  it.each([
    // (x).* expands into every field of x: names and positions after it are unknown.
    [`SELECT reverse(content) FROM (SELECT (s).* FROM trace_steps s WHERE s.${PIN}) x`, /\(x\)\.\* in the select list/],
    [`SELECT reverse(x.c4) FROM (SELECT (s).*, 1, 2, 3 FROM trace_steps s WHERE s.${PIN}) x(c1, c2, c3, c4)`, /\(x\)\.\* in the select list/],
    [`SELECT (s).* FROM trace_steps s WHERE s.${PIN}`, /\(x\)\.\* in the select list/],
    [`SELECT (ROW(1, coalesce(content, 'guess'))).* FROM trace_steps WHERE ${PIN} ORDER BY 2`, /\(x\)\.\* in the select list/],
    // So does a * in a VALUES row.
    [`SELECT reverse(v.column4) FROM trace_steps s, LATERAL (VALUES (s.*, 1, 2, 3)) v WHERE s.${PIN}`, /x\.\* in a VALUES list/],
    [`SELECT v.column2 FROM trace_steps s, LATERAL (VALUES ((s).*, 1)) v WHERE s.${PIN}`, /x\.\* in a VALUES list/],
    // A scalar subquery is named after its first column: of a *, of a UNION's first branch.
    [`SELECT reverse(content) FROM (SELECT (SELECT * FROM (SELECT content FROM trace_steps WHERE ${PIN} LIMIT 1) s)) x`, /a column the policy cannot trace/],
    [`SELECT upper(content) FROM (SELECT (SELECT content FROM trace_steps WHERE ${PIN} UNION ALL SELECT NULL LIMIT 1)) x`, /a column the policy cannot trace/],
    // unnest of an array of rows returns the row's columns.
    [`SELECT reverse(content) FROM (SELECT array_agg(s) AS a FROM trace_steps s WHERE s.${PIN}) q, unnest(q.a) u`, /a column the policy cannot trace/],
    [`SELECT reverse(d) FROM (SELECT array_agg(s) AS a FROM trace_steps s WHERE s.${PIN}) q, unnest(q.a) u(a, b, c, d)`, /a column the policy cannot trace/],
    // A WITH query keeps its own column names after a shorter alias list.
    [`WITH w(a, c) AS (SELECT step, content FROM trace_steps WHERE ${PIN}) SELECT reverse(c) FROM w AS x(b)`, /function reverse over public\.trace_steps\.content/],
    [`WITH w(a, c) AS (SELECT trace_id, user_email FROM traces WHERE ${PIN}) SELECT reverse(c) FROM w AS x(b)`, /masked column public\.traces\.user_email/],
  ])('%s', (sql, reason) => {
    const d = run(sql, { who: agent, trace: TRACE });
    expect(d).toMatchObject({ outcome: 'deny', sqlstate: '42501', reason: expect.stringMatching(reason) });
  });
});

describe('still allowed', () => {
  it.each([
    `SELECT s.* FROM trace_steps s WHERE s.${PIN}`,
    `SELECT step + 1 AS n FROM trace_steps WHERE ${PIN} ORDER BY n`,
    `SELECT role AS r, count(*) FROM trace_steps WHERE ${PIN} GROUP BY r ORDER BY r`,
    `SELECT DISTINCT ON (r) role AS r, step FROM trace_steps WHERE ${PIN} ORDER BY r, step`,
    `VALUES (1), (2) ORDER BY column1`,
    `WITH w(a, c) AS (SELECT step, content FROM trace_steps WHERE ${PIN}) SELECT b, c FROM w AS x(b)`,
    `SELECT content FROM (SELECT (SELECT * FROM (SELECT content FROM trace_steps WHERE ${PIN} LIMIT 1) s)) x`,
    `SELECT u.g FROM trace_steps s, generate_series(1, 3) u(g) WHERE s.${PIN}`,
  ])('%s', (sql) => {
    expect(run(sql, { who: agent, trace: TRACE }).outcome).toBe('allow');
  });
});
