// Masked columns (issue 4 point 5): a column with a masking rule may leave only as a
// bare output column (the masker finds it by table and column); whole rows only as a
// whole output column. Every other use could carry or reveal the value unmasked.
import { beforeAll, describe, expect, it } from 'vitest';
import { initSqlParser } from '../../../src/sql/analyze.js';
import { reviewer, run } from './fixtures.js';

beforeAll(async () => {
  await initSqlParser();
});

const PIN = `trace_id = 't1'`;

const ALLOWED: readonly string[] = [
  `SELECT user_email FROM traces WHERE ${PIN}`,
  `SELECT user_email AS contact, summary FROM traces WHERE ${PIN}`,
  `SELECT t.user_email AS trace_id FROM traces t WHERE t.${PIN}`,
  `SELECT body FROM traces WHERE ${PIN}`,
  `SELECT * FROM traces WHERE ${PIN}`,
  `SELECT t.* FROM traces t WHERE t.${PIN}`,
  `SELECT t FROM traces t WHERE t.${PIN}`,
  `SELECT to_jsonb(t) FROM traces t WHERE t.${PIN}`,
  `SELECT row_to_json(t) AS doc FROM traces t WHERE t.${PIN}`,
  `SELECT row_to_json(t, true) FROM traces t WHERE t.${PIN}`,
  `SELECT json_agg(t) FROM traces t WHERE t.${PIN}`,
  `SELECT to_json(t.*) FROM traces t WHERE t.${PIN}`,
  `SELECT x.e FROM (SELECT user_email AS e FROM traces WHERE ${PIN}) x`,
  `WITH c AS (SELECT user_email FROM traces WHERE ${PIN}) SELECT user_email FROM c`,
  `SELECT x.* FROM (SELECT * FROM traces WHERE ${PIN}) x`,
  `SELECT j FROM (SELECT to_jsonb(t) AS j FROM traces t WHERE t.${PIN}) x`,
  `SELECT x.* FROM (SELECT user_email AS e FROM traces WHERE ${PIN}) x`,
  // Whole rows of a table without masked columns may be packed: no rule to lose.
  `SELECT to_jsonb(x) FROM (SELECT s.* FROM trace_steps s WHERE s.${PIN}) x(a, b)`,
  // A query's whole row in a query of its own: its value is the whole row, keyed by column.
  `SELECT to_jsonb(x) FROM (SELECT to_jsonb(t) AS j FROM traces t WHERE t.${PIN}) x`,
  `SELECT x.* FROM (SELECT * FROM traces WHERE ${PIN}) x(a, b, c, d, e, f, g)`,
  // Expressions over columns without a masking rule: those that keep the value whole or
  // destroy it (upper(summary) would not: decide-extraction.test.ts).
  `SELECT length(summary), risk, created_at::date FROM traces WHERE ${PIN} ORDER BY created_at`,
  `SELECT * FROM traces WHERE ${PIN} ORDER BY created_at DESC`,
  `SELECT s.content, t.user_email FROM traces t JOIN trace_steps s ON s.trace_id = t.trace_id WHERE t.${PIN} ORDER BY s.step`,
  `SELECT to_jsonb(s.content) FROM trace_steps s WHERE s.${PIN}`,
  `SELECT count(*) FROM traces WHERE ${PIN}`,
];

