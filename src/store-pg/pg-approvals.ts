// The ApprovalService (approvals/approval.ts) on the shared store, for several instances:
// a statement waits on the instance its client is connected to, and an approver may act
// through ANY instance's admin API, CLI or page.
//
//   B: gate.request ── record `requested` (audit) ── INSERT approvals ── waiter (in B's memory)
//   A: approve ── txn: SELECT ... FOR UPDATE; checks; record `approved` (audit); INSERT vote;
//                 UPDATE state when the quorum is met; NOTIFY tracegate_approvals (on commit)
//   B: notification (or the poll) ── SELECT state ── the waiter's outcome resolves
//
// The rules are those of the in-memory broker (approvals/broker.ts): approver groups,
// no self-approval, a quorum of distinct subjects, one eligible denial denies, a settled
// request never changes again. Every state change happens under the request's row lock,
// so two approvers on two instances, or an approval racing the timeout, serialise in the
// database. An approver's step is recorded durably (committed) before it takes effect.
// The requesting instance owns the timeout timer; any instance also treats a request past
// its deadline as timed out. Waiters poll every `pollMs` in case a notification is lost.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { ApprovalError } from '../approvals/approval-error.js';
import type {
  ApprovalEvent,
  ApprovalOutcome,
  ApprovalRecorder,
  ApprovalRequestInput,
  ApprovalService,
  ApprovalState,
  ApprovalTicket,
  ApprovalView,
  Approver,
} from '../approvals/approval.js';
import type { ApprovalStep } from '../audit/store.js';
import { scrubTokens } from '../audit/token-scrub.js';
import type { Identity } from '../identity.js';
import { CHANNELS, channelName, type PgListener } from './pg-listener.js';
import { quoteSchema } from './pg-schema.js';

export interface PgApprovalServiceOptions {
  readonly pool: pg.Pool;
  readonly schema: string;
  readonly listener: PgListener;
  readonly recorder: ApprovalRecorder;
  readonly now?: () => number;
  readonly newId?: () => string;
  /** Default 2000. */
  readonly pollMs?: number;
  readonly onError?: (err: unknown, context: string) => void;
  /** Whether an approver (subject, or the jti voted with) has been revoked since voting: such a vote no longer counts (broker.ts). */
  readonly approverRevoked?: (approver: Approver) => boolean;
}

const MAX_TIMEOUT_MS = 2_147_483_647;

interface ApprovalRow {
  id: string;
  state: ApprovalState;
  session_id: string;
  statement_id: string | null;
  requester_subject: string;
  requester_groups: string[];
  trace_id: string;
  rule: string;
  statement: string;
  reason: string | null;
  approver_groups: string[];
  quorum: number;
  requested_at: number;
  expires_at: number;
  decided_at: number | null;
  outcome: ApprovalOutcome | null;
}

interface Waiter {
  readonly resolve: (outcome: ApprovalOutcome) => void;
  readonly reject: (err: unknown) => void;
  timer: NodeJS.Timeout | null;
  /** False until the request row is committed. */
  stored: boolean;
  /** A withdrawal that came before the row was stored: applied once it is. */
  early: string | null;
}

const STATE_WORDS: Record<ApprovalState, string> = {
  pending: 'pending',
  approved: 'already approved',
  denied: 'already denied',
  'timed-out': 'timed out',
  withdrawn: 'withdrawn by the client',
};

