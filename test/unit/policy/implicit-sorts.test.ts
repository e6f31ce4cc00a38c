// Sorts other than ORDER BY. Postgres sorts a window's partitions, DISTINCT ON's and an
// aggregate's DISTINCT arguments always, and GROUP BY, SELECT DISTINCT and UNION /
// INTERSECT / EXCEPT whenever it cannot hash (a bit column), and the rows (or the
// aggregate's values) come back in that order. A scanned value sorted there together
// with text of the statement's own is a range comparison with a guess, as under ORDER BY:
// where the guess lands says whether it is smaller than the secret. And ORDER BY a name
// of a set operation sorts every branch's values under that name.
import { beforeAll, describe, expect, it } from 'vitest';
import { initSqlParser } from '../../../src/sql/analyze.js';
import { agent, run } from './fixtures.js';

beforeAll(async () => {
  await initSqlParser();
});

const TRACE = { exists: true, owner: 'agent-a', risk: 'low' };
const PIN = `trace_id = 't1'`;
const T = `FROM trace_steps WHERE ${PIN}`;
const MIXED = `(SELECT content AS x, 0 AS tag ${T} UNION ALL SELECT $2 || chr(g), g FROM generate_series(33, 126) g) q`;
const GUESS = /public\.trace_steps\.content (together )?with values of the statement's own/;

describe('refused: a scanned value sorted with chosen text', () => {
  it.each([
    [`SELECT tag, count(*) OVER (PARTITION BY x COLLATE "C") FROM ${MIXED}`, /window PARTITION BY of count\(\) sorts/],
    [`SELECT tag, count(*) OVER w FROM ${MIXED} WINDOW w AS (PARTITION BY x)`, /^WINDOW sorts/],
    [`SELECT count(*) OVER (PARTITION BY coalesce(content, 'sk-M')) ${T}`, GUESS],
    [`SELECT DISTINCT ON (x COLLATE "C") tag FROM ${MIXED}`, /^DISTINCT ON sorts/],
    [`SELECT DISTINCT ON (x) x, tag FROM ${MIXED}`, /^DISTINCT ON sorts/],
    [`SELECT DISTINCT ON (1) x, tag FROM ${MIXED}`, /^DISTINCT ON sorts/],
    [`SELECT DISTINCT x, tag, B'1' FROM ${MIXED}`, /^SELECT DISTINCT sorts/],
    [`SELECT min(tag) FROM ${MIXED} GROUP BY x COLLATE "C", B'1'::bit`, /^GROUP BY sorts/],
    [`SELECT x AS y, min(tag) FROM ${MIXED} GROUP BY y, B'1'::bit`, /^GROUP BY sorts/],
    [`SELECT x, min(tag) FROM ${MIXED} GROUP BY 1`, /^GROUP BY sorts/],
    [`SELECT min(tag) FROM ${MIXED} GROUP BY ROLLUP (x, tag)`, /^GROUP BY sorts/],
    [`SELECT content, B'1' ${T} UNION SELECT $2 || chr(g), B'1' FROM generate_series(33, 126) g`, /^UNION\/INTERSECT\/EXCEPT/],
    [`SELECT content ${T} INTERSECT SELECT 'sk-M'`, /^UNION\/INTERSECT\/EXCEPT/],
    [`SELECT 'sk-M' EXCEPT ALL SELECT content ${T}`, /^UNION\/INTERSECT\/EXCEPT/],
    [`SELECT n FROM (SELECT content ${T} UNION SELECT 'sk-M') u(v), LATERAL (SELECT 1 AS n) l`, /^UNION\/INTERSECT\/EXCEPT/],
    [`SELECT array_agg(DISTINCT x COLLATE "C") FROM ${MIXED}`, /DISTINCT of array_agg\(\) sorts/],
    [`SELECT jsonb_agg(DISTINCT x) FROM ${MIXED}`, /DISTINCT of jsonb_agg\(\) sorts/],
    [`SELECT json_agg(DISTINCT coalesce(content, 'sk-M')) ${T}`, GUESS],
    // ORDER BY a name of a set operation whose first branch is a `*`: the column holds
    // every branch's values, not the first branch's alone.
    [`SELECT * ${T} AND step = 4 UNION ALL SELECT 'g', g, 'x', $2 || chr(g), NULL FROM generate_series(33, 126) g ORDER BY content`, /^ORDER BY sorts/],
    [`SELECT s.* FROM trace_steps s WHERE s.${PIN} UNION ALL SELECT 'g', 1, 'x', 'sk-M', NULL ORDER BY content`, /^ORDER BY sorts/],
    [`SELECT s.* FROM trace_steps s WHERE s.${PIN} UNION ALL (SELECT 'g', 1, 'x', 'sk-M', NULL UNION ALL SELECT * ${T}) ORDER BY content`, /^ORDER BY sorts/],
  ])('%s', (sql, reason) => {
    const d = run(sql, { who: agent, trace: TRACE, params: ['t1', 'OPENAI_API_KEY=sk-'] });
    expect(d).toMatchObject({ outcome: 'deny', sqlstate: '42501', reason: expect.stringMatching(reason) });
  });
});

describe('allowed: the data sorted with itself, and appending', () => {
  it.each([
    `SELECT step, count(*) OVER (PARTITION BY content) ${T}`,
    `SELECT step, rank() OVER w ${T} WINDOW w AS (PARTITION BY role ORDER BY content)`,
    `SELECT DISTINCT ON (content) step ${T}`,
    `SELECT DISTINCT role ${T}`,
    `SELECT role, count(*) ${T} GROUP BY role`,
    `SELECT role, count(*) ${T} GROUP BY ROLLUP (role, content)`,
    `SELECT coalesce(step, 0), count(*) ${T} GROUP BY 1`,
    `SELECT content ${T} UNION ALL SELECT 'none'`,
    `SELECT content ${T} UNION SELECT content ${T}`,
    `SELECT content ${T} UNION SELECT NULL`,
    `SELECT step ${T} EXCEPT SELECT 3`,
    `SELECT count(DISTINCT content), array_agg(DISTINCT role) ${T}`,
    `SELECT json_agg(DISTINCT s) FROM trace_steps s WHERE s.${PIN}`,
    `SELECT json_agg(s) FROM trace_steps s WHERE s.${PIN}`,
    `SELECT * ${T} UNION ALL SELECT * ${T} ORDER BY content`,
    `SELECT s.* FROM trace_steps s WHERE s.${PIN} UNION ALL SELECT NULL, 0, NULL, NULL, NULL ORDER BY content`,
  ])('%s', (sql) => {
    const d = run(sql, { who: agent, trace: TRACE, params: ['t1'] });
    expect(d.outcome, d.outcome === 'deny' ? d.reason : '').toBe('allow');
  });
});
