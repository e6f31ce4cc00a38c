// One-time trace credentials end to end with real clients: issued by the admin API,
// used once through node-postgres and psql, then refused (28P01) on every reuse, late
// use and second connection, each refusal recorded as a reuse attempt; the request
// refusal does not tell an unknown trace from someone else's.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { WELL_KNOWN_TRACES } from '../../../src/demo/generate.js';
import { getToken } from '../../helpers/env.js';
import { startTestProxy, type TestProxy } from '../../helpers/proxy.js';
import { api, credentialConfig, credentialEvents, eventsEventually, issue, queryError, tryConnect } from './helpers.js';

const run = promisify(execFile);
const MINE = WELL_KNOWN_TRACES.agentALow;
const THEIRS = WELL_KNOWN_TRACES.agentBLow;

let proxy: TestProxy;
let agent: string;
beforeAll(async () => {
  proxy = await startTestProxy({ admin: true });
  agent = await getToken('agent-a');
});
afterAll(async () => proxy.close());

const READ = 'SELECT trace_id, agent_id FROM traces WHERE trace_id = $1';

describe('issue', () => {
  test('201 with the credential, its id as the user name, the trace, the expiry and a ready psql line and URL', async () => {
    const before = Date.now();
    const { id, credential, json } = await issue(proxy, agent, MINE);
    expect(id).toMatch(/^tgc_[0-9a-f]{20}$/);
    expect(credential).toMatch(new RegExp(`^${id}_[A-Za-z0-9_-]{43}$`));
    expect(json).toMatchObject({ state: 'issued', user: id, trace_id: MINE, rule: 'agents-read-own-traces', approval_id: null });
    // Default 60 s, capped by the rule's grantTtl (30 s for agents in the default policy).
    const life = Date.parse(json.expires_at) - before;
    expect(life).toBeGreaterThan(25_000);
    expect(life).toBeLessThanOrEqual(31_000);
    expect(json.psql).toBe(`PGPASSWORD=${credential} psql "host=127.0.0.1 port=${proxy.port} dbname=${json.url.split('/').pop().split('?')[0]} user=${id} sslmode=disable"`);
    expect(json.url).toMatch(new RegExp(`^postgresql://${id}:${credential}@127\\.0\\.0\\.1:${proxy.port}/[^?]+\\?sslmode=disable$`));
    const events = await credentialEvents(proxy, id);
    expect(events.map((e) => e.type)).toEqual(['requested', 'issued']);
    expect(events[0]?.detail).toMatch(/allowed under rule agents-read-own-traces.*reason given: integration test/);
    // The credential itself is never recorded, only its id.
    expect(JSON.stringify(events)).not.toContain(credential.slice(id.length + 1));
  });

  test('a shorter ttl is honoured; a longer one is capped by the rule', async () => {
    const short = await issue(proxy, agent, MINE, { ttl: 5 });
    expect(Date.parse(short.json.expires_at) - Date.now()).toBeLessThanOrEqual(5_000);
    const long = await issue(proxy, agent, MINE, { ttl: 3600 });
    expect(Date.parse(long.json.expires_at) - Date.now()).toBeLessThanOrEqual(30_000);
  });

  test('an unknown trace and a trace of another agent get the same 403 with the same body', async () => {
    const base = proxy.adminUrl as string;
    const theirs = await api(base, agent, 'POST', '/api/credentials', { trace_id: THEIRS, reason: 'probe' });
    const unknown = await api(base, agent, 'POST', '/api/credentials', { trace_id: 'tr_does_not_exist', reason: 'probe' });
    expect(theirs.status).toBe(403);
    expect(unknown.status).toBe(403);
    expect(theirs.json).toEqual(unknown.json);
    expect(theirs.json).toEqual({ error: 'not-entitled', message: 'the trace does not exist or you are not entitled to read it' });
    // Each refusal is on record, under the id in the header.
    const ref = theirs.headers.get('tracegate-request') as string;
    expect(ref).toMatch(/^tgc_/);
    expect((await credentialEvents(proxy, ref)).map((e) => [e.type, e.traceId])).toEqual([['requested', THEIRS]]);
  });

  test('malformed requests are 400, and a credential is no bearer token for the API', async () => {
    const base = proxy.adminUrl as string;
    expect((await api(base, agent, 'POST', '/api/credentials', { trace_id: MINE })).status).toBe(400);
    expect((await api(base, agent, 'POST', '/api/credentials', { trace_id: MINE, reason: 'x', ttl: 1.5 })).status).toBe(400);
    expect((await api(base, agent, 'POST', '/api/credentials', { trace_id: MINE, reason: 'x', extra: 1 })).status).toBe(400);
    const { credential } = await issue(proxy, agent, MINE);
    expect((await api(base, credential, 'POST', '/api/credentials', { trace_id: MINE, reason: 'x' })).status).toBe(401);
  });

  test('only the requester can look a request up; after the 201 it says delivered, without the credential', async () => {
    const base = proxy.adminUrl as string;
    const { id } = await issue(proxy, agent, MINE);
    const other = await getToken('agent-b');
    expect((await api(base, other, 'GET', `/api/credentials/${id}`)).status).toBe(404);
    const mine = await api(base, agent, 'GET', `/api/credentials/${id}`);
    expect(mine.status).toBe(200);
    expect(mine.json).toMatchObject({ id, state: 'delivered', credential_state: 'issued' });
    expect(mine.json.credential).toBeUndefined();
  });
});

