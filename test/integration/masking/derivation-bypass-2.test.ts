// More masking bypasses through the detector-scanned-column policy (policy/derivation.ts),
// siblings of derivation-bypass.test.ts: agent-a reads its OWN trace (allowed) and gets
// planted secrets back in a form the detectors miss but a program turns back into the
// secret, or reads them through a comparison oracle. Each statement must either be denied
// by the policy (42501) or come back with no planted secret recoverable from it.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { PLANTED, SHOWCASE_TRACE_ID } from '../../../src/demo/planted.js';
import { getToken, testEnv, withSuperuser } from '../../helpers/env.js';
import { startTestProxy, type TestProxy } from '../../helpers/proxy.js';

const TRACE = SHOWCASE_TRACE_ID;

let proxy: TestProxy;
let agent: string;
beforeAll(async () => {
  proxy = await startTestProxy();
  agent = await getToken('agent-a');
});
afterAll(async () => proxy.close());

function leaked(output: string): string[] {
  return PLANTED.filter((p) => output.includes(p.needle)).map((p) => `${p.kind}: ${p.needle}`);
}

/** Runs `sql` as agent-a; denied by policy is fine, else returns every value as text. */
async function returned(sql: string): Promise<{ denied: boolean; values: string[] }> {
  const client = await proxy.connect(agent);
  try {
    const r = await client.query({ text: sql, values: [TRACE], rowMode: 'array' });
    const values = (r.rows as unknown[][]).flat().map((v) => (typeof v === 'string' ? v : JSON.stringify(v)));
    return { denied: false, values };
  } catch (err) {
    const e = err as Error & { code?: string };
    if (e.code === '42501') return { denied: true, values: [] };
    throw err;
  } finally {
    await client.end();
  }
}

/** Every run of hex digits after an `x` (bytea's hex output, `\x...`), decoded as UTF-8. */
function unhex(values: readonly string[]): string {
  const out: string[] = [];
  for (const v of values) for (const m of v.matchAll(/x((?:[0-9a-f]{2})+)/g)) out.push(Buffer.from(m[1] as string, 'hex').toString('utf8'));
  return out.join('\n');
}

const unreverse = (s: string): string => [...s].reverse().join('');

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
  let dir: string;
  let own: TestProxy;
  beforeAll(async () => {
    await withSuperuser((db) =>
      db.query(
        `CREATE TABLE public.${TABLE} (trace_id text PRIMARY KEY, owner text, content text);
         INSERT INTO public.${TABLE} VALUES ('mine', 'agent-a', 'write to ${SECRET} today');
         GRANT SELECT ON public.${TABLE} TO ${testEnv().pg.proxyUser};`,
      ),
    );
    dir = mkdtempSync(join(tmpdir(), 'tracegate-bytea-rec-'));
    const policyFile = join(dir, 'policy.yaml');
    writeFileSync(
      policyFile,
      `version: 1
traceTables:
  - { table: public.${TABLE}, key: trace_id, owner: owner }
rules:
  - name: owners
    groups: [ai-agents]
    entitlement: { owner: { claim: sub } }
`,
    );
    own = await startTestProxy({ policyFile });
  });
  afterAll(async () => {
    await own?.close();
    rmSync(dir, { recursive: true, force: true });
    await withSuperuser((db) => db.query(`DROP TABLE public.${TABLE}`));
  });

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
