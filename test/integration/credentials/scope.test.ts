// What a session opened with a one-time credential may do: housekeeping, and ONE read of
// its trace. Another trace is refused with 42501 before anything reaches the upstream;
// a second read is refused however it is sent (after the first, pipelined behind it as
// simple queries, or as a second portal in the same extended-protocol batch); monitor
// mode does not relax any of it.
import { randomUUID } from 'node:crypto';
import type net from 'node:net';
import { serialize } from 'pg-protocol';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { BackendMessage } from '../../../protocol/index.js';
import { WELL_KNOWN_TRACES } from '../../../src/demo/generate.js';
import { getToken, testEnv } from '../../helpers/env.js';
import { upstreamLog } from '../../helpers/postgres.js';
import { startTestProxy, type TestProxy } from '../../helpers/proxy.js';
import { collect, rawConnect } from '../../helpers/raw-client.js';
import { credentialConfig, eventsEventually, issue, queryError, tryConnect, type Issued } from './helpers.js';

const MINE = WELL_KNOWN_TRACES.agentALow;
const ALSO_MINE = WELL_KNOWN_TRACES.agentAHigh;
const THEIRS = WELL_KNOWN_TRACES.agentBLow;
const READ = 'SELECT trace_id FROM traces WHERE trace_id = $1';

let proxy: TestProxy;
let agent: string;
beforeAll(async () => {
  proxy = await startTestProxy({ admin: true });
  agent = await getToken('agent-a');
});
afterAll(async () => proxy.close());

async function session(p: TestProxy, issued: Issued) {
  const c = await tryConnect(credentialConfig(p, issued));
  if (!('client' in c)) throw new Error(`login refused: ${c.error.message}`);
  return c.client;
}

/** A raw-socket login with the credential, for pipelines no driver sends. */
async function rawSession(issued: Issued): Promise<net.Socket> {
  const socket = await rawConnect(proxy.port);
  socket.write(serialize.startup({ user: issued.id, database: 'traces' }));
  await collect(socket, 3000, (m) => m.type === 'AuthenticationCleartextPassword');
  socket.write(serialize.password(issued.credential));
  const r = await collect(socket, 5000, (m) => m.type === 'ReadyForQuery' || m.type === 'ErrorResponse');
  if (r.messages.at(-1)?.type !== 'ReadyForQuery') throw new Error(`login failed: ${JSON.stringify(r.messages.at(-1))}`);
  return socket;
}

function summary(messages: readonly BackendMessage[]): string[] {
  return messages.map((m) => (m.type === 'ErrorResponse' ? `Error ${m.fields.code}` : m.type));
}

describe('one trace', () => {
  test('another trace is refused with 42501 and never reaches the upstream; its own trace still reads', async () => {
    const issued = await issue(proxy, agent, MINE);
    const client = await session(proxy, issued);
    for (const other of [ALSO_MINE, THEIRS, 'tr_does_not_exist']) {
      const marker = `m_${randomUUID().replace(/-/g, '')}`;
      const err = await queryError(client, `SELECT trace_id FROM traces WHERE trace_id = '${other}' /* ${marker} */`);
      expect(err.code).toBe('42501');
      expect(err.message).toContain(`allows a read of trace ${MINE} only`);
      expect(await upstreamLog(testEnv().pg, marker)).toEqual([]);
    }
    // Through a parameter too (the decision completes at Bind).
    expect((await queryError(client, READ, [ALSO_MINE])).code).toBe('42501');
    expect((await client.query(READ, [MINE])).rows).toEqual([{ trace_id: MINE }]);
    await client.end();
  });

  test('statements outside the trace tables are refused as for any session', async () => {
    const issued = await issue(proxy, agent, MINE);
    const client = await session(proxy, issued);
    expect((await queryError(client, 'SELECT email FROM customers')).code).toBe('42501');
    expect((await queryError(client, `SELECT trace_id FROM traces WHERE trace_id = '${MINE}' OR true`)).code).toBe('42501');
    await client.end();
  });
});

