// The relay with real clients over real sockets: node-postgres (simple and extended
// protocol, named prepared statements, binary results), postgres.js (pipelining), psql
// as a real process; large results, many concurrent clients, cancel, and malformed
// frames that must not hurt a parallel session.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, onTestFinished, test } from 'vitest';
import pg from 'pg';
import postgres from 'postgres';
import { traceId, WELL_KNOWN_TRACES } from '../../../src/demo/generate.js';
import { getToken, pgClientConfig } from '../../helpers/env.js';
import { startTestProxy, type TestProxy } from '../../helpers/proxy.js';
import { collect, errorOf, frame, query, rawLogin } from '../../helpers/raw-client.js';

const run = promisify(execFile);
const TRACE = WELL_KNOWN_TRACES.agentALow;

let proxy: TestProxy;
let agentToken: string;
let reviewerToken: string;
beforeAll(async () => {
  proxy = await startTestProxy();
  agentToken = await getToken('agent-a');
  reviewerToken = await getToken('reviewer');
});
afterAll(async () => proxy.close());

describe('node-postgres', () => {
  test('simple protocol', async () => {
    const client = await proxy.connect(agentToken);
    const r = await client.query(`SELECT trace_id, risk FROM traces WHERE trace_id = '${TRACE}'`);
    expect(r.rows).toEqual([{ trace_id: TRACE, risk: 'low' }]);
  });

  test('extended protocol with parameters and a named prepared statement reused', async () => {
    const client = await proxy.connect(agentToken);
    const q = { name: 'steps-of-trace', text: 'SELECT step, role FROM trace_steps WHERE trace_id = $1 ORDER BY step' };
    const first = await client.query({ ...q, values: [TRACE] });
    const second = await client.query({ ...q, values: [TRACE] });
    expect(first.rows.length).toBeGreaterThan(0);
    expect(second.rows).toEqual(first.rows);
  });

  test('binary results arrive byte-identical to a direct connection', async () => {
    const sql = 'SELECT trace_id, created_at, risk FROM traces WHERE trace_id = $1';
    const viaProxy = await proxy.connect(reviewerToken, { binary: true } as pg.ClientConfig);
    const direct = new pg.Client({ ...pgClientConfig(), binary: true } as pg.ClientConfig);
    await direct.connect();
    try {
      const a = await viaProxy.query({ text: sql, values: [TRACE], rowMode: 'array' });
      const b = await direct.query({ text: sql, values: [TRACE], rowMode: 'array' });
      expect(a.fields.map((f) => f.format)).toEqual(['binary', 'binary', 'binary']);
      expect(a.rows).toEqual(b.rows);
    } finally {
      await direct.end();
    }
  });

  test('a 10 MB result arrives intact', async () => {
    // repeat() is not on the policy's allow-list (it is how one asks for a huge value),
    // so this relay test runs in monitor mode.
    const monitor = await startTestProxy({ mode: 'monitor' });
    onTestFinished(() => monitor.close());
    const client = await monitor.connect(reviewerToken);
    const r = await client.query("SELECT repeat(md5(trace_id), 327680) AS big FROM traces WHERE trace_id = $1", [TRACE]);
    const big = r.rows[0].big as string;
    expect(big.length).toBe(32 * 327680);
    const direct = new pg.Client(pgClientConfig());
    await direct.connect();
    const expected = await direct.query('SELECT md5($1) AS h', [TRACE]);
    await direct.end();
    expect(big).toBe((expected.rows[0].h as string).repeat(327680));
  });

  test('50 concurrent clients each get their own results', async () => {
    const ids = Array.from({ length: 50 }, (_, i) => traceId(i + 1));
    const results = await Promise.all(
      ids.map(async (id) => {
        const client = await proxy.connect(reviewerToken);
        const r = await client.query('SELECT trace_id FROM traces WHERE trace_id = $1', [id]);
        await client.end();
        return r.rows[0]?.trace_id as string;
      }),
    );
    expect(results).toEqual(ids);
  });
});

