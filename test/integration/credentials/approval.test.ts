// A credential for a high-risk trace: the request is pending (202) until an approver
// consents through the admin API, the long poll hands the credential out exactly once,
// and the session reads the trace once without asking for approval again. Denial is
// final. `tracegate credential` does the same from a terminal, waiting with progress.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { CliIo } from '../../../src/admin/admin-client.js';
import { runCredentialCommand } from '../../../src/cli/credential.js';
import { WELL_KNOWN_TRACES } from '../../../src/demo/generate.js';
import { getToken } from '../../helpers/env.js';
import { startTestProxy, type TestProxy } from '../../helpers/proxy.js';
import { api, credentialConfig, eventsEventually, queryError, tryConnect } from './helpers.js';

const HIGH = WELL_KNOWN_TRACES.agentAHigh;
const LOW = WELL_KNOWN_TRACES.agentALow;
const THEIRS = WELL_KNOWN_TRACES.agentBLow;
const READ = 'SELECT trace_id, risk FROM traces WHERE trace_id = $1';

let proxy: TestProxy;
let base: string;
let agent: string;
let reviewer: string;
beforeAll(async () => {
  proxy = await startTestProxy({ admin: true });
  base = proxy.adminUrl as string;
  [agent, reviewer] = await Promise.all([getToken('agent-a'), getToken('reviewer')]);
});
afterAll(async () => proxy.close());

describe('approval', () => {
  test('202, approve through the API, the credential once, and it works once without a second approval', async () => {
    const pending = await api(base, agent, 'POST', '/api/credentials', { trace_id: HIGH, reason: 'incident 42' });
    expect(pending.status).toBe(202);
    const { id, approval_id: approvalId } = pending.json;
    expect(pending.json).toMatchObject({ state: 'pending', trace_id: HIGH, rule: 'agents-read-own-traces', poll: `/api/credentials/${id}?wait=30` });
    // The approvers see what is asked and why.
    const queued = await api(base, reviewer, 'GET', `/api/approvals/${approvalId}`);
    expect(queued.json.approval).toMatchObject({ traceId: HIGH, requester: { subject: 'agent-a' } });
    expect(queued.json.approval.statement).toContain('reason: incident 42');

    const still = await api(base, agent, 'GET', `/api/credentials/${id}?wait=1`);
    expect(still.status).toBe(202);
    expect(still.json.state).toBe('pending');

    // A long poll returns as soon as the approval lands.
    const started = Date.now();
    const polled = api(base, agent, 'GET', `/api/credentials/${id}?wait=30`);
    expect((await api(base, reviewer, 'POST', `/api/approvals/${approvalId}/approve`, { reason: 'ok' })).status).toBe(200);
    const got = await polled;
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(got.status).toBe(200);
    expect(got.json).toMatchObject({ id, state: 'issued', trace_id: HIGH, approval_id: approvalId, user: id });
    const credential = got.json.credential as string;
    expect(credential.startsWith(`${id}_`)).toBe(true);

    const again = await api(base, agent, 'GET', `/api/credentials/${id}`);
    expect(again.json).toMatchObject({ state: 'delivered', credential_state: 'issued' });
    expect(again.json.credential).toBeUndefined();

    const c = await tryConnect(credentialConfig(proxy, { id, credential }));
    if (!('client' in c)) throw new Error(`login refused: ${c.error.message}`);
    const notices: string[] = [];
    c.client.on('notice', (n) => notices.push(n.message ?? ''));
    expect((await c.client.query(READ, [HIGH])).rows).toEqual([{ trace_id: HIGH, risk: 'high' }]);
    expect(notices).toEqual([]);
    expect((await queryError(c.client, READ, [HIGH])).code).toBe('42501');
    await c.client.end();

    const reuse = await tryConnect(credentialConfig(proxy, { id, credential }));
    expect('error' in reuse && reuse.error.code).toBe('28P01');
    const events = await eventsEventually(proxy, id, (t) => t.includes('reuse-refused'));
    expect(events.map((e) => e.type)).toEqual(['requested', 'issued', 'redeemed', 'spent', 'reuse-refused']);
    expect(events[0]?.detail).toContain(`needs approval ${approvalId}`);
  });

  test('a denied request says so, and never yields a credential', async () => {
    const pending = await api(base, agent, 'POST', '/api/credentials', { trace_id: HIGH, reason: 'curious' });
    expect(pending.status).toBe(202);
    const { id, approval_id: approvalId } = pending.json;
    expect((await api(base, reviewer, 'POST', `/api/approvals/${approvalId}/deny`, { reason: 'not needed' })).status).toBe(200);
    const denied = await api(base, agent, 'GET', `/api/credentials/${id}?wait=5`);
    expect(denied.status).toBe(200);
    expect(denied.json).toMatchObject({ id, state: 'denied', message: `approval request ${approvalId} was denied by reviewer: not needed` });
    expect(denied.json.credential).toBeUndefined();
  });

  test('a wait longer than 30 s or not a number is a 400', async () => {
    const pending = await api(base, agent, 'POST', '/api/credentials', { trace_id: HIGH, reason: 'bounds' });
    expect((await api(base, agent, 'GET', `/api/credentials/${pending.json.id}?wait=31`)).status).toBe(400);
    expect((await api(base, agent, 'GET', `/api/credentials/${pending.json.id}?wait=soon`)).status).toBe(400);
  });
});

