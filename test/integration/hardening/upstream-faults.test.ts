// Upstream faults against a private Postgres (the shared one is never stopped): a
// restart while sessions are open and a statement runs, a crash-like immediate stop,
// and an upstream that is unreachable, silent or hangs up at login. Clients get a
// FATAL error naming what happened (Postgres's own 57P01 when it ends the backend,
// tracegate's 08006 when the connection just drops, 08001 when it cannot connect),
// no grant is left behind, and new sessions work as soon as Postgres is back.
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { WELL_KNOWN_TRACES } from '../../../src/demo/generate.js';
import { getToken } from '../../helpers/env.js';
import { loadDemoDatabase, startPostgres, type RunningPostgres } from '../../helpers/postgres.js';
import { pgCtlFor, startHardenedProxy, stopPrivatePostgres, type UpstreamSpec } from './harness.js';

type PgError = Error & { code?: string; severity?: string };

let server: RunningPostgres;
let pgCtl: Awaited<ReturnType<typeof pgCtlFor>>;
let upstream: UpstreamSpec;
let reviewer: string;

beforeAll(async () => {
  server = await startPostgres();
  const demo = await loadDemoDatabase(server, { traces: 50 });
  pgCtl = await pgCtlFor(server);
  upstream = { host: server.host, port: server.port, database: demo.database, user: demo.proxyUser, password: demo.proxyPassword };
  reviewer = await getToken('reviewer');
});
afterAll(async () => {
  if (server) await stopPrivatePostgres(server, pgCtl);
});

async function connect(port: number): Promise<{ client: pg.Client; errors: PgError[] }> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'reviewer', database: 'traces', password: reviewer });
  const errors: PgError[] = [];
  client.on('error', (e) => errors.push(e));
  await client.connect();
  return { client, errors };
}

async function loginError(port: number): Promise<PgError> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'reviewer', database: 'traces', password: reviewer });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    return err as PgError;
  }
  await client.end();
  throw new Error('login unexpectedly succeeded');
}

async function waitFor(check: () => boolean, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await sleep(50);
  }
}

const TRACE = WELL_KNOWN_TRACES.agentALow;
// A few seconds of upstream work on one trace: the statement in flight at the fault.
const LONG = `SELECT count(*) AS n FROM trace_steps s, generate_series(1, 50000000) g WHERE s.trace_id = '${TRACE}'`;

describe('upstream restart mid-session', () => {
  test.each([
    ['a fast shutdown', 'fast'],
    ['an immediate (crash-like) shutdown', 'immediate'],
  ])('%s: open sessions get a FATAL error, logins meanwhile get 08001, new sessions work once it is back', async (_name, mode) => {
    await using h = await startHardenedProxy({ upstream, connectTimeout: '2s' });
    const idle = await connect(h.port);
    const busy = await connect(h.port);
    expect((await idle.client.query(`SELECT trace_id FROM traces WHERE trace_id = '${TRACE}'`)).rows).toHaveLength(1);
    const inFlight = busy.client.query(LONG).then(
      () => undefined,
      (e: unknown) => e as PgError,
    );
    await waitFor(() => h.proxy.grants.active().length === 1, 5000);

    await pgCtl(['stop', '-m', mode]);
    const statementError = await inFlight;
    expect(statementError).toBeDefined();
    // Postgres ends its backends with 57P01; when it cannot say so (immediate), the
    // connection just drops and tracegate reports 08006.
    expect(['57P01', '08006']).toContain(statementError?.code);
    await waitFor(() => idle.errors.length > 0, 5000);
    expect(['57P01', '08006']).toContain(idle.errors[0]?.code);
    expect(idle.errors[0]?.message).toMatch(/terminating connection|upstream database closed the connection/);
    await waitFor(() => h.proxy.listener.sessions().length === 0, 5000);
    expect(h.proxy.grants.active()).toEqual([]);

    const down = await loginError(h.port);
    expect(down.code).toBe('08001');
    expect(down.severity).toBe('FATAL');
    expect(down.message).toBe('upstream database is unavailable');

    await pgCtl(['start']);
    const after = await connect(h.port);
    expect((await after.client.query(`SELECT trace_id FROM traces WHERE trace_id = '${TRACE}'`)).rows).toEqual([{ trace_id: TRACE }]);
    await after.client.end();
  }, 90_000);
});

describe('upstream unreachable at login', () => {
  async function listening(onConnection: (s: net.Socket) => void): Promise<{ port: number; close(): Promise<void> }> {
    const sockets = new Set<net.Socket>();
    const srv = net.createServer((s) => {
      sockets.add(s);
      s.on('error', () => undefined);
      onConnection(s);
    });
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    return {
      port: (srv.address() as net.AddressInfo).port,
      close: async () => {
        for (const s of sockets) s.destroy();
        await new Promise<void>((resolve) => srv.close(() => resolve()));
      },
    };
  }

  test('nothing listening: 08001 at once, and the failed logins hold no subject slot', async () => {
    const gone = await listening(() => undefined);
    await gone.close();
    await using h = await startHardenedProxy({ upstream: { ...upstream, port: gone.port }, limits: ['maxSessionsPerSubject: 1'] });
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      const err = await loginError(h.port);
      expect(err).toMatchObject({ code: '08001', severity: 'FATAL', message: 'upstream database is unavailable' });
      expect(performance.now() - started).toBeLessThan(3000);
    }
  });

  test('accepting but silent: 08001 after upstream.connectTimeout', async () => {
    const silent = await listening(() => undefined);
    try {
      await using h = await startHardenedProxy({ upstream: { ...upstream, port: silent.port }, connectTimeout: '1s' });
      const started = performance.now();
      const err = await loginError(h.port);
      expect(err).toMatchObject({ code: '08001', severity: 'FATAL', message: 'upstream database is unavailable' });
      expect(performance.now() - started).toBeGreaterThan(800);
      expect(performance.now() - started).toBeLessThan(8000);
    } finally {
      await silent.close();
    }
  });

  test('hanging up during the upstream login: 08006', async () => {
    const rude = await listening((s) => s.once('data', () => s.destroy()));
    try {
      await using h = await startHardenedProxy({ upstream: { ...upstream, port: rude.port } });
      const err = await loginError(h.port);
      expect(err).toMatchObject({ code: '08006', severity: 'FATAL', message: 'upstream database closed the connection during login' });
    } finally {
      await rude.close();
    }
  });
});
