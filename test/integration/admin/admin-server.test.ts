// The admin server over real HTTP with real tokens from the dev issuer: authentication
// and group checks, the approval flows with every rule the broker enforces, revocation
// ending live sessions, sessions and recordings from the real SQLite store, metrics,
// health, the page, body limits and error shapes.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ApprovalRequestInput } from '../../../src/approvals/approval.js';
import type { Identity } from '../../../src/identity.js';
import { getToken, mintToken, mintValid } from '../../helpers/env.js';
import { startAdminHarness, type AdminHarness } from './harness.js';

let h: AdminHarness;
let tokens: { agent: string; reviewer: string; admin: string; agentB: string };
let agent: Identity;
let adminIdentity: Identity;

beforeAll(async () => {
  h = await startAdminHarness();
  const [agentToken, reviewer, admin, agentB] = await Promise.all([getToken('agent-a'), getToken('reviewer'), getToken('admin'), getToken('agent-b')]);
  tokens = { agent: agentToken, reviewer, admin, agentB };
  agent = await h.verifier.verify(agentToken);
  adminIdentity = await h.verifier.verify(admin);
});

afterAll(async () => {
  await h?.close();
});

let seq = 0;
function requestApproval(overrides: Partial<ApprovalRequestInput> = {}) {
  seq++;
  return h.broker.request({
    sessionId: `sess-${seq}`,
    requester: agent,
    traceId: 'trace-0001',
    rule: 'high-risk',
    statement: "SELECT summary FROM traces WHERE trace_id = 'trace-0001'",
    reason: 'trace risk is high',
    approverGroups: ['security'],
    quorum: 1,
    timeoutMs: 60_000,
    ...overrides,
  });
}

/** Waits until the request is recorded and listed. */
async function listed(id: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await h.broker.list()).some((a) => a.id === id)) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`request ${id} never became visible`);
}

