// Single-trace scope: the legitimate shapes that must read exactly one trace, and the
// attacks by category that must be denied because they could read more than one.
import { beforeAll, describe, expect, it } from 'vitest';
import { initSqlParser } from '../../../src/sql/analyze.js';
import { run } from './fixtures.js';

beforeAll(async () => {
  await initSqlParser();
});

type Legit = readonly [sql: string, traceId: string, params?: readonly (string | null)[]];

const LEGIT: readonly Legit[] = [
  [`SELECT * FROM traces WHERE trace_id = 't1'`, 't1'],
  [`SELECT trace_id, summary FROM public.traces WHERE trace_id = 't1'`, 't1'],
  [`SELECT * FROM "public"."traces" WHERE "trace_id" = 't1'`, 't1'],
  [`select * from TRACES where TRACE_ID = 't1'`, 't1'],
  [`SELECT * FROM traces t WHERE t.trace_id = $1`, 't1', ['t1']],
  [`SELECT * FROM traces WHERE 't1' = trace_id`, 't1'],
  [`SELECT * FROM traces WHERE trace_id = E't1'`, 't1'],
  [`SELECT * FROM traces WHERE trace_id = $$t1$$`, 't1'],
  [`SELECT * FROM traces WHERE trace_id = $tag$t1$tag$`, 't1'],
  [`SELECT * FROM traces WHERE trace_id = U&'\\0074\\0031'`, 't1'],
  [`SELECT * FROM traces WHERE trace_id = U&'!0074!0031' UESCAPE '!'`, 't1'],
  [`SELECT * FROM traces WHERE trace_id = 't1'::text`, 't1'],
  [`SELECT * FROM traces WHERE trace_id = CAST('t1' AS varchar)`, 't1'],
  [`SELECT * FROM traces WHERE trace_id = text 't1'`, 't1'],
  [`SELECT * FROM traces WHERE trace_id = $1::text`, 't1', ['t1']],
  [`SELECT * FROM traces WHERE trace_id = $1::pg_catalog.varchar`, 't1', ['t1']],
  [`SELECT * FROM traces WHERE trace_id = 't1' AND created_at > now() - interval '1 day'`, 't1'],
  [`SELECT * FROM traces WHERE (trace_id = 't1') AND (risk = 'low' OR risk = 'high')`, 't1'],
  [`SELECT * FROM traces WHERE risk <> 'x' AND (summary IS NOT NULL AND trace_id = 't1')`, 't1'],
  [`SELECT t.trace_id, s.step FROM traces t JOIN trace_steps s ON s.trace_id = t.trace_id WHERE t.trace_id = 't1'`, 't1'],
  [`SELECT * FROM traces t JOIN trace_steps s USING (trace_id) WHERE trace_id = 't1'`, 't1'],
  [`SELECT * FROM traces t JOIN trace_steps s USING (trace_id) WHERE t.trace_id = $1`, 't1', ['t1']],
  [`SELECT * FROM traces t, trace_steps s WHERE s.trace_id = t.trace_id AND t.trace_id = 't1'`, 't1'],
  [`SELECT * FROM traces t INNER JOIN trace_steps s ON t.trace_id = s.trace_id AND s.trace_id = 't1'`, 't1'],
  [`SELECT * FROM traces t JOIN trace_steps s ON s.trace_id = t.trace_id AND t.trace_id = 't1' WHERE false OR s.trace_id = 't2'`, 't1'],
  [`SELECT s.* FROM trace_steps s WHERE s.trace_id = 't1' ORDER BY s.step LIMIT 10`, 't1'],
  [`SELECT count(*), max(step) FROM trace_steps WHERE trace_id = 't1'`, 't1'],
  [`SELECT role, count(*) FROM trace_steps WHERE trace_id = 't1' GROUP BY role HAVING count(*) > 1 ORDER BY 2 DESC`, 't1'],
  [`SELECT step, row_number() OVER (ORDER BY step), lag(content) OVER w FROM trace_steps WHERE trace_id = 't1' WINDOW w AS (ORDER BY step)`, 't1'],
  [`SELECT tool_calls->'name', tool_calls->>'id', tool_calls #>> '{args,0}' FROM trace_steps WHERE trace_id = 't1' AND tool_calls @> '{"name":"search"}'`, 't1'],
  [`SELECT e.value->>'name' FROM trace_steps s, LATERAL jsonb_array_elements(s.tool_calls) e WHERE s.trace_id = 't1'`, 't1'],
  [`SELECT e->>'name' FROM trace_steps s CROSS JOIN LATERAL jsonb_array_elements(s.tool_calls) AS e WHERE s.trace_id = $1`, 't1', ['t1']],
  [`SELECT k, v FROM trace_steps s, jsonb_each(s.tool_calls) AS x(k, v) WHERE s.trace_id = 't1'`, 't1'],
  [`SELECT r.name FROM trace_steps s, jsonb_to_recordset(s.tool_calls) AS r(name text, id int) WHERE s.trace_id = 't1'`, 't1'],
  [`SELECT value FROM trace_steps s, jsonb_array_elements_text(s.tool_calls->'tags') WHERE trace_id = 't1'`, 't1'],
  [`WITH t AS (SELECT * FROM traces WHERE trace_id = $1) SELECT t.summary, s.content FROM t JOIN trace_steps s ON s.trace_id = t.trace_id WHERE s.trace_id = $1`, 't1', ['t1']],
  [`SELECT * FROM (SELECT * FROM trace_steps WHERE trace_id = 't1') x WHERE x.step > 2`, 't1'],
  [`SELECT x.trace_id FROM (SELECT trace_id FROM traces WHERE trace_id = 't1') x JOIN trace_steps s ON s.trace_id = x.trace_id AND s.trace_id = 't1'`, 't1'],
  [`SELECT (SELECT count(*) FROM trace_steps s WHERE s.trace_id = t.trace_id) FROM traces t WHERE t.trace_id = 't1'`, 't1'],
  [`SELECT * FROM traces t WHERE t.trace_id = 't1' AND EXISTS (SELECT 1 FROM trace_steps s WHERE s.trace_id = t.trace_id AND s.role = 'tool')`, 't1'],
  [`SELECT * FROM traces t WHERE t.trace_id = 't1' AND EXISTS (SELECT 1 FROM trace_steps s WHERE trace_id = t.trace_id)`, 't1'],
  [`SELECT * FROM traces t, LATERAL (SELECT * FROM trace_steps s WHERE s.trace_id = t.trace_id ORDER BY step DESC LIMIT 1) last WHERE t.trace_id = 't1'`, 't1'],
  [`SELECT summary FROM traces WHERE trace_id = 't1' UNION ALL SELECT content FROM trace_steps WHERE trace_id = 't1'`, 't1'],
  [`SELECT step FROM trace_steps WHERE trace_id = 't1' EXCEPT SELECT 3 ORDER BY 1`, 't1'],
  [`SELECT * FROM traces t LEFT JOIN trace_steps s ON s.trace_id = t.trace_id WHERE t.trace_id = 't1'`, 't1'],
  [`SELECT * FROM trace_steps s RIGHT JOIN traces t ON s.trace_id = t.trace_id WHERE t.trace_id = 't1'`, 't1'],
  [`SELECT * FROM traces t LEFT JOIN trace_steps s ON s.trace_id = 't1' WHERE t.trace_id = 't1'`, 't1'],
  // (summary::varchar(20) truncates: denied since the detectors scan trace columns, decide-extraction.test.ts)
  [`SELECT t.summary::varchar, t.created_at::date, s.step::text FROM traces t JOIN trace_steps s ON s.trace_id = t.trace_id WHERE t.trace_id = 't1'`, 't1'],
  [`SELECT date_trunc('hour', created_at), extract(epoch FROM created_at), created_at AT TIME ZONE 'UTC' FROM traces WHERE trace_id = 't1'`, 't1'],
  // (upper(risk) and ILIKE over a trace column: denied since the detectors scan it, decide-extraction.test.ts)
  [`SELECT coalesce(summary, ''), length(summary), md5(risk), summary IS NULL, risk IN ('low', 'high') FROM traces WHERE trace_id = 't1'`, 't1'],
  [`SELECT * FROM traces WHERE trace_id = 't1' AND trace_id = 't1'`, 't1'],
  [`SELECT * FROM traces WHERE trace_id = $1 AND trace_id = $2`, 't1', ['t1', 't1']],
  [`SELECT * FROM trace_steps WHERE trace_id = 't1' AND step BETWEEN 1 AND 5 AND role IN ('user', 'assistant')`, 't1'],
  [`SELECT DISTINCT role FROM trace_steps WHERE trace_id = 't1'`, 't1'],
  [`SELECT * FROM trace_steps WHERE trace_id = 't1' ORDER BY step DESC NULLS LAST LIMIT 5 OFFSET 2`, 't1'],
  [`SELECT * FROM traces WHERE trace_id = 't1'; SELECT * FROM trace_steps WHERE trace_id = 't1'`, 't1'],
  [`BEGIN; SELECT * FROM traces WHERE trace_id = 't1'; COMMIT`, 't1'],
  [`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3) SELECT s.* FROM n, trace_steps s WHERE s.trace_id = 't1' AND s.step = n.i`, 't1'],
  [`SELECT * FROM traces WHERE trace_id = 't1' /* comment */ -- trailing`, 't1'],
  [`SELECT * FROM traces WHERE /* nested /* comment */ still comment */ trace_id = 't1'`, 't1'],
  [`SELECT jsonb_path_query(tool_calls, '$.args[*]') FROM trace_steps WHERE trace_id = 't1'`, 't1'],
  [`SELECT array_agg(step ORDER BY step) FILTER (WHERE role = 'tool') FROM trace_steps WHERE trace_id = 't1'`, 't1'],
  [`SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY step) FROM trace_steps WHERE trace_id = 't1'`, 't1'],
  [`SELECT a.step, b.step FROM trace_steps a JOIN trace_steps b ON b.trace_id = a.trace_id AND b.step = a.step + 1 WHERE a.trace_id = 't1'`, 't1'],
  [`SELECT * FROM traces a JOIN traces b ON a.trace_id = b.trace_id WHERE a.trace_id = 't1'`, 't1'],
  [`SELECT * FROM ONLY traces WHERE trace_id = 't1'`, 't1'],
  [`SELECT * FROM traces AS s, trace_steps AS t WHERE t.trace_id = 't1' AND s.trace_id = t.trace_id`, 't1'],
  [`SELECT * FROM trace_steps traces WHERE traces.trace_id = 't1'`, 't1'],
  [`SELECT * FROM traces WHERE trace_id = E't1\\' OR true --'`, `t1' OR true --`],
  [`SELECT * FROM traces WHERE trace_id = 't1'' OR ''1''=''1'`, `t1' OR '1'='1`],
  [`SELECT * FROM traces WHERE trace_id = 't1' /* /* */ OR true */`, 't1'],
  [`SELECT * FROM traces WHERE trace_id = $a$ it's "t1" $b$ $a$`, ` it's "t1" $b$ `],
  [`SELECT * FROM traces WHERE trace_id = 'ünïcødé-✓'`, 'ünïcødé-✓'],
  [`SELECT * FROM traces WHERE trace_id = ''`, ''],
  [`SELECT * FROM traces WHERE trace_id OPERATOR(pg_catalog.=) 't1'`, 't1'],
  [`SELECT CASE WHEN risk = 'high' THEN 'h' ELSE 'l' END, greatest(1, 2), nullif(risk, '') FROM traces WHERE trace_id = 't1'`, 't1'],
  [`SELECT s.step FROM trace_steps s WHERE s.trace_id = 't1' AND s.step = ANY (ARRAY[1, 2, 3])`, 't1'],
  [`SELECT * FROM traces t WHERE t.trace_id = 't1' AND t.risk IN (SELECT s.role FROM trace_steps s WHERE s.trace_id = 't1')`, 't1'],
];