const DENIED: readonly (readonly [string, RegExp])[] = [
  [`SELECT lower(user_email) FROM traces WHERE ${PIN}`, /masked column public\.traces\.user_email is used in an expression in the select list \(in lower\(\)\)/],
  // Columns without a rule are detector-scanned: re-cased, a secret in them is not recognised.
  [`SELECT lower(s.content) FROM trace_steps s WHERE s.${PIN}`, /function lower over public\.trace_steps\.content would return text the masking detectors cannot recognise/],
  [`SELECT user_email || '' FROM traces WHERE ${PIN}`, /user_email is used in an expression.*operator \|\|/],
  [`SELECT substring(user_email, 1, 3) FROM traces WHERE ${PIN}`, /user_email/],
  [`SELECT substring(user_email FROM 1 FOR 3) FROM traces WHERE ${PIN}`, /user_email/],
  [`SELECT user_email::text FROM traces WHERE ${PIN}`, /user_email.*a cast to text/],
  [`SELECT user_email::varchar FROM traces WHERE ${PIN}`, /user_email/],
  [`SELECT CAST(user_email AS bytea) FROM traces WHERE ${PIN}`, /user_email/],
  [`SELECT jsonb_build_object('e', user_email) FROM traces WHERE ${PIN}`, /user_email.*jsonb_build_object/],
  [`SELECT json_build_array(user_email) FROM traces WHERE ${PIN}`, /user_email/],
  [`SELECT concat(user_email) FROM traces WHERE ${PIN}`, /user_email/],
  [`SELECT format('%s', user_email) FROM traces WHERE ${PIN}`, /user_email/],
  [`SELECT length(user_email) FROM traces WHERE ${PIN}`, /user_email/],
  [`SELECT md5(user_email) FROM traces WHERE ${PIN}`, /user_email/],
  [`SELECT user_email COLLATE "C" FROM traces WHERE ${PIN}`, /user_email/],
  [`SELECT coalesce(user_email, '') FROM traces WHERE ${PIN}`, /user_email.*coalesce/],
  [`SELECT CASE WHEN true THEN user_email END FROM traces WHERE ${PIN}`, /user_email.*CASE/],
  [`SELECT ARRAY[user_email] FROM traces WHERE ${PIN}`, /user_email/],
  [`SELECT ROW(user_email) FROM traces WHERE ${PIN}`, /user_email/],
  [`SELECT to_jsonb(user_email) FROM traces WHERE ${PIN}`, /user_email is passed to to_jsonb\(\)/],
  [`SELECT to_json(t.user_email) FROM traces t WHERE t.${PIN}`, /user_email/],
  [`SELECT user_email::json FROM traces WHERE ${PIN}`, /user_email/],
  [`SELECT max(user_email) FROM traces WHERE ${PIN}`, /user_email/],
  [`SELECT count(user_email) FROM traces WHERE ${PIN}`, /user_email/],
  [`SELECT string_agg(user_email, ',') FROM traces WHERE ${PIN}`, /user_email/],
  [`SELECT row_number() OVER (ORDER BY user_email) FROM traces WHERE ${PIN}`, /user_email/],
  [`SELECT body->>'credentials' FROM traces WHERE ${PIN}`, /masked column public\.traces\.body is used in an expression.*operator ->>/],
  [`SELECT body #>> '{user,email}' FROM traces WHERE ${PIN}`, /body/],
  [`SELECT body->'user' FROM traces WHERE ${PIN}`, /body/],
  [`SELECT body::text FROM traces WHERE ${PIN}`, /body/],
  [`SELECT jsonb_pretty(body) FROM traces WHERE ${PIN}`, /body/],
  [`SELECT jsonb_path_query(body, '$.**') FROM traces WHERE ${PIN}`, /body/],
  [`SELECT e FROM traces t, jsonb_array_elements(t.body->'items') e WHERE t.${PIN}`, /body.*function in from/],
  [`SELECT u FROM traces t, LATERAL unnest(ARRAY[t.user_email]) u WHERE t.${PIN}`, /user_email/],
  [`SELECT * FROM traces WHERE ${PIN} AND user_email LIKE 'a%'`, /user_email is compared in the WHERE.*reveals its value/],
  [`SELECT * FROM traces WHERE ${PIN} AND user_email = 'alice@example.com'`, /compared in the WHERE/],
  [`SELECT * FROM traces WHERE ${PIN} AND user_email IS NULL`, /compared in the WHERE/],
  [`SELECT * FROM traces WHERE ${PIN} AND body @> '{"user":{"email":"a@b.c"}}'`, /body is compared in the WHERE/],
  [`SELECT * FROM traces WHERE ${PIN} AND position('@' IN user_email) > 5`, /compared in the WHERE/],
  [`SELECT * FROM traces t JOIN traces u ON u.user_email = t.user_email WHERE t.${PIN} AND u.${PIN}`, /compared in the JOIN CONDITION/],
  [`SELECT * FROM traces a JOIN traces b USING (trace_id, user_email) WHERE a.${PIN}`, /compared in the JOIN USING/],
  [`SELECT risk FROM traces WHERE ${PIN} GROUP BY risk HAVING max(user_email) > 'm'`, /compared in the HAVING/],
  [`SELECT * FROM traces WHERE ${PIN} ORDER BY user_email`, /user_email is used in an expression in the order by/],
  [`SELECT user_email FROM traces WHERE ${PIN} ORDER BY 1`, /ORDER BY uses masked column public\.traces\.user_email/],
  [`SELECT user_email AS e FROM traces WHERE ${PIN} ORDER BY e`, /ORDER BY uses masked column/],
  [`SELECT user_email FROM traces WHERE ${PIN} GROUP BY user_email`, /group by/],
  [`SELECT user_email, count(*) FROM traces WHERE ${PIN} GROUP BY 1`, /GROUP BY uses masked column/],
  [`SELECT DISTINCT ON (user_email) * FROM traces WHERE ${PIN}`, /distinct on/],
  [`SELECT DISTINCT user_email FROM traces WHERE ${PIN}`, /SELECT DISTINCT compares masked column/],
  [`SELECT DISTINCT * FROM traces WHERE ${PIN}`, /SELECT DISTINCT compares whole rows of public\.traces/],
  // Field selection by name is refused outright: Postgres may run (x).f as the call f(x).
  [`SELECT (t).user_email FROM traces t WHERE t.${PIN}`, /field selection \(\.\.\.\)\.user_email/],
  [`SELECT (t.*).user_email FROM traces t WHERE t.${PIN}`, /field selection \(\.\.\.\)\.user_email/],
  [`SELECT to_jsonb(t)->>'user_email' FROM traces t WHERE t.${PIN}`, /whole rows of public\.traces is used in an expression/],
  [`SELECT row_to_json(t)::text FROM traces t WHERE t.${PIN}`, /whole rows/],
  [`SELECT * FROM traces t WHERE t.${PIN} AND t::text LIKE '%@example.com%'`, /whole rows of public\.traces is compared in the WHERE/],
  [`SELECT * FROM traces t WHERE t.${PIN} AND to_jsonb(t) @> '{"user_email":"a@b.c"}'`, /compared in the WHERE/],
  [`SELECT md5(t::text) FROM traces t WHERE t.${PIN}`, /whole rows/],
  // Record text has no column names: the rules could not find user_email in it.
  [`SELECT t::text FROM traces t WHERE t.${PIN}`, /whole rows of public\.traces are cast to text/],
  [`SELECT x.j FROM (SELECT t::text AS j FROM traces t WHERE t.${PIN}) x`, /whole rows of public\.traces are cast to text/],
  [`SELECT array_agg(t) FROM traces t WHERE t.${PIN}`, /whole rows.*array_agg/],
  [`SELECT lower(x.e) FROM (SELECT user_email AS e FROM traces WHERE ${PIN}) x`, /masked column public\.traces\.user_email is used in an expression/],
  [`WITH c AS (SELECT user_email FROM traces WHERE ${PIN}) SELECT upper(user_email) FROM c`, /user_email/],
  [`SELECT lower(x.user_email) FROM (SELECT * FROM traces WHERE ${PIN}) x`, /user_email/],
  [`SELECT lower(j->>'user_email') FROM (SELECT to_jsonb(t) AS j FROM traces t WHERE t.${PIN}) x`, /whole rows of public\.traces/],
  [`SELECT x.e FROM (SELECT user_email AS e FROM traces WHERE ${PIN}) x WHERE x.e LIKE 'a%'`, /compared in the WHERE/],
  [`SELECT lower(x.e) FROM (SELECT * FROM traces WHERE ${PIN}) AS x(a, b, e)`, /user_email|whole rows/],
  [`SELECT x FROM (SELECT user_email AS e FROM traces WHERE ${PIN}) x`, /user_email is packed into a whole row of a subquery/],
  [`SELECT to_jsonb(x) FROM (SELECT user_email AS e, risk FROM traces WHERE ${PIN}) x`, /packed into a whole row/],
  [`WITH c AS (SELECT user_email AS contact FROM traces WHERE ${PIN}) SELECT row_to_json(c) FROM c`, /packed into a whole row of a subquery or WITH query/],
  [`SELECT json_agg(x) FROM (SELECT *, user_email AS e FROM traces WHERE ${PIN}) x`, /packed/],
  // A `*` packs the table's whole row into the query's row, under the query's column
  // names: its aliases rename user_email and body, and the masker's JSON keys with them.
  [`SELECT to_jsonb(x) FROM (SELECT * FROM traces WHERE ${PIN}) x(a, b, c, d, e, f, g)`, /masked column public\.traces\.user_email is packed into a whole row of a subquery/],
  [`SELECT to_jsonb(x) FROM (SELECT t.* FROM traces t WHERE t.${PIN}) x(a, b, c, d, e, f, g)`, /user_email is packed/],
  [`SELECT to_jsonb(x.*) FROM (SELECT * FROM traces WHERE ${PIN}) x(a, b, c, d, e, f, g)`, /user_email is packed/],
  [`SELECT jsonb_agg(x.*) FROM (SELECT * FROM traces WHERE ${PIN}) x(a, b, c)`, /packed/],
  [`WITH q(a, b, c, d, e, f, g) AS (SELECT * FROM traces WHERE ${PIN}) SELECT row_to_json(q) FROM q`, /body is packed|user_email is packed/],
  [`SELECT to_jsonb(y) FROM (SELECT x.* FROM (SELECT * FROM traces WHERE ${PIN}) x(a, b, c, d, e, f, g)) y`, /packed/],
  [`SELECT x.j FROM (SELECT to_json(y) AS j FROM (SELECT * FROM traces WHERE ${PIN}) y(a, b, c)) x`, /packed/],
  [`SELECT x FROM (SELECT * FROM traces WHERE ${PIN}) x`, /packed/],
  [`SELECT to_jsonb(c) FROM (WITH c AS (SELECT * FROM traces WHERE ${PIN}) SELECT * FROM c) c`, /packed/],
  [`SELECT to_jsonb(x.*) FROM (SELECT user_email AS e FROM traces WHERE ${PIN}) x`, /user_email is packed/],
  [`SELECT (SELECT user_email FROM traces WHERE ${PIN})`, /returned from a subquery used as a value/],
  [`SELECT ARRAY(SELECT user_email FROM traces WHERE ${PIN})`, /subquery used as a value/],
  [`SELECT 1 WHERE 'alice@example.com' IN (SELECT user_email FROM traces WHERE ${PIN})`, /subquery used as a value/],
  [`SELECT user_email FROM traces WHERE ${PIN} UNION SELECT 'guess@example.com'`, /UNION\/INTERSECT\/EXCEPT/],
  [`SELECT user_email FROM traces WHERE ${PIN} INTERSECT SELECT 'guess@example.com'`, /UNION\/INTERSECT\/EXCEPT/],
  [`SELECT user_email FROM traces WHERE ${PIN} UNION ALL SELECT NULL`, /UNION\/INTERSECT\/EXCEPT/],
  [`SELECT v.e FROM traces t, LATERAL (VALUES (t.user_email)) v(e) WHERE t.${PIN}`, /user_email is used in an expression in the values/],
  [`SELECT * FROM traces t, LATERAL (SELECT t.user_email AS e) x WHERE t.${PIN} AND x.e > 'a'`, /compared in the WHERE/],
  [`SELECT greatest(user_email, 'm') FROM traces WHERE ${PIN}`, /greatest/],
  [`SELECT user_email ~ '^a' FROM traces WHERE ${PIN}`, /user_email/],
  [`SELECT 1 FROM traces WHERE ${PIN} AND EXISTS (SELECT 1 WHERE user_email LIKE 'a%')`, /compared in the WHERE/],
  [`SELECT * FROM traces t, trace_steps s WHERE t.${PIN} AND s.trace_id = t.trace_id AND user_email > 'a'`, /compared in the WHERE/],
];

