// A rule's maxRows / maxBytes bound a statement's result. An Execute with a row limit
// only suspends the portal: the next Execute of the same portal resumes the same result.
// Each Execute is admitted as a request of its own, and if each counted its rows from
// zero, a client could page through a result of any size in pages of maxRows rows and
// never meet 54000: the limit would bound nothing.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serialize } from 'pg-protocol';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { WELL_KNOWN_TRACES } from '../../../src/demo/generate.js';
import { getToken, withSuperuser } from '../../helpers/env.js';
import { startTestProxy, type TestProxy } from '../../helpers/proxy.js';
import { collect, rawLogin } from '../../helpers/raw-client.js';

const MINE = WELL_KNOWN_TRACES.agentALow;
const STEPS = 'SELECT step FROM trace_steps WHERE trace_id = $1 ORDER BY step';

let dir: string;
let proxy: TestProxy;
let total: number;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tracegate-portal-row-limit-'));
  const policyFile = join(dir, 'policy.yaml');
  writeFileSync(
    policyFile,
    `version: 1
traceTables:
  - { table: public.traces, key: trace_id, owner: agent_id, risk: risk }
  - { table: public.trace_steps, key: trace_id }
rules:
  - name: two-rows
    groups: [security]
    limits: { maxRows: 2, maxBytes: 1MB }
`,
  );
  proxy = await startTestProxy({ policyFile });
  total = await withSuperuser(async (db) => Number((await db.query('SELECT count(*) AS n FROM trace_steps WHERE trace_id = $1', [MINE])).rows[0].n));
});
afterAll(async () => {
  await proxy?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('paging a portal in Executes of maxRows rows does not get past maxRows', async () => {
  expect(total).toBeGreaterThan(2);
  const socket = await rawLogin(proxy.port, await getToken('reviewer'));
  // One batch, one implicit transaction: the portal lives until the Sync.
  socket.write(
    Buffer.concat([
      serialize.parse({ text: STEPS }),
      serialize.bind({ values: [MINE] }),
      serialize.execute({ rows: 2 }),
      serialize.execute({ rows: 2 }),
      serialize.execute({ rows: 2 }),
      serialize.sync(),
    ]),
  );
  const r = await collect(socket, 15_000, (m) => m.type === 'ReadyForQuery');
  socket.end(serialize.end());
  const received = r.messages.map((m) => (m.type === 'ErrorResponse' ? `ErrorResponse ${m.fields.code}` : m.type));
  // The result has more than 2 rows: after 2, the client gets 54000, not a third row.
  expect(received.filter((t) => t === 'DataRow').length).toBeLessThanOrEqual(2);
  expect(received).toContain('ErrorResponse 54000');
});

test('paging a portal held open in a transaction does not get past maxRows either', async () => {
  const socket = await rawLogin(proxy.port, await getToken('reviewer'));
  socket.write(serialize.query('BEGIN'));
  await collect(socket, 5000, (m) => m.type === 'ReadyForQuery');
  socket.write(Buffer.concat([serialize.parse({ text: STEPS }), serialize.bind({ portal: 'p', values: [MINE] }), serialize.execute({ portal: 'p', rows: 2 }), serialize.sync()]));
  const first = await collect(socket, 15_000, (m) => m.type === 'ReadyForQuery');
  socket.write(Buffer.concat([serialize.execute({ portal: 'p', rows: 2 }), serialize.sync()]));
  const second = await collect(socket, 15_000, (m) => m.type === 'ReadyForQuery');
  socket.end(serialize.end());
  const rows = [...first.messages, ...second.messages].filter((m) => m.type === 'DataRow').length;
  expect(rows).toBeLessThanOrEqual(2);
  expect(second.messages.some((m) => m.type === 'ErrorResponse' && m.fields.code === '54000')).toBe(true);
});