describe('one read', () => {
  test('after its read the session refuses further trace reads but keeps housekeeping', async () => {
    const issued = await issue(proxy, agent, MINE);
    const client = await session(proxy, issued);
    await client.query('BEGIN READ ONLY');
    expect((await client.query(`SELECT step FROM trace_steps WHERE trace_id = $1 ORDER BY step LIMIT 1`, [MINE])).rows).toHaveLength(1);
    await client.query('ROLLBACK');
    const err = await queryError(client, READ, [MINE]);
    expect(err.code).toBe('42501');
    expect(err.message).toContain(`one-time credential ${issued.id} allows one read of trace ${MINE}, and it has been made`);
    expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    expect((await client.query('SHOW application_name')).rows).toHaveLength(1);
    await client.end();
    const events = await eventsEventually(proxy, issued.id, (t) => t.includes('spent'));
    expect(events.filter((e) => e.type === 'spent')).toHaveLength(1);
  });

  test('a second simple query pipelined behind the first is refused', async () => {
    const issued = await issue(proxy, agent, MINE);
    const socket = await rawSession(issued);
    const sql = `SELECT trace_id FROM traces WHERE trace_id = '${MINE}'`;
    socket.write(Buffer.concat([serialize.query(sql), serialize.query(sql)]));
    let ready = 0;
    const r = await collect(socket, 5000, (m) => m.type === 'ReadyForQuery' && ++ready === 2);
    expect(summary(r.messages)).toEqual(['RowDescription', 'DataRow', 'CommandComplete', 'ReadyForQuery', 'Error 42501', 'ReadyForQuery']);
    socket.destroy();
  });

  test('two portals in one extended-protocol batch: only the first Execute runs', async () => {
    const issued = await issue(proxy, agent, MINE);
    const socket = await rawSession(issued);
    socket.write(
      Buffer.concat([
        serialize.parse({ name: 's', text: READ, types: [] }),
        serialize.bind({ statement: 's', portal: 'a', values: [MINE] }),
        serialize.bind({ statement: 's', portal: 'b', values: [MINE] }),
        serialize.execute({ portal: 'a' }),
        serialize.execute({ portal: 'b' }),
        serialize.sync(),
      ]),
    );
    const r = await collect(socket, 5000, (m) => m.type === 'ReadyForQuery');
    expect(summary(r.messages)).toEqual(['ParseComplete', 'BindComplete', 'BindComplete', 'DataRow', 'CommandComplete', 'Error 42501', 'ReadyForQuery']);
    socket.destroy();
  });

  test('a multi-statement query reading the trace twice is one read: it runs, and then nothing more', async () => {
    const issued = await issue(proxy, agent, MINE);
    const client = await session(proxy, issued);
    const both = `SELECT trace_id FROM traces WHERE trace_id = '${MINE}'; SELECT count(*)::int AS n FROM trace_steps WHERE trace_id = '${MINE}'`;
    const results = (await client.query(both)) as unknown as { rows: unknown[] }[];
    expect(results).toHaveLength(2);
    expect((await queryError(client, READ, [MINE])).code).toBe('42501');
    await client.end();
  });
});

describe('monitor mode', () => {
  test('does not relax a credential session', async () => {
    const monitor = await startTestProxy({ admin: true, mode: 'monitor' });
    try {
      const issued = await issue(monitor, agent, MINE);
      const client = await session(monitor, issued);
      expect((await queryError(client, READ, [THEIRS])).code).toBe('42501');
      expect((await queryError(client, 'SELECT email FROM customers')).code).toBe('42501');
      expect((await client.query(READ, [MINE])).rows).toHaveLength(1);
      expect((await queryError(client, READ, [MINE])).code).toBe('42501');
      await client.end();
    } finally {
      await monitor.close();
    }
  });
});
