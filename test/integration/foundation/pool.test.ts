// The upstream connection pool (src/upstream/pool.ts) through the real proxy and on its
// own against the real Postgres: a pooled upstream session is reused by the next
// client only after a reset that leaves nothing of the last client behind; a session
// that is not in a known clean state is closed instead; cancel keys never cross from
// one client to the next; a rotated upstream password retires the connections opened
// with the old one; shutdown closes the idle ones.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import pg from 'pg';
import { serialize } from 'pg-protocol';
import { Parser } from 'pg-protocol/dist/parser.js';
import type { BackendMessage as PgMessage } from 'pg-protocol/dist/messages.js';
import { afterAll, beforeAll, describe, expect, onTestFinished, test } from 'vitest';
import { WELL_KNOWN_TRACES } from '../../../src/demo/generate.js';
import { fileCredential } from '../../../src/upstream/credential.js';
import { UpstreamPool, type UpstreamLease } from '../../../src/upstream/pool.js';
import { getToken, pgClientConfig, testEnv } from '../../helpers/env.js';
import { upstreamLog } from '../../helpers/postgres.js';
import { startTestProxy, type TestProxy } from '../../helpers/proxy.js';
import { RawSession, summarise } from './raw-session.js';

const TRACE = WELL_KNOWN_TRACES.agentALow;
const READ = `SELECT trace_id FROM traces WHERE trace_id = '${TRACE}'`;

let agentToken: string;
beforeAll(async () => {
  agentToken = await getToken('agent-a');
});