type Attack = readonly [sql: string, reason: RegExp, params?: readonly (string | null)[]];

const UNPINNED = /without pinning trace_id to one value/;
const TWO = /more than one trace/;

const ATTACKS: Record<string, readonly Attack[]> = {
  'OR': [
    [`SELECT * FROM traces WHERE trace_id = 't1' OR trace_id = 't2'`, UNPINNED],
    [`SELECT * FROM traces WHERE trace_id = 't1' OR true`, UNPINNED],
    [`SELECT * FROM traces WHERE (trace_id = 't1' OR 1 = 1) AND risk = 'low'`, UNPINNED],
    [`SELECT * FROM traces WHERE NOT (trace_id <> 't1')`, UNPINNED],
    [`SELECT * FROM traces WHERE trace_id = 't1' -- AND false\n OR true`, UNPINNED],
    [`SELECT * FROM traces WHERE trace_id = 't1' /* */ OR /* */ true`, UNPINNED],
  ],
  'IN and ANY': [
    [`SELECT * FROM traces WHERE trace_id IN ('t1', 't2')`, UNPINNED],
    [`SELECT * FROM traces WHERE trace_id IN ('t1')`, UNPINNED],
    [`SELECT * FROM traces WHERE trace_id = ANY (ARRAY['t1', 't2'])`, UNPINNED],
    [`SELECT * FROM traces WHERE trace_id = ANY ($1)`, UNPINNED, ['{t1,t2}']],
    [`SELECT * FROM traces WHERE trace_id IN (SELECT trace_id FROM traces)`, UNPINNED],
    [`SELECT * FROM traces WHERE trace_id = ANY (SELECT 't1')`, UNPINNED],
    [`SELECT * FROM traces WHERE trace_id = SOME (ARRAY['t1'])`, UNPINNED],
  ],
  'ranges': [
    [`SELECT * FROM traces WHERE trace_id > ''`, UNPINNED],
    [`SELECT * FROM traces WHERE trace_id BETWEEN 'a' AND 'z'`, UNPINNED],
    [`SELECT * FROM traces WHERE trace_id >= 't1' AND trace_id <= 't1'`, UNPINNED],
    [`SELECT * FROM traces WHERE trace_id <> 't2'`, UNPINNED],
  ],
  'LIKE and regular expressions': [
    [`SELECT * FROM traces WHERE trace_id LIKE 't%'`, UNPINNED],
    [`SELECT * FROM traces WHERE trace_id LIKE 't1'`, UNPINNED],
    [`SELECT * FROM traces WHERE trace_id ~ '^t'`, UNPINNED],
    [`SELECT * FROM traces WHERE trace_id SIMILAR TO 't%'`, UNPINNED],
    [`SELECT * FROM traces WHERE trace_id ILIKE 'T1'`, UNPINNED],
  ],
  'IS NOT NULL, NOT and DISTINCT': [
    [`SELECT * FROM traces WHERE trace_id IS NOT NULL`, UNPINNED],
    [`SELECT * FROM traces WHERE NOT trace_id = 't2'`, UNPINNED],
    [`SELECT * FROM traces WHERE trace_id IS DISTINCT FROM 't2'`, UNPINNED],
    [`SELECT * FROM traces WHERE trace_id IS NOT DISTINCT FROM 't1'`, UNPINNED],
    [`SELECT * FROM traces WHERE (trace_id = 't1') IS NOT FALSE`, UNPINNED],
  ],
  'functions and casts of the key or the value': [
    [`SELECT * FROM traces WHERE lower(trace_id) = 't1'`, UNPINNED],
    [`SELECT * FROM traces WHERE trace_id || '' = 't1'`, UNPINNED],
    [`SELECT * FROM traces WHERE substr(trace_id, 1, 1) = 't'`, UNPINNED],
    [`SELECT * FROM traces WHERE trace_id::varchar(1) = 't'`, UNPINNED],
    [`SELECT * FROM traces WHERE trace_id::text = 't1'`, UNPINNED],
    [`SELECT * FROM traces WHERE trace_id COLLATE "C" = 't1'`, UNPINNED],
    [`SELECT * FROM traces WHERE trace_id = 't1' COLLATE "C"`, UNPINNED],
    [`SELECT * FROM traces WHERE trace_id = 't1abc'::varchar(2)`, UNPINNED],
    [`SELECT * FROM traces WHERE trace_id = 't1'::char(4)`, UNPINNED],
    [`SELECT * FROM traces WHERE trace_id = 't1'::name`, UNPINNED],
    [`SELECT * FROM traces WHERE trace_id = coalesce('t1', 't2')`, UNPINNED],
    [`SELECT * FROM traces WHERE trace_id = (SELECT 't1')`, UNPINNED],
    [`SELECT * FROM traces WHERE trace_id = concat('t', '1')`, UNPINNED],
    [`SELECT * FROM traces WHERE trace_id = 't' || '1'`, UNPINNED],
    [`SELECT * FROM traces WHERE trace_id = upper('t1')`, UNPINNED],
    [`SELECT * FROM traces WHERE trace_id = CASE WHEN true THEN 't1' END`, UNPINNED],
    [`SELECT * FROM traces WHERE trace_id = 1`, UNPINNED],
    [`SELECT * FROM traces WHERE trace_id = summary`, UNPINNED],
  ],
  'tautologies': [
    [`SELECT * FROM traces WHERE trace_id = trace_id`, UNPINNED],
    [`SELECT * FROM traces WHERE 'a' = 'a'`, UNPINNED],
    [`SELECT * FROM traces WHERE 1 = 1`, UNPINNED],
    [`SELECT * FROM traces t WHERE t.trace_id = t.trace_id`, UNPINNED],
    [`SELECT * FROM traces WHERE true`, UNPINNED],
    [`SELECT * FROM traces`, UNPINNED],
    [`SELECT count(*) FROM traces`, UNPINNED],
    [`SELECT * FROM traces WHERE CASE WHEN true THEN trace_id = 't1' ELSE true END`, UNPINNED],
    [`SELECT * FROM traces WHERE coalesce(trace_id = 't1', true)`, UNPINNED],
    [`SELECT * FROM traces WHERE trace_id = $1`, /\$1 pins the trace but has no value/],
  ],
  'subqueries in every clause': [
    [`SELECT (SELECT string_agg(trace_id, ',') FROM traces) FROM traces WHERE trace_id = 't1'`, UNPINNED],
    [`SELECT * FROM traces WHERE trace_id = 't1' AND EXISTS (SELECT 1 FROM traces t2 WHERE t2.risk = 'high')`, UNPINNED],
    [`SELECT * FROM traces WHERE trace_id = 't1' ORDER BY (SELECT count(*) FROM traces)`, UNPINNED],
    [`SELECT * FROM traces WHERE trace_id = 't1' LIMIT (SELECT count(*) FROM trace_steps)`, /trace_steps is read without pinning/],
    [`SELECT * FROM traces WHERE trace_id = 't1' OFFSET (SELECT 1 FROM trace_steps LIMIT 1)`, /trace_steps is read without pinning/],
    [`SELECT risk, count(*) FROM traces WHERE trace_id = 't1' GROUP BY risk HAVING (SELECT count(*) FROM traces) > 0`, UNPINNED],
    [`SELECT risk FROM traces WHERE trace_id = 't1' GROUP BY (SELECT risk FROM traces LIMIT 1), risk`, UNPINNED],
    [`SELECT * FROM (SELECT * FROM traces) x WHERE x.trace_id = 't1'`, UNPINNED],
    [`SELECT * FROM traces WHERE trace_id = 't1' AND risk IN (SELECT risk FROM traces)`, UNPINNED],
    [`SELECT * FROM traces WHERE trace_id = 't1' AND risk = ANY (ARRAY(SELECT risk FROM traces))`, UNPINNED],
    [`SELECT count(*) OVER (PARTITION BY (SELECT max(trace_id) FROM traces)) FROM traces WHERE trace_id = 't1'`, UNPINNED],
    [`SELECT * FROM traces t WHERE EXISTS (SELECT 1 FROM trace_steps s WHERE t.trace_id = 't1' AND s.trace_id = 't1')`, UNPINNED],
  ],
  'set operations': [
    [`SELECT * FROM traces WHERE trace_id = 't1' UNION SELECT * FROM traces`, UNPINNED],
    [`SELECT trace_id FROM traces WHERE trace_id = 't1' UNION SELECT trace_id FROM traces WHERE trace_id = 't2'`, TWO],
    [`SELECT trace_id FROM traces WHERE trace_id = 't1' INTERSECT SELECT trace_id FROM traces`, UNPINNED],
    [`SELECT trace_id FROM traces EXCEPT SELECT trace_id FROM traces WHERE trace_id = 't1'`, UNPINNED],
    [`SELECT trace_id FROM traces WHERE trace_id = 't1' UNION ALL SELECT trace_id FROM trace_steps WHERE trace_id = 't2'`, TWO],
    [`(SELECT summary FROM traces WHERE trace_id = 't1') UNION ALL (SELECT content FROM trace_steps ORDER BY 1 LIMIT 5)`, /trace_steps is read without pinning/],
  ],
  'CTEs': [
    [`WITH x AS (SELECT * FROM traces) SELECT * FROM x WHERE trace_id = 't1'`, UNPINNED],
    [
      `WITH RECURSIVE r AS (SELECT trace_id FROM traces WHERE trace_id = 't1' UNION SELECT t.trace_id FROM traces t JOIN r ON t.trace_id > r.trace_id) SELECT * FROM r`,
      UNPINNED,
    ],
    [`WITH traces AS (SELECT 't1' AS trace_id) SELECT * FROM traces WHERE trace_id = 't1'`, /shadows a table name/],
    [`WITH x AS (DELETE FROM traces RETURNING *) SELECT * FROM x`, /data-modifying statement inside WITH \(DELETE\)/],
    [`WITH x AS (INSERT INTO traces (trace_id) VALUES ('z') RETURNING *) SELECT 1`, /data-modifying statement inside WITH \(INSERT\)/],
    [`WITH x AS (UPDATE traces SET risk = 'low' RETURNING *) SELECT * FROM x`, /data-modifying statement inside WITH \(UPDATE\)/],
    [`WITH x AS (SELECT * FROM traces WHERE trace_id = 't1'), y AS (SELECT * FROM traces WHERE trace_id = 't2') SELECT * FROM x, y`, TWO],
    [`WITH x AS MATERIALIZED (SELECT * FROM trace_steps) SELECT * FROM x WHERE trace_id = 't1'`, /trace_steps is read without pinning/],
    [`WITH x AS (SELECT 1) SELECT * FROM x, traces`, UNPINNED],
    [`WITH a AS (SELECT * FROM traces WHERE trace_id = 't1'), b AS (SELECT * FROM traces) SELECT * FROM a`, UNPINNED],
  ],
  // A key read through a subquery's or WITH query's output does not pin: Postgres may
  // keep the subquery apart (OFFSET 0, MATERIALIZED), the value then stays inside it,
  // the other table is scanned whole, and a filter that fails on a row (a cast quoting
  // the value) reads another trace's text out in its error.
  'pinned only through a subquery or WITH query': [
    [
      `SELECT t2.trace_id FROM traces t2, (SELECT t.trace_id FROM traces t WHERE t.trace_id = 't1' OFFSET 0) q WHERE t2.trace_id = q.trace_id AND CASE WHEN t2.trace_id = 't2' THEN t2.summary::int4 ELSE 1 END = 1`,
      /traces \(as t2\) is read without pinning/,
    ],
    [`SELECT s.content FROM (SELECT * FROM traces WHERE trace_id = 't1' OFFSET 0) t JOIN trace_steps s ON s.trace_id = t.trace_id`, /trace_steps \(as s\) is read without pinning/],
    [`WITH t AS MATERIALIZED (SELECT * FROM traces WHERE trace_id = 't1') SELECT s.content FROM t JOIN trace_steps s ON s.trace_id = t.trace_id`, /trace_steps \(as s\) is read without pinning/],
    [`WITH t AS (SELECT * FROM traces WHERE trace_id = $1) SELECT t.summary, s.content FROM t JOIN trace_steps s ON s.trace_id = t.trace_id`, /trace_steps \(as s\) is read without pinning/],
    [`SELECT x.trace_id FROM (SELECT trace_id FROM traces WHERE trace_id = 't1') x JOIN trace_steps s ON s.trace_id = x.trace_id`, /trace_steps \(as s\) is read without pinning/],
  ],
  // A TID scan fetches the addressed row (perhaps another trace's) and evaluates the
  // other conditions on it before the key's pin, a mere filter there.
  'system columns of trace tables': [
    [`SELECT step FROM trace_steps WHERE trace_id = 't1' AND ctid = '(0,18)' AND jsonb_path_exists(tool_calls, 'strict $[1]')`, /system column ctid of public\.trace_steps is not allowed/],
    [`SELECT ctid, xmin FROM traces WHERE trace_id = 't1'`, /system column ctid of public\.traces/],
    [`SELECT t.summary FROM traces t WHERE t.trace_id = 't1' AND t.tableoid > 0`, /system column tableoid/],
  ],
  'LATERAL and joins': [
    [`SELECT * FROM traces t, LATERAL (SELECT * FROM trace_steps s WHERE s.trace_id > t.trace_id) x WHERE t.trace_id = 't1'`, /trace_steps \(as s\) is read without pinning/],
    [`SELECT * FROM traces t CROSS JOIN LATERAL (SELECT * FROM traces t2 LIMIT 5) x WHERE t.trace_id = 't1'`, UNPINNED],
    [`SELECT * FROM traces t JOIN trace_steps s ON true WHERE t.trace_id = 't1'`, /trace_steps \(as s\) is read without pinning/],
    [`SELECT * FROM traces t JOIN trace_steps s ON s.trace_id <> t.trace_id WHERE t.trace_id = 't1'`, /trace_steps/],
    [`SELECT * FROM traces t LEFT JOIN trace_steps s ON t.trace_id = 't1' AND s.trace_id = 't1'`, /traces \(as t\) is read without pinning/],
    [`SELECT * FROM traces t FULL JOIN trace_steps s ON s.trace_id = t.trace_id AND t.trace_id = 't1' AND s.trace_id = 't1'`, UNPINNED],
    [`SELECT * FROM trace_steps s LEFT JOIN traces t ON t.trace_id = s.trace_id WHERE t.trace_id = 't1'`, /trace_steps \(as s\)/],
    [`SELECT * FROM traces t JOIN trace_steps s ON s.trace_id = t.trace_id WHERE s.step = 1`, UNPINNED],
    [`SELECT * FROM traces a, traces b WHERE a.trace_id = 't1'`, /traces \(as b\)/],
    [`SELECT * FROM traces a JOIN traces b ON b.trace_id = a.summary WHERE a.trace_id = 't1'`, /traces \(as b\)/],
    [`SELECT * FROM traces t, trace_steps s WHERE trace_id = 't1'`, UNPINNED],
    [`SELECT * FROM traces t JOIN (SELECT 't9' AS trace_id) x ON true WHERE trace_id = 't1'`, UNPINNED],
    [`SELECT * FROM traces t, (SELECT 't1' AS trace_id) x WHERE x.trace_id = 't1'`, UNPINNED],
    [`SELECT * FROM traces t, (SELECT 't1' AS trace_id) x WHERE t.trace_id = x.trace_id`, UNPINNED],
    [`SELECT * FROM traces t JOIN trace_steps s ON s.trace_id = t.trace_id OR t.trace_id = 't1' WHERE t.trace_id = 't1'`, /trace_steps \(as s\)/],
  ],
  'aliases that shadow table names': [
    [`SELECT * FROM traces trace_steps, trace_steps traces WHERE traces.trace_id = 't1'`, /public\.traces \(as trace_steps\)/],
    [`SELECT * FROM traces t WHERE EXISTS (SELECT 1 FROM trace_steps t WHERE t.trace_id = 't1')`, /traces \(as t\)/],
    [`SELECT * FROM traces x WHERE x.trace_id = 't1' AND EXISTS (SELECT 1 FROM trace_steps WHERE trace_id = trace_id)`, /trace_steps is read/],
    [`SELECT * FROM traces t WHERE EXISTS (SELECT 1 FROM trace_steps s WHERE t.trace_id = 't1')`, UNPINNED],
    [`SELECT * FROM traces, trace_steps traces WHERE traces.trace_id = 't1'`, UNPINNED],
    [`SELECT * FROM traces trace_id WHERE trace_id.trace_id = 'x' OR trace_id IS NOT NULL`, UNPINNED],
  ],
  'schema-qualified, quoted and temporary names': [
    [`SELECT * FROM pg_temp.traces WHERE trace_id = 't1'`, /pg_temp\.traces is not a trace table/],
    [`SELECT * FROM "Traces" WHERE trace_id = 't1'`, /public\.Traces is not readable/],
    [`SELECT * FROM public."Traces" WHERE trace_id = 't1'`, /not a trace table/],
    [`SELECT * FROM other.traces WHERE trace_id = 't1'`, /other\.traces is not readable/],
    [`SELECT * FROM demo.public.traces WHERE trace_id = 't1'`, /database-qualified/],
    [`SELECT * FROM traces AS t(a) WHERE a = 't1'`, /column aliases on a table/],
    [`SELECT * FROM public.traces WHERE public.traces.trace_id = 't1'`, /more than two parts/],
    [`SELECT * FROM pg_catalog.traces WHERE trace_id = 't1'`, /catalog pg_catalog\.traces is not readable/],
    [`SELECT * FROM pg_toast.pg_toast_16384`, /never readable/],
    [`SELECT * FROM customers`, /public\.customers is not readable: it is not a trace table/],
    [`SELECT * FROM traces t JOIN customers c ON c.email = t.user_email WHERE t.trace_id = 't1'`, /customers/],
    [`SELECT * FROM traces TABLESAMPLE SYSTEM (10) WHERE trace_id = 't1'`, /TABLESAMPLE/],
  ],
  'two different traces and parameters': [
    [`SELECT * FROM traces WHERE trace_id = 't1' AND trace_id = 't2'`, TWO],
    [`SELECT * FROM traces WHERE trace_id = $1 AND trace_id = $2`, TWO, ['t1', 't2']],
    [`SELECT * FROM traces t JOIN trace_steps s ON s.trace_id = 't2' WHERE t.trace_id = 't1'`, TWO],
    [`SELECT * FROM traces WHERE trace_id = $1`, /has no value/, []],
    [`SELECT * FROM traces WHERE trace_id = $2`, /\$2 pins the trace but has no value/, ['t1']],
    [`SELECT * FROM traces WHERE trace_id = $1`, /is NULL/, [null]],
    [`SELECT * FROM traces WHERE trace_id = 't1'; SELECT * FROM traces WHERE trace_id = 't2'`, TWO],
    [`SELECT trace_id FROM traces WHERE trace_id = 't1' UNION ALL SELECT trace_id FROM traces WHERE trace_id = $1`, TWO, ['t2']],
  ],
  'quoting and lexer tricks': [
    [`SELECT * FROM traces WHERE trace_id = 't1\\' OR true --'`, UNPINNED],
    [`SELECT * FROM traces WHERE trace_id = 't1' /* unterminated`, /does not parse/],
    [`SELECT * FROM traces WHERE trace_id = 't1' */ OR true`, /does not parse/],
    [`SELECT * FROM traces WHERE trace_id = 't1\u0000' OR true`, /NUL/],
    [`SELECT * FROM traces WHERE trace_id = U&'t\\0031' OR U&'\\0031' = '1'`, UNPINNED],
    [`SELECT * FROM traces WHERE trace_id = E't1' 'x'`, /does not parse/],
  ],
};

