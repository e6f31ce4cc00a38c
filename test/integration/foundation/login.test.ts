// Login through the proxy: real tokens from the real issuer work; every kind of bad
// token is refused with 28P01 and its reason; startup parameters cannot reach around
// the policy; the upstream session is pinned; an expired token ends the session.
import { afterAll, beforeAll, describe, expect, onTestFinished, test } from 'vitest';
import pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import { WELL_KNOWN_TRACES } from '../../../src/demo/generate.js';
import { BAD_TOKEN_KINDS, getToken, mintToken, mintValid, pgClientConfig, testEnv } from '../../helpers/env.js';
import { startTestProxy, type TestProxy } from '../../helpers/proxy.js';
import { collect, errorOf, password, rawConnect, startup } from '../../helpers/raw-client.js';

let proxy: TestProxy;
beforeAll(async () => {
  proxy = await startTestProxy();
});
afterAll(async () => proxy.close());

async function loginError(token: string): Promise<{ code?: string; message: string }> {
  const client = new pg.Client(proxy.clientConfig(token));
  try {
    await client.connect();
    await client.end();
    return { message: 'connected' };
  } catch (err) {
    return { code: (err as { code?: string }).code, message: (err as Error).message };
  }
}

describe('login', () => {
  test('a real client_credentials token logs in and reads its own trace', async () => {
    const client = await proxy.connect(await getToken('agent-a'));
    const r = await client.query('SELECT trace_id, agent_id FROM traces WHERE trace_id = $1', [WELL_KNOWN_TRACES.agentALow]);
    expect(r.rows).toEqual([{ trace_id: WELL_KNOWN_TRACES.agentALow, agent_id: 'agent-a' }]);
  });

  test.each(BAD_TOKEN_KINDS)('a %s token is refused with 28P01 naming the reason', async (kind) => {
    const err = await loginError(await mintToken(kind));
    expect(err.code).toBe('28P01');
    const reason = {
      expired: /expired/,
      'wrong-audience': /audience/,
      'wrong-issuer': /issuer/,
      'unknown-kid': /unknown-key|key/,
      'alg-none': /algorithm|malformed|signature/,
      'hs256-public-key': /algorithm|signature/,
      'bad-signature': /signature/,
      'not-yet-valid': /not-yet-valid|not yet valid/,
    }[kind];
    expect(err.message).toMatch(reason);
  });

  test('garbage and empty passwords are refused with 28P01', async () => {
    expect((await loginError('not-a-jwt')).code).toBe('28P01');
    const socket = await rawConnect(proxy.port);
    socket.write(startup({ user: 'agent', database: 'traces' }));
    await collect(socket, 2000, (m) => m.type === 'AuthenticationCleartextPassword');
    socket.write(password(''));
    const r = await collect(socket);
    expect(errorOf(r)?.code).toBe('28P01');
    expect(r.closed).toBe(true);
  });

  test('a caller whose groups match no rule is refused with 28000', async () => {
    const token = await mintValid({ sub: 'stranger', groups: ['marketing'] });
    const err = await loginError(token);
    expect(err.code).toBe('28000');
    expect(err.message).toMatch(/no tracegate rule/);
  });

  test('an empty user name is refused with 28000', async () => {
    const socket = await rawConnect(proxy.port);
    socket.write(startup({ user: '', database: 'traces' }));
    const r = await collect(socket);
    expect(errorOf(r)?.code).toBe('28000');
  });

  test('a replication connection is refused with 0A000', async () => {
    const socket = await rawConnect(proxy.port);
    socket.write(startup({ user: 'agent', database: 'traces', replication: 'database' }));
    const r = await collect(socket);
    expect(errorOf(r)?.code).toBe('0A000');
  });

  test('startup options cannot change upstream settings; the session is pinned', async () => {
    // Monitor mode lets SHOW of every setting through, so this sees the upstream's real
    // values whatever the policy would allow to be read.
    const monitor = await startTestProxy({ mode: 'monitor' });
    onTestFinished(() => monitor.close());
    const client = await monitor.connect(await getToken('agent-a'), {
      options: '-c search_path=pg_catalog -c default_transaction_read_only=off',
      application_name: 'pin-check',
    } as pg.ClientConfig);
    const show = async (name: string): Promise<string> => (await client.query(`SHOW ${name}`)).rows[0][name];
    expect(await show('search_path')).toBe('public');
    expect(await show('default_transaction_read_only')).toBe('on');
    expect(await show('standard_conforming_strings')).toBe('on');
    expect(await show('client_encoding')).toBe('UTF8');
    expect(await show('statement_timeout')).toBe('30s');
    expect(await show('application_name')).toBe('pin-check');
  });

  test("the client sees its own user name and tracegate's backend key, not the upstream's", async () => {
    const socket = await rawConnect(proxy.port);
    socket.write(startup({ user: 'agent-a', database: 'traces' }));
    await collect(socket, 2000, (m) => m.type === 'AuthenticationCleartextPassword');
    socket.write(password(await getToken('agent-a')));
    const r = await collect(socket, 5000, (m) => m.type === 'ReadyForQuery');
    const params = new Map(r.messages.flatMap((m) => (m.type === 'ParameterStatus' ? [[m.name, m.value] as const] : [])));
    expect(params.get('session_authorization')).toBe('agent-a');
    expect([...params.values()].join(' ')).not.toContain(testEnv().pg.proxyUser);
    const key = r.messages.find((m) => m.type === 'BackendKeyData');
    const upstream = new pg.Client(pgClientConfig());
    await upstream.connect();
    const pids = await upstream.query('SELECT pid FROM pg_stat_activity');
    await upstream.end();
    expect(key?.type).toBe('BackendKeyData');
    if (key?.type === 'BackendKeyData') expect(pids.rows.map((row) => row.pid)).not.toContain(key.processId);
    socket.destroy();
  });

  test('a token that expires during the session ends it with FATAL 28000 before the next statement', async () => {
    const token = await mintValid({ sub: 'agent-a', groups: ['ai-agents'] }, { expiresInSeconds: 2 });
    const client = new pg.Client(proxy.clientConfig(token));
    const errors: Error[] = [];
    client.on('error', (e) => errors.push(e));
    await client.connect();
    await client.query('SELECT 1');
    await sleep(2500);
    const err = await client.query('SELECT 1').then(
      () => undefined,
      (e: unknown) => e as { code?: string; message: string },
    );
    expect(err?.code).toBe('28000');
    expect(err?.message).toMatch(/token expired/);
  });
});
