// The approval broker's rules, each with the abuse it stops: approvers outside the
// rule's groups, self-approval, one approver counted twice toward a quorum, the vote of
// an approver revoked since, changing a settled request; plus timeout, withdrawal,
// recording before effect, and events.
import { describe, expect, test } from 'vitest';
import { ApprovalError } from '../../../src/approvals/approval-error.js';
import type { ApprovalEvent, ApprovalRequestInput } from '../../../src/approvals/approval.js';
import { ApprovalBroker } from '../../../src/approvals/broker.js';
import type { ApprovalStep } from '../../../src/audit/store.js';
import type { Identity } from '../../../src/identity.js';

function identity(subject: string, groups: string[]): Identity {
  return { subject, groups, claims: { sub: subject }, jti: `jti-${subject}`, expiresAt: Date.now() + 3_600_000, tokenHash: `hash-${subject}` };
}

const agent = identity('agent-a', ['ai-agents']);
const alice = identity('alice', ['security']);
const bob = identity('bob', ['security']);
const mallory = identity('mallory', ['ai-agents']);

/** A clock and timers the test moves by hand. */
class ManualTime {
  at = 1_000_000;
  private readonly pending = new Map<number, { due: number; fn: () => void }>();
  private next = 1;
  readonly now = (): number => this.at;
  readonly timers = {
    setTimeout: (fn: () => void, ms: number): unknown => {
      const id = this.next++;
      this.pending.set(id, { due: this.at + ms, fn });
      return id;
    },
    clearTimeout: (handle: unknown): void => {
      this.pending.delete(handle as number);
    },
  };
  advance(ms: number): void {
    this.at += ms;
    for (const [id, t] of [...this.pending]) {
      if (t.due > this.at) continue;
      this.pending.delete(id);
      t.fn();
    }
  }
  get scheduled(): number {
    return this.pending.size;
  }
}

class MemoryRecorder {
  readonly steps: ApprovalStep[] = [];
  failing = false;
  async recordApprovalStep(step: ApprovalStep): Promise<void> {
    if (this.failing) throw new Error('disk full');
    this.steps.push(step);
  }
  types(id: string): string[] {
    return this.steps.filter((s) => s.approvalId === id).map((s) => s.step.type);
  }
}

function setup() {
  const time = new ManualTime();
  const recorder = new MemoryRecorder();
  let n = 0;
  const broker = new ApprovalBroker({ recorder, now: time.now, timers: time.timers, newId: () => `apr-${++n}` });
  const events: ApprovalEvent[] = [];
  broker.subscribe((e) => events.push(e));
  return { time, recorder, broker, events };
}

function input(overrides: Partial<ApprovalRequestInput> = {}): ApprovalRequestInput {
  return {
    sessionId: 'sess-1',
    statementId: 'stmt-1',
    requester: agent,
    traceId: 'trace-7',
    rule: 'high-risk',
    statement: "SELECT * FROM traces WHERE trace_id = 'trace-7'",
    reason: 'trace risk is high',
    approverGroups: ['security'],
    quorum: 1,
    timeoutMs: 60_000,
    ...overrides,
  };
}

/** Lets the recorder's promise settle: the request is then recorded and visible. */
const recorded = (): Promise<void> => new Promise((r) => setImmediate(r));

async function refusal(p: Promise<unknown>): Promise<ApprovalError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ApprovalError);
    return err as ApprovalError;
  }
  throw new Error('expected an ApprovalError');
}

