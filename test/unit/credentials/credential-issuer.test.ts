// The credential issuer with the real approval broker, quota tracker and memory store:
// decisions and refusals, the quota, the request recorded before anything is handed
// out, exactly-once delivery however many polls race, expiry of what nobody collected,
// and requests visible to their requester only.
import pino from 'pino';
import { describe, expect, test } from 'vitest';
import { ApprovalBroker } from '../../../src/approvals/broker.js';
import { AuditUnavailableError } from '../../../src/audit/audit-unavailable-error.js';
import type { ApprovalStep, CredentialEvent } from '../../../src/audit/store.js';
import { parseCredential } from '../../../src/credentials/credential-secret.js';
import { CredentialIssuer, type RequestAnswer } from '../../../src/credentials/credential-issuer.js';
import { MemoryCredentialStore } from '../../../src/credentials/memory-credential-store.js';
import type { Identity } from '../../../src/identity.js';
import { NOT_ENTITLED } from '../../../src/policy/decision.js';
import { parsePolicy } from '../../../src/policy/load.js';
import { QuotaTracker } from '../../../src/policy/quota.js';
import type { TraceFacts } from '../../../src/upstream/lookups.js';

const POLICY = parsePolicy(
  `version: 1
traceTables:
  - { table: public.traces, key: trace_id, owner: agent_id, risk: risk }
rules:
  - name: agents
    groups: [ai-agents]
    entitlement: { owner: { claim: sub } }
    quotas: { grantsPerMinute: 3 }
    grantTtl: 20s
    approval: { when: { risk: [high] }, approvers: { groups: [security] }, timeout: 10m }
`,
  'credentials.yaml',
  { env: {} },
);

const TRACES: Record<string, TraceFacts> = {
  low: { exists: true, owner: 'agent-a', risk: 'low' },
  high: { exists: true, owner: 'agent-a', risk: 'high' },
  theirs: { exists: true, owner: 'agent-b', risk: 'low' },
};

function who(subject: string, groups: string[], expiresAt = Number.POSITIVE_INFINITY): Identity {
  return { subject, groups, claims: { sub: subject }, jti: `jti-${subject}`, expiresAt, tokenHash: `hash-${subject}` };
}
const agent = who('agent-a', ['ai-agents']);
const reviewer = who('reviewer', ['security']);

class Recorder {
  readonly events: CredentialEvent[] = [];
  readonly steps: ApprovalStep[] = [];
  /** true: every credential event fails; a type: only events of that type. */
  failing: boolean | CredentialEvent['type'] = false;
  async recordCredentialEvent(event: CredentialEvent): Promise<void> {
    if (this.failing === true || this.failing === event.type) throw new AuditUnavailableError('the audit store is down');
    this.events.push(event);
  }
  async recordApprovalStep(step: ApprovalStep): Promise<void> {
    if (this.failing === true) throw new AuditUnavailableError('the audit store is down');
    this.steps.push(step);
  }
  types(id: string): string[] {
    return this.events.filter((e) => e.credentialId === id).map((e) => e.type);
  }
}

function setup() {
  const clock = { at: 1_700_000_000_000 };
  const now = (): number => clock.at;
  const recorder = new Recorder();
  const approvals = new ApprovalBroker({ recorder, now });
  const store = new MemoryCredentialStore();
  const lookups: string[] = [];
  const issuer = new CredentialIssuer({
    policy: () => POLICY,
    traceFacts: async (_table, traceId) => {
      lookups.push(traceId);
      return TRACES[traceId] ?? { exists: false };
    },
    quotas: new QuotaTracker(),
    approvals,
    store,
    recorder,
    log: pino({ level: 'silent' }),
    now,
  });
  return { clock, recorder, approvals, store, issuer, lookups };
}

function pendingOf(answer: RequestAnswer) {
  if (answer.kind !== 'pending') throw new Error(`expected pending, got ${answer.kind}`);
  return answer;
}

async function approvalRecorded(approvals: ApprovalBroker, id: string): Promise<void> {
  for (let i = 0; i < 100 && !(await approvals.get(id)); i++) await new Promise((r) => setTimeout(r, 1));
}

