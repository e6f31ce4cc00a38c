// Attacks on the bookkeeping of prepared statements and portals: the decision must be
// taken on exactly what the upstream will run. Postgres keeps the OLD named statement or
// portal when a second one with the same name is sent; if the proxy recorded the new one,
// a harmless text could be decided while the old, more powerful one runs.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { serialize } from 'pg-protocol';
import { WELL_KNOWN_TRACES } from '../../../src/demo/generate.js';
import { getToken } from '../../helpers/env.js';
import { startTestProxy, type TestProxy } from '../../helpers/proxy.js';
import { collect, query, rawLogin } from '../../helpers/raw-client.js';

const THEIRS = WELL_KNOWN_TRACES.agentBLow;
const HIGH = WELL_KNOWN_TRACES.agentAHigh;
const LOW = WELL_KNOWN_TRACES.agentALow;

let proxy: TestProxy;
let token: string;
beforeAll(async () => {
  proxy = await startTestProxy();
  token = await getToken('agent-a');
});
afterAll(async () => proxy.close());

const errorCodes = (messages: { type: string; fields?: { code: string } }[]): string[] =>
  messages.flatMap((m) => (m.type === 'ErrorResponse' && m.fields ? [m.fields.code] : []));

test('re-preparing a named statement with a harmless text cannot run the old one under the new decision', async () => {
  const socket = await rawLogin(proxy.port, token);
  socket.write(Buffer.concat([serialize.parse({ name: 's1', text: 'SELECT * FROM traces WHERE trace_id = $1' }), serialize.sync()]));
  expect((await collect(socket, 3000, (m) => m.type === 'ReadyForQuery')).messages.map((m) => m.type)).toEqual(['ParseComplete', 'ReadyForQuery']);

  socket.write(
    Buffer.concat([
      serialize.parse({ name: 's1', text: 'SELECT $1::text AS harmless' }),
      serialize.sync(),
      serialize.bind({ statement: 's1', values: [THEIRS] }),
      serialize.execute({}),
      serialize.sync(),
    ]),
  );
  const r = await collect(socket, 3000, (m) => m.type === 'ReadyForQuery' && false);
  const codes = errorCodes(r.messages as never);
  expect(codes[0]).toBe('42P05');
  // The Bind is decided on the statement the upstream really holds: another agent's trace.
  expect(codes[1]).toBe('42501');
  expect(r.messages.some((m) => m.type === 'DataRow')).toBe(false);
  socket.destroy();
});

test('re-binding a live named portal cannot skip the approval the old binding needs', async () => {
  const socket = await rawLogin(proxy.port, token);
  socket.write(
    Buffer.concat([
      query('BEGIN'),
      serialize.parse({ name: '', text: 'SELECT trace_id, risk FROM traces WHERE trace_id = $1' }),
      serialize.bind({ portal: 'p1', statement: '', values: [HIGH] }),
      serialize.bind({ portal: 'p1', statement: '', values: [LOW] }),
      serialize.sync(),
    ]),
  );
  const bound = await collect(socket, 3000);
  expect(errorCodes(bound.messages as never)).toEqual(['42P03']);

  // Executing p1 runs the HIGH binding, so it must wait for approval, not return rows.
  socket.write(Buffer.concat([serialize.execute({ portal: 'p1' }), serialize.sync()]));
  const executed = await collect(socket, 1500);
  expect(executed.messages.some((m) => m.type === 'DataRow')).toBe(false);
  expect(executed.messages.some((m) => m.type === 'NoticeResponse' && /approval/.test(m.fields.message))).toBe(true);
  socket.destroy();
});