describe('tracegate credential', () => {
  async function cli(args: string[], token: string, onErr: (line: string) => void = () => undefined) {
    const out: string[] = [];
    const err: string[] = [];
    const io: CliIo = {
      err: (l) => {
        err.push(l);
        onErr(l);
      },
      env: { TRACEGATE_TOKEN: token },
    };
    const code = await runCredentialCommand(['--admin', base, ...args], (l) => out.push(l), io);
    return { code, out, err };
  }

  test('prints the credential and a psql line that uses it', async () => {
    const { code, out, err } = await cli(['--trace', LOW, '--reason', 'summarise the trace'], agent);
    expect(code).toBe(0);
    expect(out).toHaveLength(2);
    const [credential, psql] = out as [string, string];
    expect(credential).toMatch(/^tgc_[0-9a-f]{20}_[A-Za-z0-9_-]{43}$/);
    expect(psql).toBe(`PGPASSWORD=${credential} psql "host=127.0.0.1 port=${proxy.port} dbname=${/dbname=(\S+)/.exec(psql)?.[1]} user=${credential.slice(0, 24)} sslmode=disable"`);
    expect(err.join('\n')).toMatch(/works once, until/);
    const c = await tryConnect(credentialConfig(proxy, { id: credential.slice(0, 24), credential }));
    if (!('client' in c)) throw new Error(`login refused: ${c.error.message}`);
    expect((await c.client.query(READ, [LOW])).rows).toHaveLength(1);
    await c.client.end();
  });

  test('waits for approval with progress on stderr, then prints the credential', async () => {
    let approve: Promise<unknown> | undefined;
    const { code, out, err } = await cli(['--trace', HIGH, '--reason', 'incident 43', '--json'], agent, (line) => {
      const m = /waiting for approval: request ([0-9a-f-]{36})/.exec(line);
      if (m) approve = api(base, reviewer, 'POST', `/api/approvals/${m[1]}/approve`);
    });
    await approve;
    expect(code).toBe(0);
    expect(err[0]).toMatch(/^waiting for approval: request [0-9a-f-]{36} \(rule agents-read-own-traces\); an approver runs: tracegate approvals approve /);
    const answer = JSON.parse(out.join('\n'));
    expect(answer).toMatchObject({ state: 'issued', trace_id: HIGH });
    expect(answer.url).toContain(answer.credential);
  });

  test('a refusal exits 1 with the API message; a missing token is a usage error', async () => {
    const refused = await cli(['--trace', THEIRS, '--reason', 'probe'], agent);
    expect(refused.code).toBe(1);
    expect(refused.out).toEqual([]);
    expect(refused.err.join('\n')).toMatch(/the trace does not exist or you are not entitled to read it \(HTTP 403 not-entitled, request tgc_[0-9a-f]{20}\)/);
    const usage = await runCredentialCommand(['--trace', LOW, '--reason', 'x'], () => undefined, { err: () => undefined, env: {} });
    expect(usage).toBe(2);
  });
});
