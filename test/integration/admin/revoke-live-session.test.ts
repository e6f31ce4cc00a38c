// Revocation against a real proxy: a node-postgres client logged in through tracegate
// with a real agent token is ended by POST /api/revoke with FATAL 57P01 within 100 ms,
// through the real ProxyListener's terminate. (Refusing the next login is the login
// path's isRevoked check, wired by the composition root.)
import { describe, expect, test } from 'vitest';
import { getToken } from '../../helpers/env.js';
import { startTestProxy } from '../../helpers/proxy.js';
import { startAdminHarness } from './harness.js';

describe('revoking a live proxy session', () => {
  test('the client gets FATAL 57P01 within 100 ms; other subjects stay connected', async () => {
    await using proxy = await startTestProxy();
    await using admin = await startAdminHarness({ listener: proxy.proxy.listener });
    const [agentA, agentB, adminToken] = await Promise.all([getToken('agent-a'), getToken('agent-b'), getToken('admin')]);
    const victim = await proxy.connect(agentA);
    const bystander = await proxy.connect(agentB);
    await victim.query('SELECT 1');

    const ended = new Promise<{ err: Error & { code?: string; severity?: string }; at: number }>((resolve) => {
      victim.once('error', (err) => resolve({ err, at: performance.now() }));
    });
    const res = await admin.call('POST', '/api/revoke', { token: adminToken, body: { subject: 'agent-a', reason: 'integration test' } });
    // Measured from the admin's answer: by then the session was ended (sessionsEnded), so
    // only delivery to the client remains. The request itself (token check, HTTP) is not
    // part of "revocation takes effect", and on a loaded CI machine it can take longer.
    const answered = performance.now();
    expect(res.status).toBe(201);
    expect(res.body.sessionsEnded).toBe(1);
    const { err, at } = await ended;
    expect(at - answered).toBeLessThan(100);
    expect(err.code).toBe('57P01');
    expect(err.severity).toBe('FATAL');
    expect(err.message).toContain('revoked (subject agent-a)');
    expect((await bystander.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);

    // The session is gone from the listener, so the admin API no longer lists it.
    const live = await admin.call('GET', '/api/sessions', { token: adminToken });
    expect(live.body.sessions.map((s: { subject: string }) => s.subject)).toEqual(['agent-b']);
    await expect(victim.query('SELECT 1')).rejects.toThrow();
  });
});
