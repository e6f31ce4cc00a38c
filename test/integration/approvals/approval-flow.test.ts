// Approval routing and revocation end to end: a high-risk read pauses with a notice
// naming the request; an approver's consent through the admin API releases exactly one
// execution; denial, timeout and self-approval behave; quorum needs distinct people;
// a revocation ends an open session at once and refuses the next login.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import pg from 'pg';
import { WELL_KNOWN_TRACES } from '../../../src/demo/generate.js';
import { getToken, mintValid } from '../../helpers/env.js';
import { startTestProxy, type TestProxy } from '../../helpers/proxy.js';
import { api, pausedRead } from './harness.js';

const HIGH = WELL_KNOWN_TRACES.agentAHigh;
const LOW = WELL_KNOWN_TRACES.agentALow;

let proxy: TestProxy;
let agent: string;
let reviewer: string;
beforeAll(async () => {
  proxy = await startTestProxy({ admin: true });
  agent = await getToken('agent-a');
  reviewer = await getToken('reviewer');
});
afterAll(async () => proxy.close());

describe('approval', () => {
  test('a high-risk read waits, the notice arrives first, and one approval releases exactly one execution', async () => {
    const base = proxy.adminUrl as string;
    const client = await proxy.connect(agent);
    const first = pausedRead(client, HIGH);
    const id = await first.id;
    // Nothing has run yet: the request is pending in the queue.
    const queue = await api(base, reviewer, 'GET', '/api/approvals');
    expect(queue.json.approvals.map((a: { id: string }) => a.id)).toContain(id);
    const approved = await api(base, reviewer, 'POST', `/api/approvals/${id}/approve`, { reason: 'incident review' });
    expect(approved.status).toBe(200);
    const rows = (await first.result) as pg.QueryResult;
    expect(rows.rows).toEqual([{ trace_id: HIGH, risk: 'high' }]);

    // The approval was spent: the same read needs a new one, and a denial refuses it.
    const second = pausedRead(client, HIGH);
    const id2 = await second.id;
    expect(id2).not.toBe(id);
    expect((await api(base, reviewer, 'POST', `/api/approvals/${id2}/deny`, { reason: 'not needed' })).status).toBe(200);
    const refused = (await second.result) as { code?: string; message: string };
    expect(refused.code).toBe('42501');
    expect(refused.message).toContain(id2);

    // A low-risk read of the same session needs no approval.
    expect((await client.query('SELECT trace_id FROM traces WHERE trace_id = $1', [LOW])).rows).toHaveLength(1);
  });

  test('a request times out with 42501; self-approval is refused; a quorum of two needs two distinct approvers', async () => {
    const policyFile = join(proxy.dir, 'quorum.yaml');
    writeFileSync(
      policyFile,
      `version: 1
traceTables:
  - { table: public.traces, key: trace_id, owner: agent_id, risk: risk }
  - { table: public.trace_steps, key: trace_id }
rules:
  - name: reviewers-need-two
    groups: [security]
    approval: { when: { risk: [high] }, approvers: { groups: [security] }, quorum: 2, timeout: 1500ms }
`,
    );
    const strict = await startTestProxy({ policyFile, admin: true });
    try {
      const base = strict.adminUrl as string;
      const client = await strict.connect(reviewer);

      const timedOut = pausedRead(client, HIGH);
      await timedOut.id;
      const late = (await timedOut.result) as { code?: string; message: string };
      expect(late.code).toBe('42501');
      expect(late.message).toMatch(/timed out/);

      const read = pausedRead(client, HIGH);
      const id = await read.id;
      const self = await api(base, reviewer, 'POST', `/api/approvals/${id}/approve`);
      expect(self.status).toBe(403);
      const secondApprover = await mintValid({ sub: 'sec-2', groups: ['security'] });
      const thirdApprover = await mintValid({ sub: 'sec-3', groups: ['security'] });
      expect((await api(base, secondApprover, 'POST', `/api/approvals/${id}/approve`)).status).toBe(200);
      expect((await api(base, secondApprover, 'POST', `/api/approvals/${id}/approve`)).status).toBe(409);
      await sleep(100);
      const stillPending = await api(base, thirdApprover, 'GET', '/api/approvals');
      expect(stillPending.json.approvals.map((a: { id: string }) => a.id)).toContain(id);
      expect((await api(base, thirdApprover, 'POST', `/api/approvals/${id}/approve`)).status).toBe(200);
      const rows = (await read.result) as pg.QueryResult;
      expect(rows.rows).toHaveLength(1);
    } finally {
      await strict.close();
    }
  });

  test('a client that disconnects while waiting withdraws its request', async () => {
    const base = proxy.adminUrl as string;
    const client = new pg.Client(proxy.clientConfig(agent));
    client.on('error', () => undefined);
    await client.connect();
    const waiting = pausedRead(client, HIGH);
    const id = await waiting.id;
    await client.end().catch(() => undefined);
    await sleep(200);
    const queue = await api(base, reviewer, 'GET', '/api/approvals');
    expect(queue.json.approvals.map((a: { id: string }) => a.id)).not.toContain(id);
  });
});

describe('revocation', () => {
  test('revoking a subject ends its open session within 100 ms and refuses the next login', async () => {
    const base = proxy.adminUrl as string;
    const admin = await getToken('admin');
    const victimToken = await mintValid({ sub: 'agent-revoked', groups: ['ai-agents'] });
    const victim = new pg.Client(proxy.clientConfig(victimToken));
    const ended = new Promise<{ at: number; code?: string }>((resolve) => {
      victim.on('error', (e) => resolve({ at: Date.now(), code: (e as { code?: string }).code }));
    });
    await victim.connect();
    const bystander = await proxy.connect(agent);
    const res = await api(base, admin, 'POST', '/api/revoke', { subject: 'agent-revoked', reason: 'test' });
    // From the admin's answer: the session was ended before it (sessionsEnded), so only
    // delivery to the client is measured, not the HTTP request on a loaded machine.
    const answered = Date.now();
    expect(res.status).toBe(201);
    expect(res.json.sessionsEnded).toBe(1);
    const { at, code } = await ended;
    expect(code).toBe('57P01');
    expect(at - answered).toBeLessThan(100);
    const again = new pg.Client(proxy.clientConfig(victimToken));
    await expect(again.connect()).rejects.toMatchObject({ code: '28000' });
    expect((await bystander.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
  });
});