describe('health, readiness, metrics and the page', () => {
  test('/healthz answers without a token', async () => {
    const res = await h.call('GET', '/healthz');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
  });

  test('/readyz follows the ready() check', async () => {
    expect((await h.call('GET', '/readyz')).status).toBe(200);
    h.ready = { ready: false, reason: 'upstream unreachable' };
    const res = await h.call('GET', '/readyz');
    expect(res.status).toBe(503);
    expect(res.body).toEqual({ status: 'not-ready', reason: 'upstream unreachable' });
    h.ready = { ready: true };
  });

  test('/metrics is Prometheus text with every tracegate series', async () => {
    const res = await h.call('GET', '/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    for (const name of [
      'tracegate_connections',
      'tracegate_connections_total',
      'tracegate_statements_total',
      'tracegate_active_grants',
      'tracegate_pending_approvals',
      'tracegate_decision_seconds',
      'tracegate_upstream_seconds',
      'tracegate_mode{mode="enforce"} 1',
      'process_resident_memory_bytes',
    ]) {
      expect(res.text).toContain(name);
    }
  });

  test('/metrics can require an admin token', async () => {
    await using locked = await startAdminHarness({ metricsAccess: 'admins' });
    expect((await locked.call('GET', '/metrics')).status).toBe(401);
    expect((await locked.call('GET', '/metrics', { token: tokens.reviewer })).status).toBe(403);
    expect((await locked.call('GET', '/metrics', { token: tokens.admin })).status).toBe(200);
  });

  test('the page and its assets are served with a strict CSP and no CDN', async () => {
    const page = await h.call('GET', '/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(page.text).toContain('Approval queue');
    expect(page.text).not.toMatch(/https?:\/\//);
    const js = await h.call('GET', '/app.js');
    expect(js.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(js.text).toContain('/api/approvals');
    expect(js.text).not.toMatch(/\.innerHTML\s*=|insertAdjacentHTML|document\.write/);
    expect((await h.call('GET', '/app.css')).status).toBe(200);
  });
});

describe('authentication and groups', () => {
  test('no token: 401 with a Bearer challenge', async () => {
    const res = await h.call('GET', '/api/approvals');
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('unauthenticated');
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
  });

  test('a malformed Authorization header: 401', async () => {
    const res = await h.call('GET', '/api/approvals', { headers: { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` } });
    expect(res.status).toBe(401);
  });

  test.each(['expired', 'bad-signature', 'wrong-audience', 'alg-none', 'hs256-public-key'] as const)('a %s token: 401 invalid-token with the reason', async (kind) => {
    const token = await mintToken(kind, { sub: 'admin', groups: ['tracegate-admins', 'security'] });
    const res = await h.call('GET', '/api/approvals', { token });
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('invalid-token');
    expect(res.headers.get('www-authenticate')).toContain('invalid_token');
    expect(res.text).not.toContain(token);
  });

  test('an agent (no approver or admin group) is refused: 403', async () => {
    const res = await h.call('GET', '/api/approvals', { token: tokens.agent });
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ error: 'forbidden' });
  });

  test('a reviewer (approver only) may not revoke or read sessions: 403', async () => {
    expect((await h.call('GET', '/api/sessions', { token: tokens.reviewer })).status).toBe(403);
    expect((await h.call('POST', '/api/revoke', { token: tokens.reviewer, body: { subject: 'agent-a', reason: 'x' } })).status).toBe(403);
    expect((await h.call('GET', '/api/policy', { token: tokens.reviewer })).status).toBe(403);
  });

  test('whoami tells the page what the caller may do', async () => {
    const res = await h.call('GET', '/api/whoami', { token: tokens.reviewer });
    expect(res.body).toEqual({ subject: 'reviewer', groups: ['security'], roles: { admin: false, approver: true } });
  });

  test('a revoked admin token is refused on the API too', async () => {
    const token = await mintValid({ sub: 'admin-2', groups: ['tracegate-admins'], jti: 'jti-admin-2' });
    expect((await h.call('GET', '/api/sessions', { token })).status).toBe(200);
    h.revocations.revoke({ target: { kind: 'jti', jti: 'jti-admin-2' }, reason: 'test', by: 'test' });
    const res = await h.call('GET', '/api/sessions', { token });
    expect(res.status).toBe(403);
    expect(res.body.error).toBe('revoked');
  });
});

describe('approvals', () => {
  test('the queue shows statement, trace, requester, rule, reason and age; approve releases it', async () => {
    const ticket = requestApproval();
    await listed(ticket.id);
    const list = await h.call('GET', '/api/approvals', { token: tokens.reviewer });
    expect(list.status).toBe(200);
    const entry = list.body.approvals.find((a: { id: string }) => a.id === ticket.id);
    expect(entry).toMatchObject({
      state: 'pending',
      statement: "SELECT summary FROM traces WHERE trace_id = 'trace-0001'",
      traceId: 'trace-0001',
      requester: { subject: 'agent-a', groups: ['ai-agents'] },
      rule: 'high-risk',
      reason: 'trace risk is high',
      quorum: 1,
    });
    expect(entry.ageMs).toBeGreaterThanOrEqual(0);
    expect(JSON.stringify(list.body)).not.toContain(agent.tokenHash);

    const res = await h.call('POST', `/api/approvals/${ticket.id}/approve`, { token: tokens.reviewer, body: { reason: 'checked' } });
    expect(res.status).toBe(200);
    expect(res.body.approval.state).toBe('approved');
    expect(await ticket.outcome).toEqual({ kind: 'approved', approvers: ['reviewer'] });
  });

  test('approve with no body at all works (reason optional)', async () => {
    const ticket = requestApproval();
    const res = await h.call('POST', `/api/approvals/${ticket.id}/approve`, { token: tokens.reviewer });
    expect(res.status).toBe(200);
    expect((await ticket.outcome).kind).toBe('approved');
  });

  test('deny gives the outcome the gate turns into 42501, with the reason', async () => {
    const ticket = requestApproval();
    const res = await h.call('POST', `/api/approvals/${ticket.id}/deny`, { token: tokens.reviewer, body: { reason: 'not this one' } });
    expect(res.status).toBe(200);
    expect(await ticket.outcome).toEqual({ kind: 'denied', by: 'reviewer', reason: 'not this one' });
  });

  test('self-approval is refused: 403, and the request stays pending', async () => {
    const ticket = requestApproval({ requester: adminIdentity });
    const res = await h.call('POST', `/api/approvals/${ticket.id}/approve`, { token: tokens.admin });
    expect(res.status).toBe(403);
    expect(res.body.error).toBe('self-approval');
    expect((await h.broker.get(ticket.id))?.state).toBe('pending');
    await h.broker.withdraw(ticket.id, 'test over');
  });

  test('quorum 2 needs two distinct approvers; the same approver twice is 409', async () => {
    const ticket = requestApproval({ quorum: 2 });
    const first = await h.call('POST', `/api/approvals/${ticket.id}/approve`, { token: tokens.reviewer });
    expect(first.status).toBe(200);
    expect(first.body.approval).toMatchObject({ state: 'pending', approvals: [{ by: 'reviewer' }] });
    const again = await h.call('POST', `/api/approvals/${ticket.id}/approve`, { token: await getToken('reviewer') });
    expect(again.status).toBe(409);
    expect(again.body.error).toBe('already-voted');
    const second = await h.call('POST', `/api/approvals/${ticket.id}/approve`, { token: tokens.admin });
    expect(second.body.approval.state).toBe('approved');
    expect(await ticket.outcome).toEqual({ kind: 'approved', approvers: ['reviewer', 'admin'] });
  });

  test("an approver outside the rule's own groups is refused: 403 not-an-approver", async () => {
    const ticket = requestApproval({ approverGroups: ['tracegate-admins'] });
    const res = await h.call('POST', `/api/approvals/${ticket.id}/approve`, { token: tokens.reviewer });
    expect(res.status).toBe(403);
    expect(res.body.error).toBe('not-an-approver');
    await h.broker.withdraw(ticket.id, 'test over');
  });

  test('an agent cannot approve at all: 403', async () => {
    const ticket = requestApproval();
    const res = await h.call('POST', `/api/approvals/${ticket.id}/approve`, { token: tokens.agentB });
    expect(res.status).toBe(403);
    await h.broker.withdraw(ticket.id, 'test over');
  });

  test('a decided request is final (409); an unknown one is 404', async () => {
    const ticket = requestApproval();
    await h.call('POST', `/api/approvals/${ticket.id}/deny`, { token: tokens.reviewer });
    const res = await h.call('POST', `/api/approvals/${ticket.id}/approve`, { token: tokens.admin });
    expect(res.status).toBe(409);
    expect(res.body.error).toBe('already-decided');
    expect((await h.call('POST', '/api/approvals/00000000-0000-4000-8000-000000000000/approve', { token: tokens.reviewer })).status).toBe(404);
    expect((await h.call('GET', `/api/approvals/${ticket.id}`, { token: tokens.reviewer })).body.approval.state).toBe('denied');
  });

  test('every step is in the audit store', async () => {
    const ticket = requestApproval({ quorum: 2, statementId: null });
    await h.call('POST', `/api/approvals/${ticket.id}/approve`, { token: tokens.reviewer });
    await h.call('POST', `/api/approvals/${ticket.id}/deny`, { token: tokens.admin, body: { reason: 'second thoughts' } });
    await h.store.flush();
    const steps: unknown[] = [];
    for await (const line of h.store.exportSince(0)) if (line.kind === 'approval' && line.ref === ticket.id) steps.push((line.record as { step: unknown }).step);
    expect(steps).toEqual([
      expect.objectContaining({ type: 'requested', subject: 'agent-a', quorum: 2 }),
      { type: 'approved', by: 'reviewer' },
      { type: 'denied', by: 'admin', reason: 'second thoughts' },
    ]);
  });

  test('the pending gauge follows the queue', async () => {
    const ticket = requestApproval();
    await listed(ticket.id);
    const pending = (await h.broker.list()).length;
    expect((await h.call('GET', '/metrics')).text).toContain(`tracegate_pending_approvals ${pending}`);
    await h.call('POST', `/api/approvals/${ticket.id}/deny`, { token: tokens.reviewer });
    expect((await h.call('GET', '/metrics')).text).toContain(`tracegate_pending_approvals ${pending - 1}`);
  });
});

describe('revocation', () => {
  test('by subject: live sessions end with FATAL 57P01, new logins are refused, the action is recorded', async () => {
    const subject = `agent-rev-${Date.now()}`;
    const token = await mintValid({ sub: subject, groups: ['ai-agents'] });
    const identity = await h.verifier.verify(token);
    h.live.add('live-1', identity);
    h.live.add('live-2', identity);
    h.live.add('other', agent);
    const res = await h.call('POST', '/api/revoke', { token: tokens.admin, body: { subject, reason: 'suspected prompt injection' } });
    expect(res.status).toBe(201);
    expect(res.body.sessionsEnded).toBe(2);
    expect(h.live.ended.filter((e) => e.id.startsWith('live-')).map((e) => [e.id, e.err.sqlstate, e.err.severity])).toEqual([
      ['live-2', '57P01', 'FATAL'],
      ['live-1', '57P01', 'FATAL'],
    ]);
    expect(h.live.ended[0]?.err.message).toMatch(/^terminating connection due to administrator command: revoked/);
    expect(h.live.sessions().map((s) => s.info.id)).toContain('other');
    expect(h.revocations.isRevoked(identity)?.id).toBe(res.body.revocation.id);
    expect(res.body.revocation.until - Date.now()).toBeGreaterThan(23 * 3600_000);

    await h.store.flush();
    let recorded: unknown;
    for await (const line of h.store.exportSince(0)) if (line.kind === 'admin' && line.ref === res.body.revocation.id) recorded = line.record;
    expect(recorded).toMatchObject({ actor: 'admin', reason: 'suspected prompt injection', action: { type: 'revoke-subject', subject } });
  });

  test('by jti ends only the session holding that token; until accepts a duration', async () => {
    const t1 = await mintValid({ sub: 'agent-j', jti: 'jti-keep' });
    const t2 = await mintValid({ sub: 'agent-j', jti: 'jti-revoke' });
    h.live.add('keep', await h.verifier.verify(t1));
    h.live.add('end', await h.verifier.verify(t2));
    const res = await h.call('POST', '/api/revoke', { token: tokens.admin, body: { jti: 'jti-revoke', until: '2h', reason: 'leaked' } });
    expect(res.status).toBe(201);
    expect(res.body.sessionsEnded).toBe(1);
    expect(h.live.sessions().some((s) => s.info.id === 'keep')).toBe(true);
    expect(Math.abs(res.body.revocation.until - (Date.now() + 7_200_000))).toBeLessThan(10_000);
  });

  test('by session id', async () => {
    h.live.add('sess-x', agent);
    const res = await h.call('POST', '/api/revoke', { token: tokens.admin, body: { session: 'sess-x', reason: 'r' } });
    expect(res.body.sessionsEnded).toBe(1);
    expect(res.body.revocation.target).toEqual({ kind: 'session', sessionId: 'sess-x' });
  });

  test.each([
    [{ subject: 'a', jti: 'b', reason: 'r' }, 'exactly one'],
    [{ reason: 'r' }, 'exactly one'],
    [{ subject: 'a' }, 'reason'],
    [{ subject: 'a', reason: '  ' }, 'reason is required'],
    [{ subject: 'a', reason: 'r', until: '2020-01-01T00:00:00Z' }, 'until'],
    [{ subject: 'a', reason: 'r', until: 'tomorrow' }, 'until'],
    [{ subject: 'a', reason: 'r', extra: 1 }, ''],
  ])('a bad revoke body is 400 and revokes nothing: %j', async (body, message) => {
    const before = h.revocations.list().length;
    const res = await h.call('POST', '/api/revoke', { token: tokens.admin, body });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('bad-request');
    expect(res.body.message).toContain(message);
    expect(h.revocations.list().length).toBe(before);
  });

  test('GET /api/revocations lists what is in force', async () => {
    const res = await h.call('GET', '/api/revocations', { token: tokens.admin });
    expect(res.status).toBe(200);
    expect(res.body.revocations.length).toBeGreaterThan(0);
  });
});

describe('sessions, grants, recordings, policy', () => {
  test('live sessions show subject, groups and jti, never the token hash or claims', async () => {
    h.live.add('visible', agent);
    const res = await h.call('GET', '/api/sessions', { token: tokens.admin });
    expect(res.status).toBe(200);
    const s = res.body.sessions.find((x: { id: string }) => x.id === 'visible');
    expect(s).toMatchObject({ subject: 'agent-a', groups: ['ai-agents'], jti: agent.jti ?? null, applicationName: 'psql', tls: null });
    expect(res.text).not.toContain(agent.tokenHash);
    expect(res.text).not.toContain('"claims"');
  });

  test('active grants', async () => {
    const now = Date.now();
    await using g = await startAdminHarness({
      grants: [{ id: 'g-1', subject: 'agent-a', sessionId: 's-1', traceId: 'trace-0001', rule: 'r', issuedAt: now - 1000, expiresAt: now + 29_000 }],
    });
    const res = await g.call('GET', '/api/grants', { token: tokens.admin });
    expect(res.body.grants).toEqual([expect.objectContaining({ id: 'g-1', traceId: 'trace-0001', sessionId: 's-1' })]);
    expect(res.body.grants[0].remainingMs).toBeGreaterThan(20_000);
  });

  test('recorded sessions: search, detail and replay from the audit store', async () => {
    const sessionId = `rec-${Date.now()}`;
    const at = Date.now();
    await h.store.recordSessionStart({
      sessionId,
      at,
      subject: 'agent-rec',
      groups: ['ai-agents'],
      tokenJti: 'jti-rec',
      tokenHash: null,
      clientAddress: '127.0.0.1',
      applicationName: 'psql',
      tls: null,
      mode: 'enforce',
    });
    await h.store.recordDecision({
      statementId: `${sessionId}-st1`,
      sessionId,
      at: at + 1,
      text: 'SELECT 1',
      parameters: [],
      decision: 'allow',
      enforced: true,
      rule: null,
      reason: 'housekeeping',
      sqlstate: null,
      decisionId: `${sessionId}-d1`,
      grantId: null,
      traceId: null,
      approvalId: null,
    });
    await h.store.flush();

    const search = await h.call('GET', '/api/sessions/recorded?subject=agent-rec&since=1h', { token: tokens.admin });
    expect(search.status).toBe(200);
    expect(search.body.sessions.map((s: { sessionId: string }) => s.sessionId)).toContain(sessionId);
    expect((await h.call('GET', '/api/sessions/recorded?since=yesterday', { token: tokens.admin })).status).toBe(400);

    const detail = await h.call('GET', `/api/sessions/${sessionId}`, { token: tokens.admin });
    expect(detail.status).toBe(200);
    expect(detail.body.statements[0].text).toBe('SELECT 1');

    const replay = await h.call('GET', `/api/sessions/${sessionId}/replay`, { token: tokens.admin });
    expect(replay.status).toBe(200);
    expect(replay.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(replay.text).toContain(`-- session ${sessionId}`);
    expect(replay.text).toContain('SELECT 1');

    expect((await h.call('GET', '/api/sessions/no-such-session', { token: tokens.admin })).status).toBe(404);
  });

  test('the loaded policy, for admins', async () => {
    const res = await h.call('GET', '/api/policy', { token: tokens.admin });
    expect(res.body).toEqual({ policy: { rules: [{ name: 'high-risk', groups: ['ai-agents'] }] } });
  });
});

describe('HTTP hygiene', () => {
  test('unknown route 404 and wrong method 405, both JSON', async () => {
    const missing = await h.call('GET', '/api/nothing', { token: tokens.admin });
    expect(missing.status).toBe(404);
    expect(missing.body.error).toBe('not-found');
    const wrong = await h.call('GET', '/api/revoke', { token: tokens.admin });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
  });

  test('bodies are capped (413), must be JSON (415) and parse (400)', async () => {
    const ticket = requestApproval();
    const path = `/api/approvals/${ticket.id}/approve`;
    expect((await h.call('POST', path, { token: tokens.reviewer, body: { reason: 'x'.repeat(20_000) } })).status).toBe(413);
    expect((await h.call('POST', path, { token: tokens.reviewer, raw: 'reason=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } })).status).toBe(415);
    expect((await h.call('POST', path, { token: tokens.reviewer, raw: '{"reason":', headers: { 'content-type': 'application/json' } })).status).toBe(400);
    expect((await h.call('POST', path, { token: tokens.reviewer, body: { reason: 'x'.repeat(501) } })).status).toBe(400);
    expect((await h.broker.get(ticket.id))?.state).toBe('pending');
    await h.broker.withdraw(ticket.id, 'test over');
  });

  test('an internal failure is 500 with a correlation id and no stack trace', async () => {
    await using broken = await startAdminHarness({
      policy: () => {
        throw new Error('secret internal detail at /etc/tracegate/policy.yaml');
      },
    });
    const res = await broken.call('GET', '/api/policy', { token: tokens.admin });
    expect(res.status).toBe(500);
    expect(res.body.error).toBe('internal');
    expect(res.body.message).toMatch(/correlation id [0-9a-f-]{36}/);
    expect(res.text).not.toContain('secret internal detail');
    expect(res.text).not.toContain('    at ');
  });

  test('API answers are not cacheable and not sniffable', async () => {
    const res = await h.call('GET', '/api/approvals', { token: tokens.reviewer });
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });

  test('a revocation the audit store cannot record is still in force: 503 says so', async () => {
    await using failing = await startAdminHarness();
    await failing.store.close();
    const identity = await failing.verifier.verify(await mintValid({ sub: 'agent-unrecorded' }));
    failing.live.add('s-u', identity);
    const res = await failing.call('POST', '/api/revoke', { token: tokens.admin, body: { subject: 'agent-unrecorded', reason: 'r' } });
    expect(res.status).toBe(503);
    expect(res.body.error).toBe('audit-unavailable');
    expect(res.body.message).toContain('is in force');
    expect(failing.revocations.isRevoked(identity)).toBeDefined();
    expect(failing.live.ended.map((e) => e.id)).toEqual(['s-u']);
  });

  test('an approval the audit store cannot record changes nothing: 503', async () => {
    await using failing = await startAdminHarness();
    const ticket = failing.broker.request({
      sessionId: 's',
      requester: agent,
      traceId: 't',
      rule: 'r',
      statement: 'SELECT 1',
      approverGroups: ['security'],
      quorum: 1,
      timeoutMs: 60_000,
    });
    for (let i = 0; i < 100 && (await failing.broker.list()).length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    await failing.store.close();
    const res = await failing.call('POST', `/api/approvals/${ticket.id}/approve`, { token: tokens.reviewer });
    expect(res.status).toBe(503);
    expect(res.body.error).toBe('unrecorded');
    expect((await failing.broker.get(ticket.id))?.state).toBe('pending');
  });
});