async function waitFor(what: string, check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The upstream backend pid that ran the statement carrying `marker` (statement log). */
async function backendPidOf(marker: string): Promise<number> {
  const records = await upstreamLog(testEnv().pg, marker);
  const pid = /\[(\d+)\]/.exec(records[0] ?? '')?.[1];
  if (pid === undefined) throw new Error(`no upstream log entry for ${marker}`);
  return Number(pid);
}

let markers = 0;
/** Runs a trace read tagged with a fresh marker and returns the upstream pid that ran it. */
async function backendPid(session: RawSession): Promise<number> {
  const marker = `pool_marker_${process.pid}_${++markers}_${Date.now()}`;
  const r = await session.simple(`${READ} -- ${marker}`);
  expect(r.error).toBeUndefined();
  return backendPidOf(marker);
}

async function superuser<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client(pgClientConfig());
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

function idleAfterReset(proxy: TestProxy, resets: number): Promise<void> {
  return waitFor('the pool to reset and park the connection', () => {
    const s = proxy.proxy.pool.stats();
    return s.resets >= resets && s.idle >= 1;
  });
}

const SHOW = ['application_name', 'statement_timeout', 'datestyle', 'timezone', 'extra_float_digits', 'bytea_output', 'client_min_messages', 'intervalstyle'];
async function settings(session: RawSession): Promise<Record<string, string | null>> {
  const out: Record<string, string | null> = {};
  for (const name of SHOW) {
    const r = await session.simple(`SHOW ${name}`);
    expect(r.error, name).toBeUndefined();
    out[name] = r.rows[0]?.[0] ?? null;
  }
  return out;
}

describe('through the proxy', () => {
  let proxy: TestProxy;
  beforeAll(async () => {
    proxy = await startTestProxy();
  });
  afterAll(async () => proxy.close());

  test('the next client on the same pooled backend sees nothing the last one left behind', async () => {
    // A first client fixes the baseline a fresh upstream session shows, and leaves its
    // connection in the pool.
    const first = await RawSession.login(proxy.port, agentToken);
    const pid = await backendPid(first);
    const baseline = await settings(first);
    first.send(serialize.end());
    await idleAfterReset(proxy, 1);

    // Client A lands on it and leaves behind everything the policy lets it reach.
    const a = await RawSession.login(proxy.port, agentToken);
    expect(await backendPid(a)).toBe(pid);
    const set = await a.simple(
      "SET application_name = 'leaky-a'; SET statement_timeout = '5s'; SET datestyle = 'SQL, DMY'; SET timezone = 'Asia/Tokyo'; " +
        "SET extra_float_digits = 1; SET bytea_output = 'escape'; SET client_min_messages = 'error'; SET intervalstyle = 'iso_8601'",
    );
    expect(set.error).toBeUndefined();
    expect((await settings(a))['application_name']).toBe('leaky-a');
    // A named prepared statement outside any transaction (it would survive a Sync)...
    a.send(serialize.parse({ name: 'leak_stmt', text: 'SELECT trace_id FROM traces WHERE trace_id = $1', types: [] }), serialize.sync());
    expect(summarise(await a.untilReady()).error).toBeUndefined();
    // ...then a transaction left open on disconnect, holding a half-read named portal.
    expect((await a.simple('BEGIN')).status).toBe('T');
    a.send(
      serialize.bind({ portal: 'leak_portal', statement: 'leak_stmt', values: [TRACE] }),
      serialize.execute({ portal: 'leak_portal', rows: 1 }),
      serialize.sync(),
    );
    const open = await a.untilReady();
    expect(open.map((m) => m.type)).toContain('PortalSuspended');
    expect(summarise(open).status).toBe('T');
    // The transaction holds a lock on traces while it is open.
    expect(await superuser(async (c) => (await c.query('SELECT count(*)::int AS n FROM pg_locks WHERE pid = $1 AND locktype = $2', [pid, 'relation'])).rows[0].n)).toBeGreaterThan(0);
    a.drop();
    await idleAfterReset(proxy, 2);

    // Privileged, direct: the pooled backend is idle outside any transaction, holds no
    // lock, and reports the startup settings again.
    const direct = await superuser(async (c) => {
      const activity = await c.query('SELECT state, xact_start, backend_xid, application_name FROM pg_stat_activity WHERE pid = $1', [pid]);
      const locks = await c.query("SELECT count(*)::int AS n FROM pg_locks WHERE pid = $1 AND locktype <> 'virtualxid'", [pid]);
      return { activity: activity.rows[0], locks: locks.rows[0].n as number };
    });
    expect(direct.activity).toMatchObject({ state: 'idle', xact_start: null, backend_xid: null, application_name: '' });
    expect(direct.locks).toBe(0);

    // Client B, through the proxy, on the same backend.
    const reusedBefore = proxy.proxy.pool.stats().reused;
    const b = await RawSession.login(proxy.port, agentToken);
    expect(proxy.proxy.pool.stats().reused).toBe(reusedBefore + 1);
    expect(await backendPid(b)).toBe(pid);
    expect(await settings(b)).toEqual(baseline);
    // The names A used are free upstream: Postgres refuses a Parse of an existing
    // statement name (42P05) and a Bind of an open portal name (42P03).
    expect((await b.simple('BEGIN')).status).toBe('T');
    b.send(
      serialize.parse({ name: 'leak_stmt', text: 'SELECT trace_id FROM traces WHERE trace_id = $1', types: [] }),
      serialize.bind({ portal: 'leak_portal', statement: 'leak_stmt', values: [TRACE] }),
      serialize.execute({ portal: 'leak_portal', rows: 0 }),
      serialize.sync(),
    );
    const reused = summarise(await b.untilReady());
    expect(reused.error).toBeUndefined();
    expect(reused.rows).toEqual([[TRACE]]);
    expect((await b.simple('COMMIT')).status).toBe('I');
    b.send(serialize.end());
  });

  test('a client that leaves mid-batch or mid-statement leaves its backend to be closed, not reused', async () => {
    const monitor = await startTestProxy({ mode: 'monitor' });
    onTestFinished(() => monitor.close());
    const stats = (): ReturnType<TestProxy['proxy']['pool']['stats']> => monitor.proxy.pool.stats();

    // Extended-protocol messages answered but never followed by a Sync.
    const a = await RawSession.login(monitor.port, agentToken);
    const pidA = await backendPid(a);
    a.send(serialize.parse({ name: 'half', text: READ, types: [] }), serialize.flush());
    await a.until((m) => m.type === 'ParseComplete');
    a.drop();
    await waitFor('the half-synced connection to be closed', () => (stats().discarded['unsettled'] ?? 0) >= 1);
    await waitFor('its backend to exit', async () => superuser(async (c) => (await c.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pidA])).rowCount === 0));

    // A statement still running when the client goes.
    const b = await RawSession.login(monitor.port, agentToken);
    const pidB = await backendPid(b);
    expect(pidB).not.toBe(pidA);
    b.send(serialize.query('SELECT pg_sleep(30)'));
    await waitFor('the sleep to start', async () =>
      superuser(async (c) => (await c.query("SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND query LIKE 'SELECT pg_sleep%' AND state = 'active'", [pidB])).rowCount === 1),
    );
    b.drop();
    await waitFor('the busy connection to be closed', () => (stats().discarded['unsettled'] ?? 0) >= 2);
    await waitFor('its backend to exit', async () => superuser(async (c) => (await c.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pidB])).rowCount === 0));

    expect(stats().idle).toBe(0);
    expect(stats().reused).toBe(0);
    const c = await RawSession.login(monitor.port, agentToken);
    const pidC = await backendPid(c);
    expect([pidA, pidB]).not.toContain(pidC);
    c.send(serialize.end());
  });

  test("a cancel key of a former client never reaches the next client's statement, and a cancelled backend is not reused", async () => {
    // pg_sleep is denied by the policy, so this runs in monitor mode.
    const monitor = await startTestProxy({ mode: 'monitor' });
    onTestFinished(() => monitor.close());
    const a = await RawSession.login(monitor.port, agentToken);
    const pid = await backendPid(a);
    const formerKey = { processId: a.processId, secretKey: a.secretKey };
    a.send(serialize.end());
    await idleAfterReset(monitor, 1);

    const b = await RawSession.login(monitor.port, agentToken);
    expect(await backendPid(b)).toBe(pid);
    expect([b.processId, b.secretKey]).not.toEqual([formerKey.processId, formerKey.secretKey]);
    b.send(serialize.query('SELECT pg_sleep(1.5) AS slept'));
    await new Promise((r) => setTimeout(r, 300));
    await sendCancel(monitor.port, formerKey.processId, formerKey.secretKey);
    const slept = summarise(await b.untilReady());
    expect(slept.error).toBeUndefined();
    expect(slept.rows).toEqual([['']]);

    // B cancels its own statement: that works, and the backend is not handed on, since a
    // cancel still in flight could hit whatever it runs next.
    b.send(serialize.query('SELECT pg_sleep(30)'));
    await new Promise((r) => setTimeout(r, 300));
    await sendCancel(monitor.port, b.processId, b.secretKey);
    expect(summarise(await b.untilReady()).error?.code).toBe('57014');
    b.send(serialize.end());
    await waitFor('the cancelled connection to be closed', () => (monitor.proxy.pool.stats().discarded['cancelled'] ?? 0) === 1);
    const c = await RawSession.login(monitor.port, agentToken);
    expect(await backendPid(c)).not.toBe(pid);
    c.send(serialize.end());
  });

  test('an idle pooled backend that the server ends is dropped, and the next client gets a working one', async () => {
    const own = await startTestProxy();
    onTestFinished(() => own.close());
    const a = await RawSession.login(own.port, agentToken);
    const pid = await backendPid(a);
    a.send(serialize.end());
    await idleAfterReset(own, 1);
    await superuser((c) => c.query('SELECT pg_terminate_backend($1)', [pid]));
    await waitFor('the pool to drop it', () => own.proxy.pool.stats().idle === 0);
    const b = await RawSession.login(own.port, agentToken);
    expect(await backendPid(b)).not.toBe(pid);
    b.send(serialize.end());
  });

  test('shutdown closes the idle upstream connections', async () => {
    const own = await startTestProxy();
    const a = await RawSession.login(own.port, agentToken);
    const pid = await backendPid(a);
    a.send(serialize.end());
    await idleAfterReset(own, 1);
    await own.close();
    await waitFor('the backend to exit', async () => superuser(async (c) => (await c.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid])).rowCount === 0));
  });
});

