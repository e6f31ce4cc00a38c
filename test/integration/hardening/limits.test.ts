// Connection and time limits against a real tracegate, over real sockets: the total
// connection cap (53300, before a byte is read), the per-address and per-subject caps,
// the login deadline against a client that trickles its bytes, and the idle-session
// timeout (57P05 outside a transaction, 25P03 inside one, never while a statement runs).
import { spawn } from 'node:child_process';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { beforeAll, describe, expect, test } from 'vitest';
import { WELL_KNOWN_TRACES } from '../../../src/demo/generate.js';
import { getToken } from '../../helpers/env.js';
import { collect, errorOf, password, rawConnect, rawLogin, startup } from '../../helpers/raw-client.js';
import { startHardenedProxy } from './harness.js';

let agentA: string;
let agentB: string;
let reviewer: string;
beforeAll(async () => {
  [agentA, agentB, reviewer] = await Promise.all([getToken('agent-a'), getToken('agent-b'), getToken('reviewer')]);
});

function connectFrom(port: number, localAddress: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress }, () => resolve(socket));
    socket.once('error', reject);
  });
}

async function login(port: number, token: string): Promise<pg.Client> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'agent', database: 'traces', password: token });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

function loginError(port: number, token: string): Promise<{ code?: string; message: string; severity?: string }> {
  return login(port, token).then(
    async (c) => {
      await c.end();
      throw new Error('login unexpectedly succeeded');
    },
    (err: unknown) => err as { code?: string; message: string; severity?: string },
  );
}

describe('maxConnections', () => {
  test('the connection over the cap gets FATAL 53300 before sending a byte; a freed slot is usable again', async () => {
    await using h = await startHardenedProxy({ limits: ['maxConnections: 3'] });
    const held = await Promise.all([1, 2, 3].map(() => rawConnect(h.port)));
    await sleep(100);
    const over = await rawConnect(h.port);
    const r = await collect(over, 3000);
    expect(errorOf(r)).toMatchObject({ code: '53300', severity: 'FATAL', message: 'sorry, too many clients already' });
    expect(r.closed).toBe(true);

    held[0]?.destroy();
    await sleep(200);
    const client = await login(h.port, agentA);
    expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await client.end();
    for (const s of held) s.destroy();
  });

  test('a refused client that never closes its side is disconnected anyway', async () => {
    await using h = await startHardenedProxy({ limits: ['maxConnections: 1'] });
    const holder = await rawConnect(h.port);
    await sleep(100);
    // Half-open: it takes the refusal's FIN without ever closing its own side.
    const stubborn = await new Promise<net.Socket>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: h.port, allowHalfOpen: true }, () => resolve(s));
    });
    const r = await collect(stubborn, 3000, (m) => m.type === 'ErrorResponse');
    expect(errorOf(r)?.code).toBe('53300');
    await sleep(2000);
    // Had the proxy kept its socket, these bytes would sit in its receive buffer; as it
    // has let go, the kernel answers the first with a reset and the second fails.
    const gone = new Promise<boolean>((resolve) => {
      stubborn.once('close', () => resolve(true));
      setTimeout(() => resolve(false), 3000);
    });
    stubborn.on('error', () => undefined);
    stubborn.write(Buffer.alloc(64));
    await sleep(300);
    stubborn.write(Buffer.alloc(64));
    expect(await gone).toBe(true);
    holder.destroy();
  });

  test('clients that reset before the proxy refuses them do not crash it', async () => {
    await using h = await startHardenedProxy({ limits: ['maxConnections: 1'] });
    const holder = await rawConnect(h.port);
    await sleep(100);
    // Another process connects and resets 30 times while this one (the proxy's) is
    // busy, so the proxy only gets to its refusals after the peers are gone: writing
    // them then fails with ECONNRESET, which must not be an unhandled 'error'.
    const child = spawn(
      process.execPath,
      ['-e', `const net = require('node:net'); let n = 0;
        for (let i = 0; i < 30; i++) {
          const s = net.connect(${h.port}, '127.0.0.1', () => { s.resetAndDestroy(); if (++n === 30) process.exit(0); });
          s.on('error', () => { if (++n === 30) process.exit(0); });
        }`],
      { stdio: 'ignore' },
    );
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const until = Date.now() + 2500;
    while (Date.now() < until) {
      // busy on purpose: the accept callbacks queue up behind this loop
    }
    await exited;
    await sleep(500);
    holder.destroy();
    await sleep(200);
    const client = await login(h.port, agentA);
    expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await client.end();
  });
});