describe('postgres.js', () => {
  test('pipelined queries on one connection come back in order', async () => {
    const sql = postgres({ host: '127.0.0.1', port: proxy.port, user: 'agent', database: 'traces', password: reviewerToken, max: 1, onnotice: () => undefined });
    try {
      const ids = Array.from({ length: 20 }, (_, i) => traceId(i + 100));
      const rows = await Promise.all(ids.map((id) => sql`SELECT trace_id FROM traces WHERE trace_id = ${id}`));
      expect(rows.map((r) => r[0]?.trace_id)).toEqual(ids);
    } finally {
      await sql.end();
    }
  });
});

describe('psql', () => {
  test('psql logs in with the token as PGPASSWORD and reads a trace', async () => {
    const { stdout } = await run(
      'psql',
      ['-X', '-A', '-t', '-h', '127.0.0.1', '-p', String(proxy.port), '-U', 'agent-a', '-d', 'traces', '-c', `SELECT trace_id, agent_id FROM traces WHERE trace_id = '${TRACE}'`],
      { env: { ...process.env, PGPASSWORD: agentToken, PGSSLMODE: 'disable', PGCONNECT_TIMEOUT: '5' } },
    );
    expect(stdout.trim()).toBe(`${TRACE}|agent-a`);
  });
});

describe('cancel', () => {
  test("the client's cancel reaches the right upstream backend", async () => {
    // pg_sleep is denied by the policy, so this runs in monitor mode (decisions
    // recorded, not enforced), which is what lets a sleep reach the upstream.
    const monitor = await startTestProxy({ mode: 'monitor' });
    try {
      const client = await monitor.connect(agentToken);
      const other = await monitor.connect(agentToken);
      const started = Date.now();
      const sleeping = client.query('SELECT pg_sleep(20)').then(
        () => undefined,
        (e: unknown) => e as { code?: string },
      );
      const otherSleep = other.query('SELECT pg_sleep(1.5) AS slept');
      await new Promise((r) => setTimeout(r, 300));
      const cancelClient = new pg.Client(monitor.clientConfig(agentToken));
      // node-postgres cancels by sending a CancelRequest with the key it was given.
      await (client as unknown as { connection: unknown }).connection;
      await new Promise<void>((resolve) => {
        const con = new (pg as unknown as { Connection: new () => pg.Connection & { cancel(pid: number, key: number): void; connect(port: number, host: string): void } }).Connection();
        con.on('connect', () => {
          con.cancel((client as unknown as { processID: number }).processID, (client as unknown as { secretKey: number }).secretKey);
        });
        con.on('end', () => resolve());
        con.on('error', () => resolve());
        con.connect(monitor.port, '127.0.0.1');
      });
      void cancelClient;
      const err = await sleeping;
      expect(err?.code).toBe('57014');
      expect(Date.now() - started).toBeLessThan(10_000);
      // The other session's statement was not cancelled.
      expect((await otherSleep).rows).toHaveLength(1);
    } finally {
      await monitor.close();
    }
  });
});

describe('malformed input', () => {
  test.each([
    ['a length below 4', Buffer.from([0x51, 0, 0, 0, 2])],
    ['an unknown message type', frame('~', Buffer.from('x\0'))],
    ['a NUL inside a Query string', frame('Q', Buffer.from('SELECT 1\0; DROP TABLE traces\0'))],
    ['CopyData outside COPY', frame('d', Buffer.from('1\t2\n'))],
    ['a length over the cap', Buffer.from([0x51, 0x7f, 0xff, 0xff, 0xff])],
  ])('%s gets 08P01 and a closed connection; a parallel session is unharmed', async (_name, bytes) => {
    const bystander = await proxy.connect(agentToken);
    const socket = await rawLogin(proxy.port, agentToken);
    socket.write(bytes);
    const r = await collect(socket);
    expect(errorOf(r)).toMatchObject({ code: '08P01', severity: 'FATAL' });
    expect(r.closed).toBe(true);
    const ok = await bystander.query('SELECT trace_id FROM traces WHERE trace_id = $1', [TRACE]);
    expect(ok.rows).toHaveLength(1);
  });

  test('a well-formed query after login works on the raw socket', async () => {
    const socket = await rawLogin(proxy.port, agentToken);
    socket.write(query('SELECT 1 AS one'));
    const r = await collect(socket, 3000, (m) => m.type === 'ReadyForQuery');
    expect(r.messages.map((m) => m.type)).toEqual(['RowDescription', 'DataRow', 'CommandComplete', 'ReadyForQuery']);
    socket.destroy();
  });
});
