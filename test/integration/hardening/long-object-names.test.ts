// Postgres keys prepared statements and portals in hash tables whose keys are
// NAMEDATALEN (64) bytes: a name is compared on its first 63 bytes only (dynahash's
// string_compare is strncmp(a, b, keysize - 1)). Two names that share their first 63
// bytes are ONE statement (or portal) to the upstream, and two to a proxy that keys its
// own map by the whole name. The proxy then decides a Bind on the text it recorded
// for one name while the upstream runs the text it holds under the other.
import { serialize } from 'pg-protocol';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { WELL_KNOWN_TRACES } from '../../../src/demo/generate.js';
import { getToken, withSuperuser } from '../../helpers/env.js';
import { startTestProxy, type TestProxy } from '../../helpers/proxy.js';
import { collect, rawLogin } from '../../helpers/raw-client.js';

const THEIRS = WELL_KNOWN_TRACES.agentBLow;

let proxy: TestProxy;
let token: string;
beforeAll(async () => {
  proxy = await startTestProxy();
  token = await getToken('agent-a');
});
afterAll(async () => proxy?.close());

type Msg = { type: string; fields?: { code: string; message: string }; values?: (string | null)[] };
const errors = (messages: readonly Msg[]): string[] => messages.flatMap((m) => (m.type === 'ErrorResponse' && m.fields ? [`${m.fields.code} ${m.fields.message}`] : []));
const rows = (messages: readonly Msg[]): string[] =>
  messages.flatMap((m) => (m.type === 'DataRow' ? [JSON.stringify((m as unknown as { fields: (Buffer | null)[] }).fields.map((f) => f?.toString('utf8') ?? null))] : []));

// 63 bytes in common, then one that differs: the same statement to Postgres.
const PREFIX = 's'.repeat(63);
const HARMLESS = `${PREFIX}_harmless`;
const READER = `${PREFIX}_reader`;

test("statement names that differ after byte 63: a housekeeping decision runs another agent's trace read", async () => {
  const theirs = await withSuperuser((db) => db.query(`SELECT count(*)::int AS n FROM trace_steps WHERE trace_id = $1`, [THEIRS]));
  expect(theirs.rows[0]?.n).toBeGreaterThan(0);

  const socket = await rawLogin(proxy.port, token);
  socket.write(
    Buffer.concat([
      // The proxy records HARMLESS as a text that reads no trace; so does the upstream.
      serialize.parse({ name: HARMLESS, text: 'SELECT $1::text AS harmless' }),
      // A statement the proxy has never seen: closing it is a no-op to the proxy, but the
      // upstream closes HARMLESS (the same first 63 bytes).
      serialize.close({ type: 'S', name: READER }),
      // Allowed at Parse (the pin is a parameter; entitlement is decided at Bind), and the
      // upstream stores it under the shared name.
      serialize.parse({ name: READER, text: 'SELECT trace_id, step FROM trace_steps WHERE trace_id = $1' }),
      serialize.sync(),
    ]),
  );
  const prepared = await collect(socket, 3000, (m) => m.type === 'ReadyForQuery');
  expect(errors(prepared.messages as never)).toEqual([]);

  // Bound through HARMLESS with another agent's trace id: the proxy decides
  // `SELECT $1::text` (no trace, no grant); the upstream runs the trace read.
  socket.write(Buffer.concat([serialize.bind({ statement: HARMLESS, values: [THEIRS] }), serialize.execute({}), serialize.sync()]));
  const r = await collect(socket, 3000, (m) => m.type === 'ReadyForQuery');
  socket.destroy();
  const got = rows(r.messages as never);
  // Without the fix: agent-b's steps, [["tr_000004","0"], ...], under a housekeeping decision.
  expect(got.filter((row) => row.includes(THEIRS)), JSON.stringify(got)).toEqual([]);
  expect(errors(r.messages as never).join('\n')).toMatch(/^42501|^26000/);
});

test('portal names that differ after byte 63: executing a low-risk portal runs a high-risk binding without approval', async () => {
  const HIGH = WELL_KNOWN_TRACES.agentAHigh;
  const LOW = WELL_KNOWN_TRACES.agentALow;
  const LOW_PORTAL = `${'p'.repeat(63)}_low`;
  const HIGH_PORTAL = `${'p'.repeat(63)}_high`;
  const socket = await rawLogin(proxy.port, token);
  socket.write(
    Buffer.concat([
      serialize.query('BEGIN'),
      serialize.parse({ name: '', text: 'SELECT trace_id, risk FROM traces WHERE trace_id = $1' }),
      // Allowed outright: agent-a's own low-risk trace.
      serialize.bind({ portal: LOW_PORTAL, statement: '', values: [LOW] }),
      // Unknown to the proxy; the upstream closes LOW_PORTAL (same first 63 bytes).
      serialize.close({ type: 'P', name: HIGH_PORTAL }),
      // The high-risk trace: a Bind that needs approval is bound (approval is asked at
      // Execute), and the upstream now holds it under the shared name.
      serialize.bind({ portal: HIGH_PORTAL, statement: '', values: [HIGH] }),
      serialize.sync(),
    ]),
  );
  let ready = 0;
  const bound = await collect(socket, 3000, (m) => m.type === 'ReadyForQuery' && ++ready === 2);
  expect(errors(bound.messages as never)).toEqual([]);

  // Executing LOW_PORTAL is decided as the low-risk read; the upstream runs the HIGH one.
  socket.write(Buffer.concat([serialize.execute({ portal: LOW_PORTAL }), serialize.sync()]));
  const r = await collect(socket, 2000, (m) => m.type === 'ReadyForQuery');
  socket.destroy();
  const got = rows(r.messages as never);
  // Without the fix: [["tr_000003","high"]], returned with no approval asked.
  expect(got.filter((row) => row.includes(HIGH)), JSON.stringify(got)).toEqual([]);
});
