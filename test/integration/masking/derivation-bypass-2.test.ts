// More masking bypasses through the detector-scanned-column policy (policy/derivation.ts),
// siblings of derivation-bypass.test.ts: agent-a reads its OWN trace (allowed) and gets
// planted secrets back in a form the detectors miss but a program turns back into the
// secret, or reads them through a comparison oracle. Each statement must either be denied
// by the policy (42501) or come back with no planted secret recoverable from it.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { PLANTED, SHOWCASE_TRACE_ID } from '../../../src/demo/planted.js';
import { getToken } from '../../helpers/env.js';
import { ownedTraceTable, type OwnedTable } from '../../helpers/owned-table.js';
import { startTestProxy, type TestProxy } from '../../helpers/proxy.js';
import { leaked, runAs, unhex, unreverse } from './harness.js';

const TRACE = SHOWCASE_TRACE_ID;

let proxy: TestProxy;
let agent: string;
beforeAll(async () => {
  proxy = await startTestProxy();
  agent = await getToken('agent-a');
});
afterAll(async () => proxy.close());

const returned = (sql: string): Promise<{ denied: boolean; values: string[] }> => runAs(proxy, agent, sql, [TRACE]);

describe('a scanned value cast to bytea comes back hex-encoded inside JSON or text', () => {
  // derivation.ts keeps a cast to bytea "whole" (PRESERVING_CASTS) and lets JSON
  // builders carry it. The masker decodes a bytea column's hex (value-masker.ts, kind
  // 'bytes'), but to_jsonb/json_build_* turn the bytea into a JSON string "\x4f50..."
  // that the JSON masker scans as text: the hex is never decoded, no detector fires.
  test.each([
    ['to_jsonb(content::bytea)', 'SELECT to_jsonb(content::bytea) FROM trace_steps WHERE trace_id = $1 ORDER BY step'],
    ['jsonb_agg(content::bytea)', 'SELECT jsonb_agg(content::bytea) FROM trace_steps WHERE trace_id = $1'],
    ['json_build_array(summary::bytea)', 'SELECT json_build_array(summary::bytea) FROM traces WHERE trace_id = $1'],
    [
      'jsonb_build_object over a tool call (JWT)',
      "SELECT jsonb_build_object('a', (tool_calls #>> '{0,arguments,auth,headers,authorization}')::bytea) FROM trace_steps WHERE trace_id = $1 AND tool_calls IS NOT NULL",
    ],
    // Cast back to text, the bytea's hex output is a text value: the masker scans it as prose.
    ['content::bytea::text', 'SELECT content::bytea::text FROM trace_steps WHERE trace_id = $1 ORDER BY step'],
    ['(SELECT summary::bytea)::varchar', 'SELECT (SELECT summary::bytea)::varchar FROM traces WHERE trace_id = $1'],
    ['a subquery row holding a bytea, as text', 'SELECT x::text FROM (SELECT content::bytea AS b FROM trace_steps WHERE trace_id = $1) x'],
  ])('%s', async (_name, sql) => {
    const { denied, values } = await returned(sql);
    if (denied) return;
    expect(leaked(values.join('\n'))).toEqual([]);
    expect(leaked(unhex(values))).toEqual([]);
  });
});

