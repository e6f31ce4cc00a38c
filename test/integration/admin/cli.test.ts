// `tracegate approvals` and `tracegate revoke` against a real admin server with real
// tokens: list, approve (with quorum), deny, refusals as exit code 1 with the API's
// message, and revoke ending a live session.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { CliIo } from '../../../src/admin/admin-client.js';
import { runApprovalsCommand } from '../../../src/cli/approvals.js';
import { runRevokeCommand } from '../../../src/cli/revoke.js';
import type { Identity } from '../../../src/identity.js';
import { getToken } from '../../helpers/env.js';
import { startAdminHarness, type AdminHarness } from './harness.js';

let h: AdminHarness;
let agent: Identity;
let tokens: { reviewer: string; admin: string; agent: string };

beforeAll(async () => {
  h = await startAdminHarness();
  const [reviewer, admin, agentToken] = await Promise.all([getToken('reviewer'), getToken('admin'), getToken('agent-a')]);
  tokens = { reviewer, admin, agent: agentToken };
  agent = await h.verifier.verify(agentToken);
});

afterAll(async () => {
  await h?.close();
});

async function run(
  command: typeof runApprovalsCommand,
  args: string[],
  token: string | undefined,
): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { err: (l) => err.push(l), env: token === undefined ? {} : { TRACEGATE_ADMIN_TOKEN: token } };
  const code = await command(['--admin', h.url, ...args], (l) => out.push(l), io);
  return { code, out, err };
}

function request(quorum = 1) {
  return h.broker.request({
    sessionId: 'cli-session',
    requester: agent,
    traceId: 'trace-0042',
    rule: 'high-risk',
    statement: "SELECT *\n  FROM trace_steps\n WHERE trace_id = 'trace-0042'",
    reason: 'trace risk is high',
    approverGroups: ['security'],
    quorum,
    timeoutMs: 60_000,
  });
}

describe('tracegate approvals', () => {
  test('list shows the waiting request on one scannable block', async () => {
    const ticket = request();
    for (let i = 0; i < 100 && !(await h.broker.get(ticket.id)); i++) await new Promise((r) => setTimeout(r, 5));
    const { code, out } = await run(runApprovalsCommand, ['list'], tokens.reviewer);
    expect(code).toBe(0);
    const text = out.join('\n');
    expect(text).toContain(`${ticket.id}  waiting`);
    expect(text).toContain('agent-a -> trace trace-0042  rule high-risk  approvals 0/1');
    expect(text).toContain('why: trace risk is high');
    expect(text).toContain("sql: SELECT * FROM trace_steps WHERE trace_id = 'trace-0042'");
    const json = await run(runApprovalsCommand, ['list', '--json'], tokens.reviewer);
    expect(JSON.parse(json.out.join('\n')).some((a: { id: string }) => a.id === ticket.id)).toBe(true);
    await h.broker.withdraw(ticket.id, 'test over');
  });

  test('approve with quorum 2: the first approval waits, the second releases', async () => {
    const ticket = request(2);
    const first = await run(runApprovalsCommand, ['approve', ticket.id, '--reason', 'ok'], tokens.reviewer);
    expect(first.code).toBe(0);
    expect(first.out[0]).toContain('1 of 2; waiting for 1 more distinct approver');
    const twice = await run(runApprovalsCommand, ['approve', ticket.id], tokens.reviewer);
    expect(twice.code).toBe(1);
    expect(twice.err[0]).toContain('already approved');
    expect(twice.err[0]).toContain('HTTP 409 already-voted');
    const second = await run(runApprovalsCommand, ['approve', ticket.id], tokens.admin);
    expect(second.out[0]).toMatch(/^approved .*approvers: reviewer, admin/);
    expect((await ticket.outcome).kind).toBe('approved');
  });

  test('deny', async () => {
    const ticket = request();
    const { code, out } = await run(runApprovalsCommand, ['deny', ticket.id, '--reason', 'no'], tokens.reviewer);
    expect(code).toBe(0);
    expect(out[0]).toContain(`denied ${ticket.id}`);
    expect(await ticket.outcome).toEqual({ kind: 'denied', by: 'reviewer', reason: 'no' });
  });

  test('refusals are exit code 1 with the reason', async () => {
    const ticket = request();
    const byAgent = await run(runApprovalsCommand, ['approve', ticket.id], tokens.agent);
    expect(byAgent.code).toBe(1);
    expect(byAgent.err[0]).toContain('HTTP 403');
    const badToken = await run(runApprovalsCommand, ['list'], 'not-a-token');
    expect(badToken.code).toBe(1);
    expect(badToken.err[0]).toContain('HTTP 401 invalid-token');
    await h.broker.withdraw(ticket.id, 'test over');
  });

  test('an unreachable admin API is a clear error', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runApprovalsCommand(['list', '--admin', 'http://127.0.0.1:9'], (l) => out.push(l), { err: (l) => err.push(l), env: { TRACEGATE_ADMIN_TOKEN: 'x' } });
    expect(code).toBe(1);
    expect(err[0]).toContain('cannot reach the admin API at http://127.0.0.1:9');
  });
});

describe('tracegate revoke', () => {
  test('revokes a subject, ends its session and prints the revocation', async () => {
    h.live.add('cli-live', agent);
    const { code, out } = await run(runRevokeCommand, ['--subject', 'agent-a', '--until', '1h', '--reason', 'cli test'], tokens.admin);
    expect(code).toBe(0);
    expect(out[0]).toMatch(/^revoked subject agent-a until \d{4}-\d{2}-\d{2}T.* \(revocation [0-9a-f-]+\); ended 1 session\(s\)$/);
    expect(h.live.ended.map((e) => [e.id, e.err.sqlstate])).toEqual([['cli-live', '57P01']]);
    expect(h.revocations.isRevoked(agent)).toBeDefined();
  });

  test('a reviewer cannot revoke', async () => {
    const { code, err } = await run(runRevokeCommand, ['--jti', 'x'], tokens.reviewer);
    expect(code).toBe(1);
    expect(err[0]).toContain('HTTP 403 forbidden');
  });
});
