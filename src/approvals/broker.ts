// The in-memory ApprovalService for a single proxy instance. Each request is a small
// state machine: pending → approved | denied | timed-out | withdrawn, and a settled
// request never changes again (409).
//
// Rules enforced here, not in the callers, so the API, the CLI and the web page cannot
// diverge: the approver must be in one of the request's approver groups; nobody acts on
// their own request (same subject); a quorum of N needs N DISTINCT subjects, so the same
// approver twice counts once (409); one denial by an eligible approver denies, even one
// who approved before.
//
// Ordering: every action on one request runs one at a time (a per-request promise
// chain), so two approvers racing, or an approval racing the timeout, see each other's
// result. The chain starts with recording the request itself: until that is committed
// the request is invisible (not listed, not approvable), and if it cannot be recorded
// the outcome rejects with the store's error, so the statement never runs unrecorded.
// An approver's step is recorded durably BEFORE it takes effect: if the audit store
// refuses, nothing changes and the approver is told (503). The system's steps (timeout,
// withdrawal) only ever stop a statement, so they take effect at once and a failure to
// record them is reported as an `unrecorded` event for the log.
import { randomUUID } from 'node:crypto';
import type { ApprovalStep } from '../audit/store.js';
import { scrubTokens } from '../audit/token-scrub.js';
import type { Identity } from '../identity.js';
import { ApprovalError } from './approval-error.js';
import type {
  ApprovalEvent,
  ApprovalOutcome,
  ApprovalRecorder,
  ApprovalRequestInput,
  ApprovalService,
  ApprovalState,
  ApprovalTicket,
  ApprovalView,
  ApprovalVote,
  Approver,
} from './approval.js';

export interface BrokerTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface ApprovalBrokerOptions {
  readonly recorder: ApprovalRecorder;
  readonly now?: () => number;
  readonly timers?: BrokerTimers;
  readonly newId?: () => string;
  /** How long a settled request stays answerable (409 rather than 404); default 15 min. */
  readonly retainSettledMs?: number;
  /** At most this many settled requests are kept; the oldest go first. Default 10 000. */
  readonly maxSettled?: number;
  /**
   * Whether an approver has been revoked since voting, by subject or by the jti of the
   * token the vote was cast with: such a vote no longer counts.
   */
  readonly approverRevoked?: (approver: Approver) => boolean;
}

// setTimeout fires at once for delays past 2^31-1 ms, which would time every request out
// immediately: refuse such a timeout instead.
const MAX_TIMEOUT_MS = 2_147_483_647;