function sendCancel(port: number, processId: number, secretKey: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => socket.end(serialize.cancel(processId, secretKey)));
    socket.once('close', () => resolve());
    socket.once('error', reject);
  });
}

describe('the pool against Postgres directly', () => {
  const env = (): ReturnType<typeof testEnv>['pg'] => testEnv().pg;
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tracegate-pool-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const PINS = { options: '-c default_transaction_read_only=on -c statement_timeout=30000 -c search_path=public' };

  function poolFor(user: string, passwordFile: string, password: string): UpstreamPool {
    const { host, port, database } = env();
    const endpoint = { host, port, tls: { mode: 'disable' as const }, connectTimeoutMs: 5_000 };
    return new UpstreamPool(
      { endpoint, database, user, credential: fileCredential(passwordFile, password, Date.now, 0) },
      { maxIdle: 4, idleTimeoutMs: 60_000, maxLifetimeMs: 60_000 },
      Date.now,
    );
  }

  function proxyRolePool(): UpstreamPool {
    const file = join(dir, `pw-${++markers}`);
    writeFileSync(file, env().proxyPassword);
    return poolFor(env().proxyUser, file, env().proxyPassword);
  }

  test('the reset also undoes what the policy never lets a client do', async () => {
    const pool = proxyRolePool();
    const role = `tg_pool_role_${process.pid}`;
    await superuser(async (c) => {
      await c.query(`CREATE ROLE ${role} NOLOGIN`);
      await c.query(`GRANT ${role} TO ${env().proxyUser}`);
    });
    onTestFinished(async () => {
      await pool.close();
      await superuser((c) => c.query(`DROP ROLE ${role}`));
    });

    const first = await pool.acquire(PINS);
    const pid = first.connection.processId;
    const leftover = [
      `SET ROLE ${role}`,
      "SET search_path = pg_catalog",
      'SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE',
      'SET statement_timeout = 0',
      "SELECT set_config('tracegate_test.leak', 'a', false)",
      'CREATE TEMP TABLE leak_temp (x int)',
      'SELECT pg_advisory_lock(4242)',
      'LISTEN leak_channel',
      'PREPARE leak_prepared AS SELECT 1',
      'BEGIN',
      'DECLARE leak_cursor CURSOR WITH HOLD FOR SELECT 1',
      'COMMIT',
      'SELECT setseed(0.42)',
    ];
    for (const sql of leftover) expect((await rawQuery(first, sql)).error, sql).toBeUndefined();
    first.release('I');
    await waitFor('the reset', () => pool.stats().idle === 1);

    const second = await pool.acquire(PINS);
    expect(second.connection.processId).toBe(pid);
    expect(second.reused).toBe(true);
    const show = async (sql: string): Promise<string | null | undefined> => (await rawQuery(second, sql)).rows[0]?.[0];
    expect(await show('SELECT current_user')).toBe(env().proxyUser);
    expect(await show('SHOW search_path')).toBe('public');
    expect(await show('SHOW default_transaction_read_only')).toBe('on');
    expect(await show('SHOW statement_timeout')).toBe('30s');
    expect(await show("SELECT coalesce(current_setting('tracegate_test.leak', true), '')")).toBe('');
    expect(await show("SELECT count(*)::text FROM pg_class WHERE relname = 'leak_temp' AND relpersistence = 't' AND pg_table_is_visible(oid)")).toBe('0');
    expect(await show("SELECT count(*)::text FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'advisory'")).toBe('0');
    expect(await show('SELECT count(*)::text FROM pg_listening_channels()')).toBe('0');
    expect(await show('SELECT count(*)::text FROM pg_prepared_statements')).toBe('0');
    expect(await show('SELECT count(*)::text FROM pg_cursors')).toBe('0');
    // What random() gives right after setseed(0.42): the last client chose it.
    const seeded = await superuser(async (c) => {
      await c.query('SELECT setseed(0.42)');
      return (await c.query<{ r: string }>('SELECT random()::text AS r')).rows[0]?.r;
    });
    expect(seeded).toMatch(/^0\./);
    expect(await show('SELECT random()::text')).not.toBe(seeded);
    second.release('I');
  });

  test('a connection whose reset meets anything unexpected is closed, not reused', async () => {
    const pool = proxyRolePool();
    onTestFinished(() => pool.close());
    const lease = await pool.acquire(PINS);
    const pid = lease.connection.processId;
    // A statement whose answer nobody read: the session is not idle, whatever the
    // caller claims; the reset sees its rows and gives up on the connection.
    lease.connection.socket.write(serialize.query('SELECT 1'));
    lease.release('I');
    await waitFor('the connection to be closed', () => (pool.stats().discarded['reset-failed'] ?? 0) === 1);
    expect(pool.stats().idle).toBe(0);
    const next = await pool.acquire(PINS);
    expect(next.reused).toBe(false);
    expect(next.connection.processId).not.toBe(pid);
    next.release(null);
    expect(pool.stats().discarded['unsettled']).toBe(1);
  });

  test('connections opened with a rotated password are closed, not reused', async () => {
    const role = `tg_pool_rotate_${process.pid}`;
    const file = join(dir, 'rotating-password');
    writeFileSync(file, 'first-password\n');
    await superuser((c) => c.query(`CREATE ROLE ${role} LOGIN PASSWORD 'first-password'`));
    const pool = poolFor(role, file, 'first-password');
    onTestFinished(async () => {
      await pool.close();
      await superuser((c) => c.query(`DROP ROLE ${role}`));
    });
    const first = await pool.acquire(PINS);
    const pid = first.connection.processId;
    first.release('I');
    await waitFor('the reset', () => pool.stats().idle === 1);

    // A different size, so the change shows even within one mtime tick.
    writeFileSync(file, 'second-password-rotated\n');
    await superuser((c) => c.query(`ALTER ROLE ${role} PASSWORD 'second-password-rotated'`));
    const second = await pool.acquire(PINS);
    expect(second.reused).toBe(false);
    expect(second.connection.processId).not.toBe(pid);
    expect(pool.stats().discarded['credential-rotated']).toBe(1);
    expect((await rawQuery(second, 'SELECT current_user')).rows[0]?.[0]).toBe(role);
    second.release(null);
  });
});

/** A simple query on a leased upstream socket, read to its ReadyForQuery. */
function rawQuery(lease: UpstreamLease, sql: string): Promise<{ rows: (string | null)[][]; error: string | undefined }> {
  const socket = lease.connection.socket;
  return new Promise((resolve) => {
    const parser = new Parser();
    const rows: (string | null)[][] = [];
    let error: string | undefined;
    const onData = (chunk: Buffer): void =>
      parser.parse(chunk, (msg: PgMessage) => {
        const m = msg as PgMessage & { fields?: unknown[]; message?: string };
        if (msg.name === 'dataRow') rows.push((m.fields ?? []) as (string | null)[]);
        if (msg.name === 'error') error = m.message;
        if (msg.name === 'readyForQuery') {
          socket.off('data', onData);
          socket.pause();
          resolve({ rows, error });
        }
      });
    socket.on('data', onData);
    socket.write(serialize.query(sql));
    socket.resume();
  });
}