describe('decide: legitimate single-trace reads', () => {
  for (const [sql, traceId, params] of LEGIT) {
    it(`allows ${sql}`, () => {
      const d = run(sql, { params: params ?? [] });
      expect(d, d.reason).toMatchObject({ outcome: 'allow', category: 'trace-read', traceId, rule: 'readers' });
    });
  }
});

describe('decide: scope attacks', () => {
  for (const [category, cases] of Object.entries(ATTACKS)) {
    describe(category, () => {
      for (const [sql, reason, params] of cases) {
        it(`denies ${sql}`, () => {
          const d = run(sql, { params: params ?? [] });
          expect(d.outcome, `${sql} => ${d.reason}`).toBe('deny');
          expect(d.reason).toMatch(reason);
          if (d.outcome === 'deny') expect(['42501', '42601']).toContain(d.sqlstate);
        });
      }
    });
  }
});

describe('decide: parser-level denials', () => {
  it('answers a syntax error with 42601', () => {
    expect(run('SELEC * FROM traces')).toMatchObject({ outcome: 'deny', category: 'invalid', sqlstate: '42601' });
  });

  it('reports the pinned parameters so the session can check their declared types', () => {
    const d = run(`SELECT * FROM traces t JOIN trace_steps s ON s.trace_id = $2 WHERE t.trace_id = $1`, { params: ['t1', 't1'] });
    expect(d).toMatchObject({ outcome: 'allow', traceId: 't1', pinnedParams: [1, 2], pinnedParamsUsedElsewhere: [] });
  });

  // Undeclared, a parameter takes its type from its first use: `$1::char(60)` makes it
  // bpchar, which compares with trace_id ignoring trailing blanks.
  it('reports pinning parameters also used elsewhere, whose type that use may decide', () => {
    const elsewhere = [
      `SELECT t.trace_id, $1::char(60) AS x FROM traces t WHERE t.trace_id = $1`,
      `SELECT * FROM trace_steps WHERE trace_id = $1 AND role = $1`,
      `SELECT * FROM traces WHERE trace_id = $1 AND length($1) > 0`,
    ];
    for (const sql of elsewhere) expect(run(sql, { params: ['t1'] }), sql).toMatchObject({ outcome: 'allow', pinnedParams: [1], pinnedParamsUsedElsewhere: [1] });
    const keysOnly = [
      `SELECT * FROM traces t WHERE t.trace_id = $1 AND EXISTS (SELECT 1 FROM trace_steps s WHERE s.trace_id = $1)`,
      `SELECT * FROM traces t JOIN trace_steps s ON s.trace_id = $1 WHERE t.trace_id = $1::text`,
    ];
    for (const sql of keysOnly) expect(run(sql, { params: ['t1'] }), sql).toMatchObject({ outcome: 'allow', pinnedParams: [1], pinnedParamsUsedElsewhere: [] });
  });

  it('does not echo more than the statement gave when two traces are read', () => {
    const long = 'x'.repeat(500);
    const d = run(`SELECT * FROM traces WHERE trace_id = '${long}' AND trace_id = 't2'`);
    expect(d.reason.length).toBeLessThan(300);
  });
});