describe('decide: masked columns that may leave', () => {
  for (const sql of ALLOWED) {
    it(`allows ${sql}`, () => {
      const d = run(sql);
      expect(d, d.reason).toMatchObject({ outcome: 'allow', category: 'trace-read', traceId: 't1' });
    });
  }
});

describe('decide: masked columns in expressions, comparisons and lossy shapes', () => {
  for (const [sql, reason] of DENIED) {
    it(`denies ${sql}`, () => {
      const d = run(sql);
      expect(d.outcome, `${sql} => ${d.reason}`).toBe('deny');
      expect(d).toMatchObject({ sqlstate: '42501' });
      expect(d.reason).toMatch(reason);
    });
  }
});

describe('decide: masking-exempt reviewers', () => {
  const exempt = [
    `SELECT lower(user_email) FROM traces WHERE ${PIN}`,
    `SELECT * FROM traces WHERE ${PIN} AND user_email LIKE 'a%'`,
    `SELECT body->>'credentials' FROM traces WHERE ${PIN}`,
    `SELECT user_email FROM traces WHERE ${PIN} UNION SELECT 'x'`,
  ];
  for (const sql of exempt) {
    it(`allows ${sql}`, () => {
      const d = run(sql, { who: reviewer });
      expect(d, d.reason).toMatchObject({ outcome: 'allow', traceId: 't1', maskingExempt: true, rule: 'reviewers' });
    });
  }

  it('still enforces the scope for reviewers', () => {
    expect(run(`SELECT lower(user_email) FROM traces`, { who: reviewer })).toMatchObject({ outcome: 'deny' });
  });
});
