// The policy follows a value by the names and positions Postgres gives a query level's
// output columns. Where the analyser's list of a subquery's, WITH query's, VALUES list's
// or function's columns differs from Postgres's, a reference to a column resolves (for the
// policy) to nothing, which counted as a value carrying no trace data, or to another
// column than the one Postgres reads. Shapes where the lists differ:
//   (s).*            in a select list expands to every column of s (the analyser: one output)
//   VALUES (s.*, 1)  a `*` in a VALUES row expands too (the analyser: column2 is the 1)
//   (SELECT * ...)   a scalar subquery is named after its first column (the analyser: ?column?)
//   w AS x(b)        a WITH query's own column names stay after an alias list shorter than them
//   unnest(ARRAY[s]) an array of rows unnests into the row's columns (the analyser: one column)
// Through any of them, functions the policy refuses over a trace column (reverse, upper,
// substr ...) run over agent-a's own trace, and the secrets and the masked user_email
// come back in a form the masker does not recognise. Each statement must be denied
// (42501) or return nothing recoverable.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { PLANTED, SHOWCASE_TRACE_ID } from '../../../src/demo/planted.js';
import { getToken, withSuperuser } from '../../helpers/env.js';
import { startTestProxy, type TestProxy } from '../../helpers/proxy.js';

const TRACE = SHOWCASE_TRACE_ID;

let proxy: TestProxy;
let agent: string;
beforeAll(async () => {
  proxy = await startTestProxy();
  agent = await getToken('agent-a');
});
afterAll(async () => proxy.close());

const unreverse = (s: string): string => [...s].reverse().join('');

function leaked(output: string): string[] {
  return PLANTED.filter((p) => output.includes(p.needle)).map((p) => `${p.kind}: ${p.needle}`);
}

/** Runs `sql` as agent-a with $1 = the showcase trace; denied by policy is fine. */
async function returned(sql: string): Promise<{ denied: boolean; values: string[] }> {
  const client = await proxy.connect(agent);
  try {
    const r = await client.query({ text: sql, values: [TRACE], rowMode: 'array' });
    return { denied: false, values: (r.rows as unknown[][]).flat().map((v) => (typeof v === 'string' ? v : JSON.stringify(v))) };
  } catch (err) {
    const e = err as Error & { code?: string };
    if (e.code === '42501') return { denied: true, values: [] };
    throw err;
  } finally {
    await client.end();
  }
}

describe("reverse() over a trace column the policy resolves to no column, or to another one", () => {
  test.each([
    ['(s).* in a subquery, by name', 'SELECT reverse(content) FROM (SELECT (s).* FROM trace_steps s WHERE s.trace_id = $1) x'],
    ['(s).* in a subquery, by position', 'SELECT reverse(x.c4) FROM (SELECT (s).*, 1, 2, 3 FROM trace_steps s WHERE s.trace_id = $1) x(c1, c2, c3, c4)'],
    ['s.* in a VALUES row', 'SELECT reverse(v.column4) FROM trace_steps s, LATERAL (VALUES (s.*, 1, 2, 3)) v WHERE s.trace_id = $1'],
    [
      'a scalar subquery of SELECT *',
      'SELECT reverse(content) FROM generate_series(0, 50) g, LATERAL (SELECT (SELECT * FROM (SELECT content FROM trace_steps WHERE trace_id = $1 AND step = g.g) s)) x',
    ],
    [
      'a scalar subquery of a UNION',
      'SELECT reverse(content) FROM generate_series(0, 50) g, LATERAL (SELECT (SELECT content FROM trace_steps WHERE trace_id = $1 AND step = g.g UNION ALL SELECT NULL LIMIT 1)) x',
    ],
    ['a WITH query under a shorter alias list', 'WITH w(a, c) AS (SELECT step, content FROM trace_steps WHERE trace_id = $1) SELECT reverse(c) FROM w AS x(b)'],
    ['unnest of an array of rows', 'SELECT reverse(content) FROM (SELECT array_agg(s) AS a FROM trace_steps s WHERE s.trace_id = $1) q, unnest(q.a) u'],
  ])('%s', async (_name, sql) => {
    const { denied, values } = await returned(sql);
    if (denied) return;
    // Without the fix: the planted secrets of agent-a's trace, reversed.
    expect(leaked(values.map(unreverse).join('\n'))).toEqual([]);
  });
});

test('the masked user_email comes back whole, reversed, through a WITH query under a shorter alias list', async () => {
  const stored = await withSuperuser((db) => db.query<{ e: string }>('SELECT user_email AS e FROM traces WHERE trace_id = $1', [TRACE]));
  const email = stored.rows[0]?.e;
  expect(email && email.length > 8).toBe(true);
  const { denied, values } = await returned(
    "WITH w(a, c) AS (SELECT trace_id, user_email FROM traces WHERE trace_id = $1) SELECT replace(reverse(c), '@', ' ') FROM w AS x(b)",
  );
  if (denied) return;
  // The column's rule (partial, keep 4) shows its last 4 characters; this is all of it.
  expect(values.map((v) => unreverse(v.replace(' ', '@')))).not.toContain(email);
});