describe('a record holding a bytea, under a policy of detectors alone', () => {
  // With column rules, an anonymous record is NULL (it could hold a ruled column); with
  // detectors alone it is masked field by field as text, and a bytea field is its hex
  // output there, not a bytea column the masker decodes.
  const TABLE = `bytea_rec_${process.pid}`;
  const SECRET = PLANTED.find((p) => p.kind === 'email')?.needle ?? 'alice@example.com';
  let owned: OwnedTable | undefined;
  let own: TestProxy;
  beforeAll(async () => {
    owned = await ownedTraceTable(TABLE, 'trace_id text PRIMARY KEY, owner text, content text', [['mine', 'agent-a', `write to ${SECRET} today`]]);
    own = owned.proxy;
  });
  afterAll(async () => owned?.close());

  test.each([
    ['a subquery row', `SELECT x FROM (SELECT content::bytea AS b FROM ${TABLE} WHERE trace_id = $1) x`],
    ['a subquery row with another column', `SELECT x FROM (SELECT content::bytea AS b, 1 AS n FROM ${TABLE} WHERE trace_id = $1) x`],
    ['a CTE row', `WITH w AS (SELECT content::bytea AS b FROM ${TABLE} WHERE trace_id = $1) SELECT w FROM w`],
    ['an array of rows', `SELECT array_agg(x) FROM (SELECT content::bytea AS b FROM ${TABLE} WHERE trace_id = $1) x`],
    ['a row holding an array of bytea', `SELECT x FROM (SELECT ARRAY[content::bytea] AS b FROM ${TABLE} WHERE trace_id = $1) x`],
    ['a row holding a row', `SELECT x FROM (SELECT y FROM (SELECT content::bytea AS b, 1 AS n FROM ${TABLE} WHERE trace_id = $1) y) x`],
  ])('%s', async (_name, sql) => {
    const client = await own.connect(agent);
    try {
      const plain = await client.query({ text: `SELECT content FROM ${TABLE} WHERE trace_id = $1`, values: ['mine'] });
      expect(JSON.stringify(plain.rows)).not.toContain(SECRET);
      const r = await client.query({ text: sql, values: ['mine'], rowMode: 'array' }).then(
        (res) => res,
        (e: Error & { code?: string }) => {
          if (e.code === '42501') return null;
          throw e;
        },
      );
      if (r === null) return;
      const values = (r.rows as unknown[][]).flat().map((v) => (typeof v === 'string' ? v : JSON.stringify(v)));
      expect(unhex(values)).not.toContain(SECRET);
    } finally {
      await client.end();
    }
  });
});

describe('hypothetical-set aggregates rank a chosen value among scanned ones: a range oracle', () => {
  // derivation.ts: rank/dense_rank/percent_rank/cume_dist are 'destroy' functions, and a
  // call whose arguments hold no scanned value returns "destroyed" whatever its
  // WITHIN GROUP (ORDER BY ...) sorts (only mode()/percentile_disc are looked at, and
  // noGuessSorted only refuses an ORDER BY value mixed with the statement's own).
  // rank('guess') WITHIN GROUP (ORDER BY content) is 1 + the number of rows whose
  // content sorts before 'guess': `content >= 'guess'`, the comparison the range check
  // refuses. A recursive query runs the binary search itself: one statement reads a
  // whole value.
  const extract = (fn: string, test: string, target: string, step: number): string => `
    WITH RECURSIVE r(p, n) AS (
      SELECT ''::text, 0
      UNION ALL
      SELECT r.p || chr(m.g), r.n + 1
        FROM r, LATERAL (
          SELECT max(g.g) AS g
            FROM generate_series(9, 126) AS g(g)
           WHERE (SELECT ${fn}((r.p || chr(g.g)) COLLATE "C") WITHIN GROUP (ORDER BY ${target} COLLATE "C")
                    FROM trace_steps s WHERE s.trace_id = $1 AND s.step = ${step}) ${test}
        ) m
       WHERE m.g IS NOT NULL AND r.n < 1000
    )
    SELECT reverse(p) FROM r ORDER BY n DESC LIMIT 1`;

  test.each([
    ['rank over trace_steps.content (OpenAI key)', extract('rank', '= 1', 's.content', 4)],
    ['percent_rank over trace_steps.content (OpenAI key)', extract('percent_rank', '= 0', 's.content', 4)],
    ['dense_rank over a tool call (service JWT)', extract('dense_rank', '= 1', "s.tool_calls #>> '{0,arguments,auth,headers,authorization}'", 2)],
  ])('%s', async (_name, sql) => {
    const { denied, values } = await returned(sql);
    if (denied) return;
    expect(leaked(values.map(unreverse).join('\n'))).toEqual([]);
  });
});