describe('maxConnectionsPerAddress', () => {
  test('a third connection from one address gets 53300 while another address still gets in', async () => {
    await using h = await startHardenedProxy({ limits: ['maxConnectionsPerAddress: 2'] });
    const first = await Promise.all([connectFrom(h.port, '127.0.0.1'), connectFrom(h.port, '127.0.0.1')]);
    await sleep(100);
    const third = await connectFrom(h.port, '127.0.0.1');
    const r = await collect(third, 3000);
    expect(errorOf(r)).toMatchObject({ code: '53300', severity: 'FATAL' });
    expect(errorOf(r)?.message).toMatch(/too many connections from this client address/);
    expect(r.closed).toBe(true);

    // Linux routes all of 127/8 to loopback: 127.0.0.2 is another client address.
    const other = await connectFrom(h.port, '127.0.0.2');
    other.write(startup({ user: 'agent', database: 'traces' }));
    const ok = await collect(other, 3000, (m) => m.type === 'AuthenticationCleartextPassword');
    expect(ok.messages.map((m) => m.type)).toEqual(['AuthenticationCleartextPassword']);
    other.destroy();

    // Closing one frees its slot for the same address.
    first[0]?.destroy();
    await sleep(200);
    const again = await connectFrom(h.port, '127.0.0.1');
    again.write(startup({ user: 'agent', database: 'traces' }));
    const ok2 = await collect(again, 3000, (m) => m.type === 'AuthenticationCleartextPassword');
    expect(errorOf(ok2)).toBeUndefined();
    for (const s of [...first, again]) s.destroy();
  });
});