const nodeTimers: BrokerTimers = {
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    // The waiting client's socket keeps the process alive; a pending timer must not.
    t.unref();
    return t;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

interface Entry {
  readonly input: Omit<ApprovalRequestInput, 'statementId' | 'reason'>;
  readonly id: string;
  readonly statementId: string | null;
  readonly reason: string | null;
  readonly requestedAt: number;
  readonly expiresAt: number;
  readonly votes: Map<string, ApprovalVote>;
  /** The jti of the token each approval was cast with, by subject (for revocation). */
  readonly voteJtis: Map<string, string | undefined>;
  /** Set once the `requested` step is committed; until then nobody sees the request. */
  recorded: boolean;
  /** Why the `requested` step could not be recorded. */
  failure: unknown;
  state: ApprovalState;
  outcome: ApprovalOutcome | null;
  decidedAt: number | null;
  timer: unknown;
  /** Tail of this request's action chain. */
  lock: Promise<void>;
  resolve: (outcome: ApprovalOutcome) => void;
  reject: (err: unknown) => void;
}

const STATE_WORDS: Record<ApprovalState, string> = {
  pending: 'pending',
  approved: 'already approved',
  denied: 'already denied',
  'timed-out': 'timed out',
  withdrawn: 'withdrawn by the client',
};

export class ApprovalBroker implements ApprovalService {
  private readonly entries = new Map<string, Entry>();
  private readonly listeners = new Set<(event: ApprovalEvent) => void>();
  private readonly recorder: ApprovalRecorder;
  private readonly now: () => number;
  private readonly timers: BrokerTimers;
  private readonly newId: () => string;
  private readonly retainSettledMs: number;
  private readonly maxSettled: number;
  private readonly approverRevoked: (approver: Approver) => boolean;
  private pendingCount = 0;
  private closed = false;

  constructor(opts: ApprovalBrokerOptions) {
    this.recorder = opts.recorder;
    this.now = opts.now ?? Date.now;
    this.timers = opts.timers ?? nodeTimers;
    this.newId = opts.newId ?? randomUUID;
    this.retainSettledMs = opts.retainSettledMs ?? 15 * 60_000;
    this.maxSettled = opts.maxSettled ?? 10_000;
    this.approverRevoked = opts.approverRevoked ?? (() => false);
  }

  get pending(): number {
    return this.pendingCount;
  }

  request(input: ApprovalRequestInput): ApprovalTicket {
    if (this.closed) throw new Error('the approval broker is closed');
    checkInput(input);
    const id = this.newId();
    const requestedAt = this.now();
    let resolve!: (outcome: ApprovalOutcome) => void;
    let reject!: (err: unknown) => void;
    const outcome = new Promise<ApprovalOutcome>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // The gate awaits the outcome after sending its notice; until then a rejection (the
    // request could not be recorded) must not count as unhandled.
    outcome.catch(() => undefined);
    const entry: Entry = {
      input: {
        sessionId: input.sessionId,
        requester: input.requester,
        traceId: input.traceId,
        rule: input.rule,
        statement: scrubTokens(input.statement),
        approverGroups: Object.freeze([...input.approverGroups]),
        quorum: input.quorum,
        timeoutMs: input.timeoutMs,
      },
      id,
      statementId: input.statementId ?? null,
      reason: input.reason ?? null,
      requestedAt,
      expiresAt: requestedAt + input.timeoutMs,
      votes: new Map(),
      voteJtis: new Map(),
      recorded: false,
      failure: undefined,
      state: 'pending',
      outcome: null,
      decidedAt: null,
      timer: undefined,
      lock: Promise.resolve(),
      resolve,
      reject,
    };
    this.pruneSettled(requestedAt);
    this.entries.set(id, entry);
    entry.timer = this.timers.setTimeout(() => {
      void this.exclusive(entry, () => this.settleBySystem(entry, { kind: 'timed-out' }));
    }, input.timeoutMs);
    // First in the request's action chain: no approval, denial or timeout is applied
    // before the request itself is durably recorded.
    entry.lock = this.recordRequest(entry);
    const listed = entry.lock.then(() => {
      if (!entry.recorded) throw entry.failure;
    });
    listed.catch(() => undefined);
    return { id, expiresAt: entry.expiresAt, listed, outcome };
  }

  approve(id: string, approver: Identity, reason?: string): Promise<ApprovalView> {
    return this.vote(id, approver, 'approve', reason);
  }

  deny(id: string, approver: Identity, reason?: string): Promise<ApprovalView> {
    return this.vote(id, approver, 'deny', reason);
  }

  async withdraw(id: string, reason: string): Promise<boolean> {
    const entry = this.entries.get(id);
    if (!entry) return false;
    return this.exclusive(entry, () => this.settleBySystem(entry, { kind: 'withdrawn', reason }));
  }

  async get(id: string): Promise<ApprovalView | undefined> {
    const entry = this.entries.get(id);
    return entry?.recorded ? this.view(entry, this.now()) : undefined;
  }

  async list(): Promise<readonly ApprovalView[]> {
    const at = this.now();
    const out: ApprovalView[] = [];
    // Map iteration is insertion order, which is request order: oldest first.
    for (const entry of this.entries.values()) if (entry.recorded && entry.state === 'pending') out.push(this.view(entry, at));
    return out;
  }

  subscribe(listener: (event: ApprovalEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Shutdown: every pending request is withdrawn, so no client waits on a dead broker. */
  async close(reason = 'tracegate is shutting down'): Promise<void> {
    this.closed = true;
    const pending = [...this.entries.values()].filter((e) => e.state === 'pending');
    await Promise.all(pending.map((e) => this.exclusive(e, () => this.settleBySystem(e, { kind: 'withdrawn', reason }))));
  }

  private async vote(id: string, approver: Identity, vote: 'approve' | 'deny', reason: string | undefined): Promise<ApprovalView> {
    const entry = this.entries.get(id);
    if (!entry) throw new ApprovalError('not-found', `no approval request ${id}`);
    return this.exclusive(entry, async () => {
      const { input } = entry;
      if (!approver.groups.some((g) => input.approverGroups.includes(g))) {
        throw new ApprovalError(
          'not-an-approver',
          `${approver.subject} is not in an approver group of request ${id} (rule ${input.rule} needs one of: ${input.approverGroups.join(', ')})`,
        );
      }
      if (approver.subject === input.requester.subject) {
        throw new ApprovalError('self-approval', `${approver.subject} cannot approve or deny their own request ${id}`);
      }
      const at = this.now();
      // The timer may not have run yet (a busy loop, a fake clock): the deadline rules.
      if (entry.state === 'pending' && at >= entry.expiresAt) await this.settleBySystem(entry, { kind: 'timed-out' });
      if (entry.state !== 'pending') {
        throw new ApprovalError('already-decided', `approval request ${id} is ${STATE_WORDS[entry.state]} and cannot be changed`);
      }
      // Denying after one's own approval is allowed: a change of mind toward refusal.
      if (vote === 'approve' && entry.votes.has(approver.subject)) {
        throw new ApprovalError(
          'already-voted',
          `${approver.subject} already approved request ${id}; it needs ${input.quorum - entry.votes.size} more distinct approver(s)`,
        );
      }
      const note = reason === undefined || reason === '' ? null : reason;
      try {
        await this.recorder.recordApprovalStep({
          approvalId: id,
          at,
          sessionId: input.sessionId,
          statementId: entry.statementId,
          step: vote === 'approve' ? { type: 'approved', by: approver.subject } : { type: 'denied', by: approver.subject, reason: note },
        });
      } catch (err) {
        throw new ApprovalError('unrecorded', `the ${vote === 'approve' ? 'approval' : 'denial'} of ${id} could not be recorded; nothing changed, try again`, {
          cause: err,
        });
      }
      if (vote === 'deny') {
        this.settle(entry, note === null ? { kind: 'denied', by: approver.subject } : { kind: 'denied', by: approver.subject, reason: note }, at);
      } else {
        entry.votes.set(approver.subject, { by: approver.subject, at, reason: note });
        entry.voteJtis.set(approver.subject, approver.jti);
        // An approver revoked after voting (the subject, or the token the vote was cast
        // with) no longer stands behind the read: the quorum counts the votes of
        // approvers still in good standing.
        const standing = [...entry.votes.keys()].filter((subject) => !this.approverRevoked({ subject, jti: entry.voteJtis.get(subject) }));
        if (standing.length >= input.quorum) this.settle(entry, { kind: 'approved', approvers: standing }, at);
      }
      const view = this.view(entry, at);
      this.emit({ type: 'step', approval: view, by: approver.subject, vote, pending: this.pendingCount });
      if (entry.outcome) this.emit({ type: 'decided', approval: view, outcome: entry.outcome, pending: this.pendingCount });
      return view;
    });
  }

  /** Never rejects: a failure settles the request and rejects its outcome instead. */
  private async recordRequest(entry: Entry): Promise<void> {
    const { input } = entry;
    try {
      await this.recorder.recordApprovalStep({
        approvalId: entry.id,
        at: entry.requestedAt,
        sessionId: input.sessionId,
        statementId: entry.statementId,
        step: {
          type: 'requested',
          subject: input.requester.subject,
          traceId: input.traceId,
          rule: input.rule,
          approverGroups: [...input.approverGroups],
          quorum: input.quorum,
        },
      });
    } catch (err) {
      // Fail closed: an unrecorded request never runs; the gate sees the store's error
      // (58030) and the request disappears as if it had never been made.
      this.entries.delete(entry.id);
      entry.state = 'withdrawn';
      entry.outcome = { kind: 'withdrawn', reason: 'the request could not be recorded' };
      entry.decidedAt = this.now();
      this.timers.clearTimeout(entry.timer);
      entry.failure = err;
      entry.reject(err);
      return;
    }
    entry.recorded = true;
    this.pendingCount++;
    this.emit({ type: 'requested', approval: this.view(entry, this.now()), pending: this.pendingCount });
  }

  /** Timeout or withdrawal: takes effect whether or not it can be recorded. */
  private async settleBySystem(entry: Entry, outcome: Extract<ApprovalOutcome, { kind: 'timed-out' | 'withdrawn' }>): Promise<boolean> {
    if (entry.state !== 'pending') return false;
    const at = this.now();
    this.settle(entry, outcome, at);
    this.emit({ type: 'decided', approval: this.view(entry, at), outcome, pending: this.pendingCount });
    const step: ApprovalStep['step'] = outcome.kind === 'timed-out' ? { type: 'timed-out' } : { type: 'withdrawn', reason: outcome.reason };
    try {
      await this.recorder.recordApprovalStep({
        approvalId: entry.id,
        at,
        sessionId: entry.input.sessionId,
        statementId: entry.statementId,
        step,
      });
    } catch (error) {
      this.emit({ type: 'unrecorded', approvalId: entry.id, step: step.type, error });
    }
    return true;
  }

  private settle(entry: Entry, outcome: ApprovalOutcome, at: number): void {
    entry.state = outcome.kind;
    entry.outcome = outcome;
    entry.decidedAt = at;
    this.timers.clearTimeout(entry.timer);
    this.pendingCount--;
    entry.resolve(outcome);
  }

  private exclusive<T>(entry: Entry, fn: () => Promise<T>): Promise<T> {
    const run = entry.lock.then(fn);
    entry.lock = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private pruneSettled(at: number): void {
    let settled = 0;
    for (const entry of this.entries.values()) if (entry.state !== 'pending') settled++;
    for (const [id, entry] of this.entries) {
      if (entry.state === 'pending') continue;
      const old = entry.decidedAt !== null && at - entry.decidedAt > this.retainSettledMs;
      if (!old && settled < this.maxSettled) continue;
      this.entries.delete(id);
      settled--;
    }
  }

  private view(entry: Entry, at: number): ApprovalView {
    const { input } = entry;
    return {
      id: entry.id,
      state: entry.state,
      sessionId: input.sessionId,
      statementId: entry.statementId,
      requester: { subject: input.requester.subject, groups: [...input.requester.groups] },
      traceId: input.traceId,
      rule: input.rule,
      statement: input.statement,
      reason: entry.reason,
      approverGroups: input.approverGroups,
      quorum: input.quorum,
      approvals: [...entry.votes.values()],
      requestedAt: entry.requestedAt,
      expiresAt: entry.expiresAt,
      ageMs: Math.max(0, at - entry.requestedAt),
      decidedAt: entry.decidedAt,
      outcome: entry.outcome,
    };
  }

  private emit(event: ApprovalEvent): void {
    for (const listener of this.listeners) {
      // A failing listener (metrics, webhook, log) must not break the decision path.
      try {
        listener(event);
      } catch {
        continue;
      }
    }
  }
}

function checkInput(input: ApprovalRequestInput): void {
  if (!Number.isInteger(input.quorum) || input.quorum < 1) throw new RangeError(`approval quorum must be a positive integer, got ${input.quorum}`);
  if (input.approverGroups.length === 0) throw new RangeError('an approval request needs at least one approver group');
  if (!Number.isFinite(input.timeoutMs) || input.timeoutMs <= 0 || input.timeoutMs > MAX_TIMEOUT_MS) {
    throw new RangeError(`approval timeout must be between 1 ms and ${MAX_TIMEOUT_MS} ms, got ${input.timeoutMs}`);
  }
}