describe('use once', () => {
  test('node-postgres: one read of its trace works; a second login is refused with 28P01 and recorded', async () => {
    const issued = await issue(proxy, agent, MINE);
    const first = await tryConnect(credentialConfig(proxy, issued));
    if (!('client' in first)) throw new Error(`login refused: ${first.error.message}`);
    const rows = await first.client.query(READ, [MINE]);
    expect(rows.rows).toEqual([{ trace_id: MINE, agent_id: 'agent-a' }]);
    await first.client.end();

    const again = await tryConnect(credentialConfig(proxy, issued));
    expect('error' in again && again.error).toMatchObject({ code: '28P01', message: expect.stringMatching(/has been used already/) });
    const events = await eventsEventually(proxy, issued.id, (t) => t.includes('reuse-refused'));
    expect(events.map((e) => e.type)).toEqual(['requested', 'issued', 'redeemed', 'spent', 'reuse-refused']);
    const redeemed = events.find((e) => e.type === 'redeemed');
    expect(redeemed?.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(events.find((e) => e.type === 'spent')).toMatchObject({ sessionId: redeemed?.sessionId, detail: 'its one read completed' });
  });

  test('psql: the ready psql line works once; the same line again is refused', async () => {
    const { json } = await issue(proxy, agent, MINE);
    const conninfo = /psql "(.*)"$/.exec(json.psql)?.[1] as string;
    const psql = (sql: string) =>
      run('psql', ['-X', '-At', conninfo, '-c', sql], { env: { ...process.env, PGPASSWORD: json.credential } }).then(
        (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
        (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
      );
    const ok = await psql(`SELECT trace_id, risk FROM traces WHERE trace_id = '${MINE}'`);
    expect(ok).toMatchObject({ code: 0, stdout: `${MINE}|low\n` });
    const reuse = await psql(`SELECT trace_id, risk FROM traces WHERE trace_id = '${MINE}'`);
    expect(reuse.code).toBe(2);
    expect(reuse.stderr).toMatch(/one-time credential tgc_[0-9a-f]{20} has been used already/);
    const events = await eventsEventually(proxy, json.id, (t) => t.includes('reuse-refused'));
    expect(events.map((e) => e.type)).toContain('reuse-refused');
  });

  test('a leaked copy used from a second connection while the first is open is refused', async () => {
    const issued = await issue(proxy, agent, MINE);
    const first = await tryConnect(credentialConfig(proxy, issued));
    if (!('client' in first)) throw new Error(`login refused: ${first.error.message}`);
    const leaked = await tryConnect(credentialConfig(proxy, issued));
    expect('error' in leaked && leaked.error).toMatchObject({ code: '28P01', message: expect.stringMatching(/in use by another connection/) });
    // The holder is unaffected: its one read still works.
    expect((await first.client.query(READ, [MINE])).rows).toHaveLength(1);
    await first.client.end();
    const events = await eventsEventually(proxy, issued.id, (t) => t.includes('spent'));
    expect(events.map((e) => e.type)).toEqual(['requested', 'issued', 'redeemed', 'reuse-refused', 'spent']);
  });

  test('a credential expires: a login after its expiry is refused with 28P01 and recorded', async () => {
    const issued = await issue(proxy, agent, MINE, { ttl: 1 });
    await sleep(1_100);
    const late = await tryConnect(credentialConfig(proxy, issued));
    expect('error' in late && late.error).toMatchObject({ code: '28P01', message: expect.stringMatching(/has expired/) });
    const events = await credentialEvents(proxy, issued.id);
    expect(events.map((e) => e.type)).toEqual(['requested', 'issued', 'reuse-refused']);
    expect(events[2]?.detail).toMatch(/expired/);
  });

  test('a session opened with it ends when the credential expires, before its next statement', async () => {
    const issued = await issue(proxy, agent, MINE, { ttl: 1 });
    const c = await tryConnect(credentialConfig(proxy, issued));
    if (!('client' in c)) throw new Error(`login refused: ${c.error.message}`);
    await c.client.query('SELECT 1');
    await sleep(1_100);
    expect(await queryError(c.client, READ, [MINE])).toMatchObject({ code: '28000' });
  });

  test('closing the connection without a read spends it', async () => {
    const issued = await issue(proxy, agent, MINE);
    const first = await tryConnect(credentialConfig(proxy, issued));
    if (!('client' in first)) throw new Error(`login refused: ${first.error.message}`);
    await first.client.query('SELECT 1');
    await first.client.end();
    const events = await eventsEventually(proxy, issued.id, (t) => t.includes('spent'));
    expect(events.find((e) => e.type === 'spent')?.detail).toBe('its connection closed');
    const again = await tryConnect(credentialConfig(proxy, issued));
    expect('error' in again && again.error).toMatchObject({ code: '28P01' });
  });

  test('the user name must be the credential id; a wrong one is refused without using it up', async () => {
    const issued = await issue(proxy, agent, MINE);
    const wrong = await tryConnect(proxy.clientConfig(issued.credential, { user: 'agent-a' }));
    expect('error' in wrong && wrong.error).toMatchObject({ code: '28P01', message: expect.stringContaining(`connect with its id ${issued.id} as the user name`) });
    const right = await tryConnect(credentialConfig(proxy, issued));
    if (!('client' in right)) throw new Error(`login refused: ${right.error.message}`);
    expect((await right.client.query(READ, [MINE])).rows).toHaveLength(1);
    await right.client.end();
  });

  test('a forged secret for a real id, and a malformed credential, are refused as unknown', async () => {
    const issued = await issue(proxy, agent, MINE);
    const forged = `${issued.id}_${'A'.repeat(43)}`;
    const refused = await tryConnect(proxy.clientConfig(forged, { user: issued.id }));
    expect('error' in refused && refused.error).toMatchObject({ code: '28P01', message: expect.stringMatching(/not a credential tracegate issued, or its secret is wrong/) });
    const malformed = await tryConnect(proxy.clientConfig('tgc_nonsense', { user: 'tgc_nonsense' }));
    expect('error' in malformed && malformed.error).toMatchObject({ code: '28P01' });
    // Neither touched the real credential.
    const real = await tryConnect(credentialConfig(proxy, issued));
    if (!('client' in real)) throw new Error(`login refused: ${real.error.message}`);
    await real.client.end();
  });
});