describe('request', () => {
  test('an allowed trace gets a credential at once, recorded before it is handed out', async () => {
    const { issuer, recorder, store, clock } = setup();
    const answer = await issuer.request(agent, { traceId: 'low', reason: 'summarise' });
    if (answer.kind !== 'issued') throw new Error(answer.kind);
    const { issued } = answer;
    expect(parseCredential(issued.credential)?.id).toBe(issued.id);
    expect(issued).toMatchObject({ traceId: 'low', rule: 'agents', approvalId: null, expiresAt: clock.at + 20_000 });
    expect(recorder.types(issued.id)).toEqual(['requested', 'issued']);
    expect(recorder.events[0]?.detail).toBe('allowed under rule agents: single-trace read under rule agents; reason given: summarise');
    expect(JSON.stringify(recorder.events)).not.toContain(parseCredential(issued.credential)?.secret);
    expect(await store.state(issued.id)).toBe('issued');
  });

  test('the credential never outlives the token it is handed to', async () => {
    const { issuer, clock } = setup();
    const answer = await issuer.request(who('agent-a', ['ai-agents'], clock.at + 5_000), { traceId: 'low', reason: 'r' });
    expect(answer.kind === 'issued' && answer.issued.expiresAt).toBe(clock.at + 5_000);
  });

  test('someone else\'s trace and an unknown trace get the same refusal, after the same lookup', async () => {
    const { issuer, lookups } = setup();
    const theirs = await issuer.request(agent, { traceId: 'theirs', reason: 'r' });
    const unknown = await issuer.request(agent, { traceId: 'nope', reason: 'r' });
    expect({ ...theirs, id: '' }).toEqual({ ...unknown, id: '' });
    expect(theirs).toMatchObject({ kind: 'refused', code: 'not-entitled', message: NOT_ENTITLED });
    expect(lookups).toEqual(['theirs', 'nope']);
  });

  test('a caller no rule matches is refused as such', async () => {
    const { issuer } = setup();
    expect(await issuer.request(who('x', ['nobody']), { traceId: 'low', reason: 'r' })).toMatchObject({ kind: 'refused', code: 'no-rule' });
  });

  test('the rule\'s quota counts credentials; over it is refused with a retry time', async () => {
    const { issuer, recorder } = setup();
    for (let i = 0; i < 3; i++) expect((await issuer.request(agent, { traceId: 'low', reason: 'r' })).kind).toBe('issued');
    const over = await issuer.request(agent, { traceId: 'low', reason: 'r' });
    expect(over).toMatchObject({ kind: 'refused', code: 'quota-exceeded', message: expect.stringMatching(/quota exceeded/) });
    expect(over.kind === 'refused' && over.retryAfterMs).toBeGreaterThan(0);
    expect(recorder.events.at(-1)).toMatchObject({ type: 'requested', detail: expect.stringMatching(/^refused under rule agents: quota exceeded/) });
  });

  test('when the request cannot be recorded nothing is issued and no approval is left waiting', async () => {
    const { issuer, recorder, approvals } = setup();
    recorder.failing = true;
    await expect(issuer.request(agent, { traceId: 'low', reason: 'r' })).rejects.toBeInstanceOf(AuditUnavailableError);
    await expect(issuer.request(agent, { traceId: 'high', reason: 'r' })).rejects.toBeInstanceOf(AuditUnavailableError);
    await new Promise((r) => setTimeout(r, 5));
    expect(await approvals.list()).toEqual([]);
  });

  test('when the issue cannot be recorded the credential is not handed out, now or later', async () => {
    const { issuer, recorder, store } = setup();
    recorder.failing = 'issued';
    await expect(issuer.request(agent, { traceId: 'low', reason: 'r' })).rejects.toBeInstanceOf(AuditUnavailableError);
    const id = recorder.events[0]?.credentialId as string;
    expect(recorder.types(id)).toEqual(['requested']);
    expect(await store.state(id)).toBeUndefined();
    recorder.failing = false;
    expect(await issuer.status(agent, id, 0)).toMatchObject({ state: 'failed' });
  });
});

describe('approval', () => {
  test('pending until approved; the credential is handed out exactly once however many polls race', async () => {
    const { issuer, approvals, recorder } = setup();
    const pending = pendingOf(await issuer.request(agent, { traceId: 'high', reason: 'incident' }));
    expect(await issuer.status(agent, pending.id, 0)).toMatchObject({ state: 'pending', approvalId: pending.approvalId });
    await approvalRecorded(approvals, pending.approvalId);
    const polls = Array.from({ length: 5 }, () => issuer.status(agent, pending.id, 1_000));
    await approvals.approve(pending.approvalId, reviewer);
    const states = (await Promise.all(polls)).map((s) => s?.state);
    expect(states.filter((s) => s === 'issued')).toHaveLength(1);
    expect(states.filter((s) => s === 'delivered')).toHaveLength(4);
    expect(recorder.types(pending.id)).toEqual(['requested', 'issued']);
  });

  test('a denial is final and says who denied', async () => {
    const { issuer, approvals } = setup();
    const pending = pendingOf(await issuer.request(agent, { traceId: 'high', reason: 'r' }));
    await approvalRecorded(approvals, pending.approvalId);
    await approvals.deny(pending.approvalId, reviewer, 'no');
    expect(await issuer.status(agent, pending.id, 0)).toMatchObject({ state: 'denied', message: `approval request ${pending.approvalId} was denied by reviewer: no` });
  });

  test('granted but not collected within its TTL: expired, and recorded so', async () => {
    const { issuer, approvals, recorder, clock } = setup();
    const pending = pendingOf(await issuer.request(agent, { traceId: 'high', reason: 'r' }));
    await approvalRecorded(approvals, pending.approvalId);
    await approvals.approve(pending.approvalId, reviewer);
    clock.at += 20_000;
    await issuer.sweep();
    expect(await issuer.status(agent, pending.id, 0)).toMatchObject({ state: 'expired' });
    expect(recorder.types(pending.id)).toEqual(['requested', 'expired']);
  });

  test('a request is visible to its requester only', async () => {
    const { issuer } = setup();
    const pending = pendingOf(await issuer.request(agent, { traceId: 'high', reason: 'r' }));
    expect(await issuer.status(who('agent-b', ['ai-agents']), pending.id, 0)).toBeUndefined();
    expect(await issuer.status(agent, 'tgc_00000000000000000000', 0)).toBeUndefined();
  });

  test('close answers every long poll at once', async () => {
    const { issuer } = setup();
    const pending = pendingOf(await issuer.request(agent, { traceId: 'high', reason: 'r' }));
    const poll = issuer.status(agent, pending.id, 60_000);
    issuer.close();
    expect(await poll).toMatchObject({ state: 'pending' });
  });
});