export class PgApprovalService implements ApprovalService {
  private readonly pool: pg.Pool;
  private readonly s: string;
  private readonly channel: string;
  private readonly recorder: ApprovalRecorder;
  private readonly now: () => number;
  private readonly newId: () => string;
  private readonly waiters = new Map<string, Waiter>();
  private readonly listeners = new Set<(event: ApprovalEvent) => void>();
  private readonly stops: (() => void)[] = [];
  private readonly pollTimer: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly options: PgApprovalServiceOptions) {
    this.pool = options.pool;
    this.s = quoteSchema(options.schema);
    this.channel = channelName(options.schema, CHANNELS.approvals);
    this.recorder = options.recorder;
    this.now = options.now ?? Date.now;
    this.newId = options.newId ?? randomUUID;
    this.stops.push(
      options.listener.on(CHANNELS.approvals, (id) => {
        if (this.waiters.has(id)) void this.check([id]);
      }),
      options.listener.onResync(() => void this.check([...this.waiters.keys()])),
    );
    this.pollTimer = setInterval(() => {
      if (this.waiters.size > 0) void this.check([...this.waiters.keys()]);
    }, options.pollMs ?? 2_000);
    this.pollTimer.unref();
  }

  /** Requests this instance's clients wait on (the metrics gauge counts them per instance). */
  get pending(): number {
    return this.waiters.size;
  }

  request(input: ApprovalRequestInput): ApprovalTicket {
    if (this.closed) throw new Error('the approval service is closed');
    checkInput(input);
    const id = this.newId();
    const requestedAt = this.now();
    const expiresAt = requestedAt + input.timeoutMs;
    let waiter!: Waiter;
    const outcome = new Promise<ApprovalOutcome>((resolve, reject) => {
      waiter = { resolve, reject, timer: null, stored: false, early: null };
    });
    outcome.catch(() => undefined);
    this.waiters.set(id, waiter);
    let listedResolve!: () => void;
    let listedReject!: (err: unknown) => void;
    const listed = new Promise<void>((resolve, reject) => {
      listedResolve = resolve;
      listedReject = reject;
    });
    listed.catch(() => undefined);
    const statementId = input.statementId ?? null;
    const statement = scrubTokens(input.statement);
    void (async () => {
      try {
        await this.recorder.recordApprovalStep({
          approvalId: id,
          at: requestedAt,
          sessionId: input.sessionId,
          statementId,
          step: {
            type: 'requested',
            subject: input.requester.subject,
            traceId: input.traceId,
            rule: input.rule,
            approverGroups: [...input.approverGroups],
            quorum: input.quorum,
          },
        });
        await this.pool.query(
          `INSERT INTO ${this.s}.approvals (id, state, session_id, statement_id, requester_subject, requester_groups, trace_id, rule,
             statement, reason, approver_groups, quorum, requested_at, expires_at)
           VALUES ($1, 'pending', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
          [id, input.sessionId, statementId, input.requester.subject, [...input.requester.groups], input.traceId, input.rule, statement,
            input.reason ?? null, [...input.approverGroups], input.quorum, requestedAt, expiresAt],
        );
      } catch (err) {
        // Fail closed: an unrecorded request never runs (the gate answers 58030).
        this.waiters.delete(id);
        listedReject(err);
        waiter.reject(err);
        return;
      }
      waiter.stored = true;
      listedResolve();
      if (waiter.early !== null) {
        await this.settleBySystem(id, { kind: 'withdrawn', reason: waiter.early });
        return;
      }
      waiter.timer = setTimeout(() => void this.settleBySystem(id, { kind: 'timed-out' }), Math.max(0, expiresAt - this.now()));
      waiter.timer.unref();
      const view = await this.get(id).catch(() => undefined);
      if (view) this.emit({ type: 'requested', approval: view, pending: this.pending });
    })();
    return { id, expiresAt, listed, outcome };
  }

  approve(id: string, approver: Identity, reason?: string): Promise<ApprovalView> {
    return this.vote(id, approver, 'approve', reason);
  }

  deny(id: string, approver: Identity, reason?: string): Promise<ApprovalView> {
    return this.vote(id, approver, 'deny', reason);
  }

  async withdraw(id: string, reason: string): Promise<boolean> {
    const waiter = this.waiters.get(id);
    if (waiter && !waiter.stored) {
      waiter.early = reason;
      return true;
    }
    return this.settleBySystem(id, { kind: 'withdrawn', reason });
  }

  async get(id: string): Promise<ApprovalView | undefined> {
    const row = (await this.pool.query<ApprovalRow>(`SELECT * FROM ${this.s}.approvals WHERE id = $1`, [id])).rows[0];
    return row ? this.view(row, await this.votesOf([id]), this.now()) : undefined;
  }

  async list(): Promise<readonly ApprovalView[]> {
    const now = this.now();
    const rows = (
      await this.pool.query<ApprovalRow>(`SELECT * FROM ${this.s}.approvals WHERE state = 'pending' AND expires_at > $1 ORDER BY requested_at, id`, [now])
    ).rows;
    const votes = await this.votesOf(rows.map((r) => r.id));
    return rows.map((r) => this.view(r, votes, now));
  }

  subscribe(listener: (event: ApprovalEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Shutdown: this instance's waiting requests are withdrawn (their clients are going away). */
  async close(reason = 'tracegate is shutting down'): Promise<void> {
    this.closed = true;
    for (const stop of this.stops.splice(0)) stop();
    clearInterval(this.pollTimer);
    await Promise.all([...this.waiters.keys()].map((id) => this.settleBySystem(id, { kind: 'withdrawn', reason }).catch(() => false)));
  }

  // ---- state changes ------------------------------------------------------------

  private async vote(id: string, approver: Identity, vote: 'approve' | 'deny', reason: string | undefined): Promise<ApprovalView> {
    // The waiting client gets its notice as soon as the request is made, and the request
    // is stored a moment later (after its audit record, on whichever instance): an
    // approver quick enough to act on the notice waits for it briefly rather than 404.
    for (let i = 0; i < 20; i++) {
      const known = (await this.pool.query(`SELECT 1 FROM ${this.s}.approvals WHERE id = $1`, [id])).rowCount === 1;
      if (known) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const client = await this.pool.connect();
    let outcome: ApprovalOutcome | null = null;
    let view: ApprovalView;
    try {
      await client.query('BEGIN');
      const row = (await client.query<ApprovalRow>(`SELECT * FROM ${this.s}.approvals WHERE id = $1 FOR UPDATE`, [id])).rows[0];
      if (!row) throw new ApprovalError('not-found', `no approval request ${id}`);
      if (!approver.groups.some((g) => row.approver_groups.includes(g))) {
        throw new ApprovalError(
          'not-an-approver',
          `${approver.subject} is not in an approver group of request ${id} (rule ${row.rule} needs one of: ${row.approver_groups.join(', ')})`,
        );
      }
      if (approver.subject === row.requester_subject) {
        throw new ApprovalError('self-approval', `${approver.subject} cannot approve or deny their own request ${id}`);
      }
      const at = this.now();
      let state = row.state;
      if (state === 'pending' && at >= row.expires_at) {
        // The deadline rules, whichever instance's timer has not fired yet.
        await this.settleRow(client, row, { kind: 'timed-out' }, at);
        await client.query('COMMIT');
        void this.recordSystemStep(row, { type: 'timed-out' }, at);
        throw new ApprovalError('already-decided', `approval request ${id} is timed out and cannot be changed`);
      }
      if (state !== 'pending') throw new ApprovalError('already-decided', `approval request ${id} is ${STATE_WORDS[state]} and cannot be changed`);
      const cast = (await client.query<{ by_subject: string; jti: string | null }>(`SELECT by_subject, jti FROM ${this.s}.approval_votes WHERE approval_id = $1`, [id])).rows;
      const votes = cast.map((v) => v.by_subject);
      if (vote === 'approve' && votes.includes(approver.subject)) {
        throw new ApprovalError(
          'already-voted',
          `${approver.subject} already approved request ${id}; it needs ${row.quorum - votes.length} more distinct approver(s)`,
        );
      }
      const note = reason === undefined || reason === '' ? null : reason;
      try {
        await this.recorder.recordApprovalStep({
          approvalId: id,
          at,
          sessionId: row.session_id,
          statementId: row.statement_id,
          step: vote === 'approve' ? { type: 'approved', by: approver.subject } : { type: 'denied', by: approver.subject, reason: note },
        });
      } catch (err) {
        throw new ApprovalError('unrecorded', `the ${vote === 'approve' ? 'approval' : 'denial'} of ${id} could not be recorded; nothing changed, try again`, {
          cause: err,
        });
      }
      if (vote === 'deny') {
        outcome = note === null ? { kind: 'denied', by: approver.subject } : { kind: 'denied', by: approver.subject, reason: note };
      } else {
        await client.query(`INSERT INTO ${this.s}.approval_votes (approval_id, by_subject, at, reason, jti) VALUES ($1, $2, $3, $4, $5)`, [
          id,
          approver.subject,
          at,
          note,
          approver.jti ?? null,
        ]);
        const revoked = this.options.approverRevoked ?? (() => false);
        const standing = [...cast.map((v) => ({ subject: v.by_subject, jti: v.jti ?? undefined })), { subject: approver.subject, jti: approver.jti }]
          .filter((v) => !revoked(v))
          .map((v) => v.subject);
        if (standing.length >= row.quorum) outcome = { kind: 'approved', approvers: standing };
      }
      if (outcome) {
        await this.settleRow(client, row, outcome, at);
        state = outcome.kind;
      }
      await client.query('COMMIT');
      view = this.view(
        { ...row, state, decided_at: outcome ? at : null, outcome },
        await this.votesOf([id]),
        at,
      );
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
    // This instance's own waiter (the statement may be waiting right here).
    if (outcome) this.resolveLocal(id, outcome);
    this.emit({ type: 'step', approval: view, by: approver.subject, vote, pending: this.pending });
    if (outcome) this.emit({ type: 'decided', approval: view, outcome, pending: this.pending });
    return view;
  }

  /** Pending → settled, with NOTIFY delivered when the caller's transaction commits. */
  private async settleRow(client: pg.PoolClient, row: ApprovalRow, outcome: ApprovalOutcome, at: number): Promise<void> {
    await client.query(`UPDATE ${this.s}.approvals SET state = $2, outcome = $3, decided_at = $4 WHERE id = $1`, [row.id, outcome.kind, JSON.stringify(outcome), at]);
    await client.query('SELECT pg_notify($1, $2)', [this.channel, row.id]);
  }

  /** Timeout or withdrawal: takes effect whether or not it can be recorded. */
  private async settleBySystem(id: string, outcome: Extract<ApprovalOutcome, { kind: 'timed-out' | 'withdrawn' }>): Promise<boolean> {
    const at = this.now();
    let row: ApprovalRow | undefined;
    try {
      row = (
        await this.pool.query<ApprovalRow>(
          `WITH up AS (
             UPDATE ${this.s}.approvals SET state = $2, outcome = $3, decided_at = $4 WHERE id = $1 AND state = 'pending' RETURNING *)
           SELECT up.*, pg_notify($5, up.id) FROM up`,
          [id, outcome.kind, JSON.stringify(outcome), at, this.channel],
        )
      ).rows[0];
    } catch (err) {
      // The store is unreachable: the statement still must not run.
      this.options.onError?.(err, `settling approval ${id} (${outcome.kind}) in the store`);
      const waiter = this.waiters.get(id);
      if (!waiter) return false;
      this.resolveLocal(id, outcome);
      this.emit({ type: 'unrecorded', approvalId: id, step: outcome.kind, error: err });
      return true;
    }
    if (!row) {
      // Settled elsewhere meanwhile: pick up that outcome.
      if (this.waiters.has(id)) await this.check([id]);
      return false;
    }
    this.resolveLocal(id, outcome);
    const view = this.view({ ...row, state: outcome.kind, outcome, decided_at: at }, await this.votesOf([id]).catch(() => new Map()), at);
    this.emit({ type: 'decided', approval: view, outcome, pending: this.pending });
    await this.recordSystemStep(row, outcome.kind === 'timed-out' ? { type: 'timed-out' } : { type: 'withdrawn', reason: outcome.reason }, at);
    return true;
  }

  private async recordSystemStep(row: ApprovalRow, step: Extract<ApprovalStep['step'], { type: 'timed-out' | 'withdrawn' }>, at: number): Promise<void> {
    try {
      await this.recorder.recordApprovalStep({ approvalId: row.id, at, sessionId: row.session_id, statementId: row.statement_id, step });
    } catch (error) {
      this.emit({ type: 'unrecorded', approvalId: row.id, step: step.type, error });
    }
  }

  /** Reads the state of requests this instance waits on and resolves the settled ones. */
  private async check(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    try {
      const rows = (
        await this.pool.query<ApprovalRow>(`SELECT * FROM ${this.s}.approvals WHERE id = ANY($1::text[]) AND state <> 'pending'`, [ids])
      ).rows;
      for (const row of rows) {
        if (!row.outcome) continue;
        const waiter = this.waiters.get(row.id);
        if (!waiter) continue;
        this.resolveLocal(row.id, row.outcome);
        this.emit({ type: 'decided', approval: this.view(row, await this.votesOf([row.id]), this.now()), outcome: row.outcome, pending: this.pending });
      }
    } catch (err) {
      this.options.onError?.(err, 'checking approval requests in the store');
    }
  }

  private resolveLocal(id: string, outcome: ApprovalOutcome): void {
    const waiter = this.waiters.get(id);
    if (!waiter) return;
    this.waiters.delete(id);
    if (waiter.timer !== null) clearTimeout(waiter.timer);
    waiter.resolve(outcome);
  }

  private async votesOf(ids: readonly string[]): Promise<Map<string, { by: string; at: number; reason: string | null }[]>> {
    const out = new Map<string, { by: string; at: number; reason: string | null }[]>();
    if (ids.length === 0) return out;
    const rows = (
      await this.pool.query<{ approval_id: string; by_subject: string; at: number; reason: string | null }>(
        `SELECT approval_id, by_subject, at, reason FROM ${this.s}.approval_votes WHERE approval_id = ANY($1::text[]) ORDER BY at, by_subject`,
        [ids],
      )
    ).rows;
    for (const v of rows) {
      const list = out.get(v.approval_id) ?? [];
      list.push({ by: v.by_subject, at: v.at, reason: v.reason });
      out.set(v.approval_id, list);
    }
    return out;
  }

  private view(row: ApprovalRow, votes: Map<string, { by: string; at: number; reason: string | null }[]>, at: number): ApprovalView {
    return {
      id: row.id,
      state: row.state,
      sessionId: row.session_id,
      statementId: row.statement_id,
      requester: { subject: row.requester_subject, groups: row.requester_groups },
      traceId: row.trace_id,
      rule: row.rule,
      statement: row.statement,
      reason: row.reason,
      approverGroups: row.approver_groups,
      quorum: row.quorum,
      approvals: votes.get(row.id) ?? [],
      requestedAt: row.requested_at,
      expiresAt: row.expires_at,
      ageMs: Math.max(0, at - row.requested_at),
      decidedAt: row.decided_at,
      outcome: row.outcome,
    };
  }

  private emit(event: ApprovalEvent): void {
    for (const listener of this.listeners) {
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
