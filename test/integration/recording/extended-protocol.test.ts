// The recording says what the client received, in the extended protocol's corners too:
// - an Execute with a row limit ends in PortalSuspended (more rows remain), not in an
//   empty result;
// - when the gate cuts a result off (over maxRows: 54000) in a pipeline, the client gets
//   the error and then nothing until ReadyForQuery, while the upstream may still run the
//   Executes and Queries queued after it. Those ran, and are recorded as having run, but
//   with their response withheld: no rows or CommandComplete the client never saw.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { serialize } from 'pg-protocol';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { WELL_KNOWN_TRACES } from '../../../src/demo/generate.js';
import { getToken } from '../../helpers/env.js';
import { startTestProxy, type TestProxy } from '../../helpers/proxy.js';
import { collect, rawLogin } from '../../helpers/raw-client.js';
import { endedSession, eventually, sessionsCli, STORE_FILE } from './harness.js';

const MINE = WELL_KNOWN_TRACES.agentALow;
const OVER = 'SELECT step FROM trace_steps WHERE trace_id = $1';
const NEXT = 'SELECT trace_id, risk FROM traces WHERE trace_id = $1';

let dir: string;
let proxy: TestProxy;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tracegate-extended-recording-'));
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
});
afterAll(async () => {
  await proxy?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function sessionOf(text: string): Promise<string> {
  return eventually(async () => {
    const db = new Database(join(proxy.dir, STORE_FILE), { readonly: true });
    try {
      const rows = db.prepare("SELECT session_id, body FROM records WHERE kind = 'statement'").all() as { session_id: string; body: string }[];
      return rows.find((r) => (JSON.parse(r.body) as { text: string }).text === text)?.session_id;
    } finally {
      db.close();
    }
  }, `the statement ${text}`);
}

test('an Execute pipelined after a cut-off result is recorded as run with its response withheld', async () => {
  const socket = await rawLogin(proxy.port, await getToken('reviewer'));
  socket.write(
    Buffer.concat([
      serialize.parse({ text: OVER }),
      serialize.bind({ values: [MINE] }),
      serialize.execute({}),
      serialize.parse({ text: NEXT }),
      serialize.bind({ values: [MINE] }),
      serialize.execute({}),
      serialize.sync(),
    ]),
  );
  const r = await collect(socket, 15_000, (m) => m.type === 'ReadyForQuery');
  socket.end(serialize.end());
  const received = r.messages.map((m) => (m.type === 'ErrorResponse' ? `ErrorResponse ${m.fields.code}` : m.type));
  expect(received).toEqual(['ParseComplete', 'BindComplete', 'DataRow', 'DataRow', 'ErrorResponse 54000', 'ReadyForQuery']);

  const detail = await endedSession(join(proxy.dir, STORE_FILE), await sessionOf(OVER));
  const recordedRows = detail.statements.flatMap((s) => s.response).filter((e) => e.type === 'DataRow');
  expect(recordedRows).toHaveLength(2);
  // Decided and forwarded before the cut-off: the upstream ran it, or skipped it if our
  // cancel landed first. Either way the client got none of it, and the recording none.
  const next = detail.statements.find((s) => s.text === NEXT);
  expect(next?.response).toEqual([]);
  expect(next?.completion).toMatchObject({ rows: 0, commandTag: null, error: { sqlstate: '08006' } });
});

test('a Query pipelined after a cut-off result is recorded with its response withheld too', async () => {
  const query = `SELECT trace_id, risk FROM traces WHERE trace_id = '${MINE}'`;
  const socket = await rawLogin(proxy.port, await getToken('reviewer'));
  socket.write(
    Buffer.concat([
      serialize.parse({ text: OVER }),
      serialize.bind({ values: [MINE] }),
      serialize.execute({}),
      serialize.query(query),
      serialize.sync(),
    ]),
  );
  const r = await collect(socket, 15_000, (m) => m.type === 'ReadyForQuery');
  socket.end(serialize.end());
  expect(r.messages.map((m) => m.type)).toEqual(['ParseComplete', 'BindComplete', 'DataRow', 'DataRow', 'ErrorResponse', 'ReadyForQuery']);
  const detail = await endedSession(join(proxy.dir, STORE_FILE), await sessionOf(query));
  const next = detail.statements.find((s) => s.text === query);
  expect(next?.response).toEqual([]);
  expect(next?.completion).toMatchObject({ rows: 0, commandTag: null, error: { sqlstate: '08006' } });
});

test('an Execute with a row limit is recorded as suspended, as the client got it', async () => {
  const steps = 'SELECT step FROM trace_steps WHERE trace_id = $1 ORDER BY step';
  const socket = await rawLogin(proxy.port, await getToken('reviewer'));
  socket.write(Buffer.concat([serialize.parse({ text: steps }), serialize.bind({ values: [MINE] }), serialize.execute({ rows: 1 }), serialize.sync()]));
  const r = await collect(socket, 15_000, (m) => m.type === 'ReadyForQuery');
  socket.end(serialize.end());
  expect(r.messages.map((m) => m.type)).toEqual(['ParseComplete', 'BindComplete', 'DataRow', 'PortalSuspended', 'ReadyForQuery']);
  const sessionId = await sessionOf(steps);
  const detail = await endedSession(join(proxy.dir, STORE_FILE), sessionId);
  const statement = detail.statements.find((s) => s.text === steps);
  expect(statement?.response.map((e) => e.type)).toEqual(['RowDescription', 'DataRow', 'PortalSuspended']);
  expect(statement?.completion).toMatchObject({ rows: 1, commandTag: null, error: null });
  const replay = await sessionsCli(join(proxy.dir, STORE_FILE), 'replay', sessionId);
  expect(replay.lines).toContain('(portal suspended: more rows remain)');
});