describe('ApprovalBroker', () => {
  test('one eligible approval releases the request, recorded step by step', async () => {
    const { broker, recorder } = setup();
    const ticket = broker.request(input());
    expect(ticket.id).toBe('apr-1');
    expect(recorder.types('apr-1')).toEqual(['requested']);
    const view = await broker.approve(ticket.id, alice, 'looks fine');
    expect(view.state).toBe('approved');
    expect(await ticket.outcome).toEqual({ kind: 'approved', approvers: ['alice'] });
    expect(recorder.types('apr-1')).toEqual(['requested', 'approved']);
    expect(recorder.steps[1]).toMatchObject({ sessionId: 'sess-1', statementId: 'stmt-1', step: { type: 'approved', by: 'alice' } });
    expect(await broker.list()).toEqual([]);
  });

  test('a request the store cannot record never runs: the outcome rejects and the request is gone', async () => {
    const { broker, recorder, events } = setup();
    recorder.failing = true;
    const ticket = broker.request(input());
    const early = broker.approve(ticket.id, alice);
    await expect(ticket.listed).rejects.toThrow('disk full');
    await expect(ticket.outcome).rejects.toThrow('disk full');
    expect(await refusal(early)).toMatchObject({ status: 409, code: 'already-decided' });
    expect(await refusal(broker.approve(ticket.id, alice))).toMatchObject({ status: 404 });
    expect(await broker.list()).toEqual([]);
    expect(broker.pending).toBe(0);
    expect(events).toEqual([]);
  });

  test('until the request is recorded nobody sees it, and an early approval waits for the record', async () => {
    const time = new ManualTime();
    const steps: ApprovalStep[] = [];
    let commit!: () => void;
    const committed = new Promise<void>((r) => {
      commit = r;
    });
    const recorder = {
      recordApprovalStep: async (step: ApprovalStep) => {
        if (step.step.type === 'requested') await committed;
        steps.push(step);
      },
    };
    const broker = new ApprovalBroker({ recorder, now: time.now, timers: time.timers });
    const ticket = broker.request(input());
    let listed = false;
    void ticket.listed.then(() => (listed = true));
    expect(await broker.list()).toEqual([]);
    expect(await broker.get(ticket.id)).toBeUndefined();
    const approval = broker.approve(ticket.id, alice);
    await new Promise((r) => setImmediate(r));
    expect(steps).toEqual([]);
    expect(listed).toBe(false);
    commit();
    await ticket.listed;
    expect((await broker.list()).map((v) => v.id)).toEqual([ticket.id]);
    expect((await approval).state).toBe('approved');
    expect(steps.map((s) => s.step.type)).toEqual(['requested', 'approved']);
  });

  test('an approver outside the rule groups is refused (403)', async () => {
    const { broker } = setup();
    const { id } = broker.request(input());
    const err = await refusal(broker.approve(id, mallory));
    expect(err).toMatchObject({ status: 403, code: 'not-an-approver' });
    expect(err.message).toContain('security');
  });

  test('the requester cannot approve or deny their own request, even in an approver group (403)', async () => {
    const { broker, recorder } = setup();
    const selfApprover = identity('agent-a', ['ai-agents', 'security']);
    const { id } = broker.request(input({ requester: selfApprover }));
    expect(await refusal(broker.approve(id, selfApprover))).toMatchObject({ status: 403, code: 'self-approval' });
    expect(await refusal(broker.deny(id, selfApprover))).toMatchObject({ status: 403, code: 'self-approval' });
    expect(recorder.types(id)).toEqual(['requested']);
    expect((await broker.get(id))?.state).toBe('pending');
  });

  test('a quorum of 2 needs two distinct approvers: the same approver twice counts once', async () => {
    const { broker, recorder } = setup();
    const ticket = broker.request(input({ quorum: 2 }));
    const first = await broker.approve(ticket.id, alice);
    expect(first).toMatchObject({ state: 'pending', approvals: [{ by: 'alice' }] });
    const again = await refusal(broker.approve(ticket.id, alice));
    expect(again).toMatchObject({ status: 409, code: 'already-voted' });
    // The same subject with a fresh token (another jti) is still the same approver.
    expect(await refusal(broker.approve(ticket.id, { ...alice, jti: 'other-token' }))).toMatchObject({ code: 'already-voted' });
    expect((await broker.get(ticket.id))?.state).toBe('pending');
    const second = await broker.approve(ticket.id, bob);
    expect(second.state).toBe('approved');
    expect(await ticket.outcome).toEqual({ kind: 'approved', approvers: ['alice', 'bob'] });
    expect(recorder.types(ticket.id)).toEqual(['requested', 'approved', 'approved']);
  });

  // The attack: an approver whose access is revoked (a stolen account) has already
  // voted; one more approver must not complete a quorum of two with that vote.
  test('a vote by an approver revoked before the quorum is met no longer counts', async () => {
    const revoked = new Set<string>();
    const time = new ManualTime();
    const broker = new ApprovalBroker({ recorder: new MemoryRecorder(), now: time.now, timers: time.timers, approverRevoked: (a) => revoked.has(a.subject) });
    const ticket = broker.request(input({ quorum: 2 }));
    await recorded();
    await broker.approve(ticket.id, alice);
    revoked.add('alice');
    expect((await broker.approve(ticket.id, bob)).state).toBe('pending');
    const carol = identity('carol', ['security']);
    expect((await broker.approve(ticket.id, carol)).state).toBe('approved');
    expect(await ticket.outcome).toEqual({ kind: 'approved', approvers: ['bob', 'carol'] });
  });

  test('a vote cast with a token revoked by its jti no longer counts', async () => {
    const revokedJtis = new Set<string>();
    const time = new ManualTime();
    const broker = new ApprovalBroker({
      recorder: new MemoryRecorder(),
      now: time.now,
      timers: time.timers,
      approverRevoked: (a) => a.jti !== undefined && revokedJtis.has(a.jti),
    });
    const ticket = broker.request(input({ quorum: 2 }));
    await recorded();
    await broker.approve(ticket.id, alice);
    revokedJtis.add('jti-alice');
    expect((await broker.approve(ticket.id, bob)).state).toBe('pending');
    const carol = identity('carol', ['security']);
    expect((await broker.approve(ticket.id, carol)).state).toBe('approved');
    expect(await ticket.outcome).toEqual({ kind: 'approved', approvers: ['bob', 'carol'] });
  });

  test('concurrent approvals by the same approver count once', async () => {
    const { broker } = setup();
    const ticket = broker.request(input({ quorum: 2 }));
    const results = await Promise.allSettled([broker.approve(ticket.id, alice), broker.approve(ticket.id, alice)]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect((await broker.get(ticket.id))?.state).toBe('pending');
  });

  test('one denial denies, with its reason, even when a quorum is pending', async () => {
    const { broker, recorder } = setup();
    const ticket = broker.request(input({ quorum: 2 }));
    await broker.approve(ticket.id, alice);
    const view = await broker.deny(ticket.id, bob, 'not for this trace');
    expect(view.state).toBe('denied');
    expect(await ticket.outcome).toEqual({ kind: 'denied', by: 'bob', reason: 'not for this trace' });
    expect(recorder.steps.at(-1)?.step).toEqual({ type: 'denied', by: 'bob', reason: 'not for this trace' });
  });

  test('an approver may still deny after approving (a change of mind toward refusal)', async () => {
    const { broker } = setup();
    const ticket = broker.request(input({ quorum: 2 }));
    await broker.approve(ticket.id, alice);
    expect((await broker.deny(ticket.id, alice, 'on reflection')).state).toBe('denied');
    expect(await ticket.outcome).toEqual({ kind: 'denied', by: 'alice', reason: 'on reflection' });
  });

  test('a settled request cannot be changed (409), whatever settled it', async () => {
    const { broker, time } = setup();
    const approved = broker.request(input());
    await broker.approve(approved.id, alice);
    expect(await refusal(broker.deny(approved.id, bob))).toMatchObject({ status: 409, code: 'already-decided' });
    expect(await refusal(broker.approve(approved.id, bob))).toMatchObject({ status: 409 });

    const denied = broker.request(input());
    await broker.deny(denied.id, alice);
    expect(await refusal(broker.approve(denied.id, bob))).toMatchObject({ status: 409 });

    const withdrawn = broker.request(input());
    expect(await broker.withdraw(withdrawn.id, 'client disconnected')).toBe(true);
    expect(await refusal(broker.approve(withdrawn.id, alice))).toMatchObject({ status: 409 });

    const timedOut = broker.request(input({ timeoutMs: 1000 }));
    time.advance(1000);
    expect(await timedOut.outcome).toEqual({ kind: 'timed-out' });
    expect(await refusal(broker.approve(timedOut.id, alice))).toMatchObject({ status: 409 });
  });

  test('an unknown id is 404', async () => {
    const { broker } = setup();
    expect(await refusal(broker.approve('nope', alice))).toMatchObject({ status: 404, code: 'not-found' });
    expect(await broker.withdraw('nope', 'x')).toBe(false);
    expect(await broker.get('nope')).toBeUndefined();
  });

  test('timeout settles as timed-out, recorded, and clears nothing it should keep', async () => {
    const { broker, time, recorder, events } = setup();
    const ticket = broker.request(input({ timeoutMs: 5000 }));
    expect(ticket.expiresAt).toBe(time.at + 5000);
    await recorded();
    time.advance(4999);
    expect((await broker.get(ticket.id))?.state).toBe('pending');
    time.advance(1);
    expect(await ticket.outcome).toEqual({ kind: 'timed-out' });
    await Promise.resolve();
    expect(recorder.types(ticket.id)).toEqual(['requested', 'timed-out']);
    expect(events.map((e) => e.type)).toEqual(['requested', 'decided']);
    expect(broker.pending).toBe(0);
  });

  test('past the deadline an approval is refused even before the timer ran', async () => {
    const { broker, time } = setup();
    const ticket = broker.request(input({ timeoutMs: 1000 }));
    time.at += 1000; // the clock moves, the timer has not fired yet
    expect(await refusal(broker.approve(ticket.id, alice))).toMatchObject({ status: 409, code: 'already-decided' });
    expect(await ticket.outcome).toEqual({ kind: 'timed-out' });
  });

  test('withdraw (client gone) settles with the reason and stops the timer', async () => {
    const { broker, time, recorder } = setup();
    const ticket = broker.request(input());
    expect(time.scheduled).toBe(1);
    expect(await broker.withdraw(ticket.id, 'client disconnected')).toBe(true);
    expect(await ticket.outcome).toEqual({ kind: 'withdrawn', reason: 'client disconnected' });
    expect(time.scheduled).toBe(0);
    expect(recorder.steps.at(-1)?.step).toEqual({ type: 'withdrawn', reason: 'client disconnected' });
    expect(await broker.withdraw(ticket.id, 'again')).toBe(false);
  });

  test('an approver step the store cannot record changes nothing (503)', async () => {
    const { broker, recorder } = setup();
    const ticket = broker.request(input());
    recorder.failing = true;
    expect(await refusal(broker.approve(ticket.id, alice))).toMatchObject({ status: 503, code: 'unrecorded' });
    expect((await broker.get(ticket.id))?.state).toBe('pending');
    recorder.failing = false;
    expect((await broker.approve(ticket.id, alice)).state).toBe('approved');
  });

  test('a timeout the store cannot record still stops the statement, and says so', async () => {
    const { broker, recorder, time, events } = setup();
    const ticket = broker.request(input({ timeoutMs: 10 }));
    recorder.failing = true;
    time.advance(10);
    expect(await ticket.outcome).toEqual({ kind: 'timed-out' });
    await new Promise((r) => setImmediate(r));
    expect(events.at(-1)).toMatchObject({ type: 'unrecorded', approvalId: ticket.id, step: 'timed-out' });
  });

  test('each approval covers one execution: a second execution is a new request', async () => {
    const { broker } = setup();
    const first = broker.request(input());
    await broker.approve(first.id, alice);
    const second = broker.request(input());
    await recorded();
    expect(second.id).not.toBe(first.id);
    expect((await broker.get(second.id))?.state).toBe('pending');
    expect((await broker.list()).map((a) => a.id)).toEqual([second.id]);
  });

  test('list shows pending requests oldest first with their age; no token material', async () => {
    const { broker, time } = setup();
    const a = broker.request(input({ statement: 'SELECT 1 /* eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl */' }));
    time.advance(1500);
    const b = broker.request(input({ traceId: 'trace-8' }));
    time.advance(500);
    await recorded();
    const list = await broker.list();
    expect(list.map((v) => [v.id, v.ageMs])).toEqual([
      [a.id, 2000],
      [b.id, 500],
    ]);
    const first = list[0];
    expect(first?.requester).toEqual({ subject: 'agent-a', groups: ['ai-agents'] });
    expect(first?.reason).toBe('trace risk is high');
    expect(first?.statement).not.toContain('eyJ');
    expect(JSON.stringify(list)).not.toContain('hash-agent-a');
  });

  test('events: requested, step, decided, with the pending count for the gauge', async () => {
    const { broker, events } = setup();
    const t1 = broker.request(input({ quorum: 2 }));
    const t2 = broker.request(input());
    await broker.approve(t1.id, alice);
    await broker.approve(t1.id, bob);
    await broker.deny(t2.id, alice);
    expect(events.map((e) => [e.type, 'pending' in e ? e.pending : null])).toEqual([
      ['requested', 1],
      ['requested', 2],
      ['step', 2],
      ['step', 1],
      ['decided', 1],
      ['step', 0],
      ['decided', 0],
    ]);
  });

  test('a throwing listener does not break the decision', async () => {
    const { broker } = setup();
    broker.subscribe(() => {
      throw new Error('listener bug');
    });
    const ticket = broker.request(input());
    await broker.approve(ticket.id, alice);
    expect((await ticket.outcome).kind).toBe('approved');
  });

  test('close withdraws every pending request', async () => {
    const { broker } = setup();
    const ticket = broker.request(input());
    await broker.close();
    expect(await ticket.outcome).toEqual({ kind: 'withdrawn', reason: 'tracegate is shutting down' });
    expect(() => broker.request(input())).toThrow('closed');
  });

  test('bad requests are refused at once', () => {
    const { broker } = setup();
    expect(() => broker.request(input({ quorum: 0 }))).toThrow(RangeError);
    expect(() => broker.request(input({ approverGroups: [] }))).toThrow(RangeError);
    expect(() => broker.request(input({ timeoutMs: 2 ** 31 }))).toThrow(RangeError);
  });

  test('settled requests are forgotten after the retention time (then 404)', async () => {
    const time = new ManualTime();
    const broker = new ApprovalBroker({ recorder: new MemoryRecorder(), now: time.now, timers: time.timers, retainSettledMs: 1000 });
    const old = broker.request(input());
    await broker.approve(old.id, alice);
    time.advance(1001);
    broker.request(input());
    expect(await broker.get(old.id)).toBeUndefined();
  });
});
