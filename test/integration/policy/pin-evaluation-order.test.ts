// A pin holds for the rows a statement returns, but Postgres may evaluate a table's
// other conditions on every row it scans. When a trace table was pinned only through
// a subquery's output (`t2.trace_id = q.trace_id`, q pinned inside a subquery the
// planner keeps apart: OFFSET 0), the value never reaches t2's scan: t2 is read whole,
// and a condition that fails on a row (a cast quoting the value) reads another agent's
// trace out in its error. Such a statement is refused before it reaches the database.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { WELL_KNOWN_TRACES } from '../../../src/demo/generate.js';
import { getToken, pgClientConfig } from '../../helpers/env.js';
import { startTestProxy, type TestProxy } from '../../helpers/proxy.js';

const MINE = WELL_KNOWN_TRACES.agentALow;
const THEIRS = WELL_KNOWN_TRACES.agentBLow;
const PINNED_INSIDE = `(SELECT t.trace_id FROM traces t, generate_series(1, 100000) g WHERE t.trace_id = '${MINE}' OFFSET 0) q`;

let proxy: TestProxy;
let agent: string;
let theirSummary: string;
beforeAll(async () => {
  proxy = await startTestProxy();
  agent = await getToken('agent-a');
  const db = new pg.Client(pgClientConfig());
  await db.connect();
  const row = (await db.query<{ agent_id: string; summary: string }>('SELECT agent_id, summary FROM traces WHERE trace_id = $1', [THEIRS])).rows[0];
  await db.end();
  expect(row?.agent_id).toBe('agent-b');
  theirSummary = row?.summary ?? '';
});
afterAll(async () => proxy?.close());

describe('a trace table pinned only through a subquery', () => {
  test.each([
    ['traces', `SELECT t2.trace_id FROM traces t2, ${PINNED_INSIDE} WHERE t2.trace_id = q.trace_id AND CASE WHEN t2.trace_id = '${THEIRS}' THEN t2.summary::int4 ELSE 1 END = 1`],
    ['trace_steps', `SELECT s.step FROM trace_steps s, ${PINNED_INSIDE} WHERE s.trace_id = q.trace_id AND CASE WHEN s.trace_id = '${THEIRS}' THEN s.content::int4 ELSE 1 END = 1`],
  ])('is refused, not scanned whole (%s)', async (_table, sql) => {
    const client = await proxy.connect(agent);
    const outcome = await client.query(sql).then(
      () => ({ code: 'ran', message: '' }),
      (err: { code?: string; message: string }) => ({ code: err.code, message: err.message }),
    );
    await client.end();
    expect(outcome.message).not.toContain(theirSummary.slice(0, 20));
    expect(outcome).toMatchObject({ code: '42501', message: expect.stringMatching(/is read without pinning/) });
  });

  test('pinned directly as well, the same join is allowed', async () => {
    const client = await proxy.connect(agent);
    const r = await client.query(`SELECT t2.trace_id FROM traces t2, ${PINNED_INSIDE} WHERE t2.trace_id = q.trace_id AND t2.trace_id = '${MINE}' LIMIT 1`);
    expect(r.rows).toEqual([{ trace_id: MINE }]);
    await client.end();
  });
});
