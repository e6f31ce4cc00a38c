// `ctid = '(p,n)'` makes Postgres fetch that one row by a TID scan, cheaper than the key's
// index: the pin `trace_id = '...'` is then only a filter, and filters run in cost order
// (on ties, the pin Postgres derives comes last), so a cheap condition that fails (a
// strict jsonpath) runs on the fetched row first, whatever trace it belongs to. Its
// error against its silence tells the shape of another agent's step. System columns of
// trace tables are refused.
import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { WELL_KNOWN_TRACES } from '../../../src/demo/generate.js';
import { getToken, pgClientConfig } from '../../helpers/env.js';
import { startTestProxy, type TestProxy } from '../../helpers/proxy.js';

const MINE = WELL_KNOWN_TRACES.agentALow;
const THEIRS = WELL_KNOWN_TRACES.agentBLow;

let proxy: TestProxy;
let agent: string;
let theirRow: { ctid: string; length: number };
beforeAll(async () => {
  proxy = await startTestProxy();
  agent = await getToken('agent-a');
  const db = new pg.Client(pgClientConfig());
  await db.connect();
  const row = (
    await db.query<{ ctid: string; length: number }>(
      `SELECT ctid::text AS ctid, jsonb_array_length(tool_calls) AS length FROM trace_steps WHERE trace_id = $1 AND jsonb_typeof(tool_calls) = 'array' LIMIT 1`,
      [THEIRS],
    )
  ).rows[0];
  await db.end();
  if (!row) throw new Error(`no step of ${THEIRS} has an array of tool calls`);
  theirRow = row;
});
afterAll(async () => proxy?.close());

async function outcome(sql: string): Promise<{ code: string; message: string }> {
  const client = await proxy.connect(agent);
  try {
    await client.query(sql);
    return { code: 'ran', message: '' };
  } catch (err) {
    return { code: (err as { code?: string }).code ?? '?', message: (err as Error).message };
  } finally {
    await client.end();
  }
}

test("a row addressed by ctid does not run a condition on another agent's step", async () => {
  const probe = (index: number): string =>
    `SELECT step FROM trace_steps WHERE trace_id = '${MINE}' AND ctid = '${theirRow.ctid}' AND jsonb_path_exists(tool_calls, 'strict $[${index}]')`;
  for (const index of [theirRow.length - 1, theirRow.length]) {
    expect(await outcome(probe(index))).toMatchObject({ code: '42501', message: expect.stringMatching(/system column ctid/) });
  }
});