describe('maxSessionsPerSubject', () => {
  test('a third session of one subject gets FATAL 53300; other subjects are unaffected; slots come back', async () => {
    await using h = await startHardenedProxy({ limits: ['maxSessionsPerSubject: 2'] });
    const a1 = await login(h.port, agentA);
    const a2 = await login(h.port, agentA);
    const err = await loginError(h.port, agentA);
    expect(err.code).toBe('53300');
    expect(err.severity).toBe('FATAL');
    expect(err.message).toContain('too many sessions for subject "agent-a"');

    const b = await login(h.port, agentB);
    const own = await b.query('SELECT trace_id FROM traces WHERE trace_id = $1', [WELL_KNOWN_TRACES.agentBLow]);
    expect(own.rows).toHaveLength(1);

    // Refused logins hold no slot, and an ended session gives its slot back.
    await a1.end();
    await sleep(200);
    const a3 = await login(h.port, agentA);
    expect((await a3.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    for (const c of [a2, a3, b]) await c.end();
  });

  test('concurrent logins of one subject cannot overshoot the limit', async () => {
    await using h = await startHardenedProxy({ limits: ['maxSessionsPerSubject: 3'] });
    const attempts = await Promise.allSettled(Array.from({ length: 12 }, () => login(h.port, agentA)));
    const ok = attempts.filter((a): a is PromiseFulfilledResult<pg.Client> => a.status === 'fulfilled');
    const refused = attempts.filter((a): a is PromiseRejectedResult => a.status === 'rejected');
    expect(ok).toHaveLength(3);
    expect(refused.map((r) => (r.reason as { code?: string }).code)).toEqual(Array(9).fill('53300'));
    for (const c of ok) await c.value.end();
  });
});

describe('loginTimeout', () => {
  test('a client that sends one byte a second is dropped at the login deadline with 08P01', async () => {
    await using h = await startHardenedProxy({ limits: ['loginTimeout: 2s'] });
    const socket = await rawConnect(h.port);
    const bytes = startup({ user: 'agent', database: 'traces' });
    const result = collect(socket, 15_000);
    const started = performance.now();
    let sent = 0;
    const trickle = setInterval(() => {
      if (socket.destroyed || sent >= bytes.length) return;
      socket.write(bytes.subarray(sent, sent + 1), () => undefined);
      sent++;
    }, 1000);
    const r = await result;
    clearInterval(trickle);
    const elapsed = performance.now() - started;
    expect(errorOf(r)).toMatchObject({ code: '08P01', severity: 'FATAL', message: 'login timed out' });
    expect(r.closed).toBe(true);
    expect(elapsed).toBeGreaterThan(1500);
    expect(elapsed).toBeLessThan(8000);
    expect(sent).toBeLessThan(bytes.length);
  });

  test('a client that stalls after the startup packet, before its password, is dropped too', async () => {
    await using h = await startHardenedProxy({ limits: ['loginTimeout: 1s'] });
    const socket = await rawConnect(h.port);
    socket.write(startup({ user: 'agent', database: 'traces' }));
    // Half a password message, then nothing.
    socket.write(password(agentA).subarray(0, 20));
    const r = await collect(socket, 10_000);
    expect(r.messages.map((m) => m.type)).toEqual(['AuthenticationCleartextPassword', 'ErrorResponse']);
    expect(errorOf(r)).toMatchObject({ code: '08P01', message: 'login timed out' });
    expect(r.closed).toBe(true);
    expect(h.proxy.listener.sessions()).toHaveLength(0);
  });
});

describe('idleTimeout', () => {
  test('an idle session ends with FATAL 57P05; one in a transaction with 25P03; as Postgres words them', async () => {
    await using h = await startHardenedProxy({ limits: ['idleTimeout: 1s'] });
    const idle = await rawLogin(h.port, agentA);
    const started = performance.now();
    const r = await collect(idle, 10_000);
    expect(errorOf(r)).toEqual({ code: '57P05', severity: 'FATAL', message: 'terminating connection due to idle-session timeout' });
    expect(r.closed).toBe(true);
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThan(700);
    expect(elapsed).toBeLessThan(6000);

    const inTx = await login(h.port, agentA);
    const ended = new Promise<{ code?: string; message: string }>((resolve) => inTx.once('error', (e) => resolve(e as { code?: string; message: string })));
    await inTx.query('BEGIN');
    const err = await ended;
    expect(err.code).toBe('25P03');
    expect(err.message).toBe('terminating connection due to idle-in-transaction timeout');
  });

  test('a statement running longer than the timeout is not idle, and a client that keeps talking stays', async () => {
    await using h = await startHardenedProxy({ limits: ['idleTimeout: 1s'] });
    const busy = await login(h.port, reviewer);
    // About three seconds of upstream work for one trace, with no traffic meanwhile.
    const r = await busy.query(
      'SELECT count(*)::int AS n FROM trace_steps s, generate_series(1, 1500000) g WHERE s.trace_id = $1',
      [WELL_KNOWN_TRACES.agentALow],
    );
    expect(r.rows[0]?.n).toBeGreaterThan(0);

    const chatty = await login(h.port, agentA);
    for (let i = 0; i < 8; i++) {
      await sleep(400);
      expect((await chatty.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    }
    await busy.end();
    await chatty.end();
  }, 60_000);

  test('0 disables it', async () => {
    await using h = await startHardenedProxy({ limits: ['idleTimeout: 0'] });
    const client = await login(h.port, agentA);
    await sleep(2500);
    expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await client.end();
  });
});
