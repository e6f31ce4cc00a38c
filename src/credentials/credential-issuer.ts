// The API side of one-time credentials: a caller with a valid token asks for ONE trace
// with a reason; the policy decides as for a statement that reads it (credential-terms.ts),
// the quota is charged, and the answer is a credential now, a pending request that an
// approver must consent to first, or a refusal that does not say whether the trace
// exists.
//
//   request ─ decide (+ owner/risk lookup) ─┬ deny ───────────── refused (not entitled / no rule)
//                                           ├ over quota ─────── refused (quota)
//                                           ├ allow ─────────── mint ─▶ the credential
//                                           └ needs approval ── pending ─ approved ─ mint on the next poll
//                                                                       └ denied / timed out / withdrawn
//
// A credential is minted when it is handed out, so its secret exists only in that one
// response: it is delivered exactly once, and a later poll says it was delivered. One id
// names the request, the credential, the Postgres user name and every audit event.
// Requests live in memory, like the approvals they wait for (approvals/broker.ts).
import type { Logger } from 'pino';
import type { ApprovalService } from '../approvals/approval.js';
import type { Identity } from '../identity.js';
import type { Decision } from '../policy/decision.js';
import type { QuotaStore } from '../policy/quota.js';
import type { Policy } from '../policy/types.js';
import type { TraceFacts, TraceTableColumns } from '../upstream/lookups.js';
import { formatCredential, hashSecret, newCredentialId, newSecret } from './credential-secret.js';
import type { CredentialRecorder } from './credential-redeemer.js';
import type { CredentialState, CredentialStore } from './credential-store.js';
import { credentialExpiry, credentialTtlMs, decideCredential } from './credential-terms.js';

export interface CredentialIssuerDeps {
  readonly policy: () => Policy;
  readonly traceFacts: (table: TraceTableColumns, traceId: string) => Promise<TraceFacts>;
  readonly quotas: QuotaStore;
  readonly approvals: Pick<ApprovalService, 'request' | 'withdraw'>;
  readonly store: CredentialStore;
  readonly recorder: CredentialRecorder;
  readonly log: Logger;
  readonly now: () => number;
  /** How long a settled request stays answerable; default 15 min. */
  readonly retainMs?: number;
}

export interface CredentialRequestInput {
  readonly traceId: string;
  /** Why the caller needs the trace: recorded, and shown to approvers. */
  readonly reason: string;
  readonly ttlMs?: number | undefined;
}

export interface IssuedCredential {
  readonly id: string;
  /** `tgc_<id>_<secret>`: in this one answer only, never stored or logged. */
  readonly credential: string;
  readonly traceId: string;
  readonly rule: string;
  readonly approvalId: string | null;
  readonly expiresAt: number;
}

interface RequestFacts {
  readonly id: string;
  readonly traceId: string;
  readonly rule: string;
  readonly approvalId: string | null;
}

export type RequestAnswer =
  | { readonly kind: 'issued'; readonly issued: IssuedCredential }
  | (RequestFacts & { readonly kind: 'pending'; readonly approvalId: string; readonly approvalExpiresAt: number })
  | {
      readonly kind: 'refused';
      readonly id: string;
      readonly code: 'no-rule' | 'not-entitled' | 'quota-exceeded';
      readonly message: string;
      readonly retryAfterMs?: number;
    };

export type RequestStatus =
  | { readonly state: 'issued'; readonly issued: IssuedCredential }
  | (RequestFacts & { readonly state: 'pending'; readonly approvalExpiresAt: number | null })
  | (RequestFacts & { readonly state: 'delivered'; readonly expiresAt: number; readonly credentialState: CredentialState | 'forgotten' })
  | (RequestFacts & { readonly state: 'denied' | 'expired' | 'failed'; readonly message: string });

type EntryState = 'pending' | 'approved' | 'delivered' | 'denied' | 'expired' | 'failed';

interface Entry extends RequestFacts {
  readonly requester: Identity;
  readonly ttlMs: number;
  readonly approvalExpiresAt: number | null;
  state: EntryState;
  message: string;
  /** When the policy or the approvers granted it: the credential's life starts here. */
  grantedAt: number | null;
  expiresAt: number | null;
  settledAt: number | null;
  minting: Promise<unknown> | null;
  readonly waiters: Set<() => void>;
}

export class CredentialIssuer {
  private readonly entries = new Map<string, Entry>();
  private readonly retainMs: number;

  constructor(private readonly deps: CredentialIssuerDeps) {
    this.retainMs = deps.retainMs ?? 15 * 60 * 1000;
  }

  /** Decides, charges the quota and records the request; rejects when it cannot be recorded. */
  async request(caller: Identity, input: CredentialRequestInput): Promise<RequestAnswer> {
    const id = newCredentialId();
    const policy = this.deps.policy();
    let decision: Decision = decideCredential(policy, caller, input.traceId);
    if (decision.outcome === 'lookup') {
      const facts = await this.deps.traceFacts(decision.table, decision.traceId);
      decision = decideCredential(policy, caller, input.traceId, facts.exists ? facts : null);
    }
    const rule = decision.outcome === 'deny' ? undefined : policy.rules.find((r) => r.name === decision.rule);
    if (decision.outcome === 'deny' || decision.outcome === 'lookup' || !rule) {
      const noRule = decision.rule === null;
      const message = decision.outcome === 'deny' ? decision.reason : 'the policy could not be evaluated';
      await this.recordRequested(id, caller, input, `refused: ${message}`);
      return { kind: 'refused', id, code: noRule ? 'no-rule' : 'not-entitled', message };
    }
    const quota = await this.deps.quotas.checkAndCount({ rule, subject: caller.subject, traceId: input.traceId, now: this.deps.now() });
    if (!quota.ok) {
      await this.recordRequested(id, caller, input, `refused under rule ${rule.name}: ${quota.reason}`);
      return { kind: 'refused', id, code: 'quota-exceeded', message: quota.reason, retryAfterMs: quota.retryAfterMs };
    }
    const ttlMs = credentialTtlMs(rule, input.ttlMs);
    if (decision.outcome === 'allow') {
      await this.recordRequested(id, caller, input, `allowed under rule ${rule.name}: ${decision.reason}`);
      const entry = this.add(id, caller, input.traceId, rule.name, ttlMs, null, null);
      entry.state = 'approved';
      entry.grantedAt = this.deps.now();
      let status: RequestStatus;
      try {
        status = await this.collect(entry, caller);
      } catch (err) {
        // The caller got an error and no id: nobody may collect this one later.
        this.settle(entry, 'failed', 'the credential could not be issued; ask again');
        throw err;
      }
      if (status.state !== 'issued') throw new Error(`credential ${id} could not be issued: ${status.state}`);
      return { kind: 'issued', issued: status.issued };
    }
    const ticket = this.deps.approvals.request({
      // No session exists yet: the credential id stands in, so the approval's records
      // and the credential's events share one id.
      sessionId: id,
      requester: caller,
      traceId: input.traceId,
      rule: rule.name,
      statement: `-- one-time credential ${id}: one read of trace ${JSON.stringify(input.traceId)}, valid ${Math.round(ttlMs / 1000)} s once approved\n-- reason: ${input.reason.replace(/\s+/g, ' ')}`,
      reason: decision.reason,
      approverGroups: decision.approval.approverGroups,
      quorum: decision.approval.quorum,
      timeoutMs: decision.approval.timeoutMs,
    });
    try {
      await this.recordRequested(id, caller, input, `needs approval ${ticket.id} under rule ${rule.name}: ${decision.reason}`);
    } catch (err) {
      void this.deps.approvals.withdraw(ticket.id, 'the credential request could not be recorded');
      throw err;
    }
    const entry = this.add(id, caller, input.traceId, rule.name, ttlMs, ticket.id, ticket.expiresAt);
    ticket.outcome.then(
      (outcome) => {
        if (entry.state !== 'pending') return;
        switch (outcome.kind) {
          case 'approved':
            entry.state = 'approved';
            entry.grantedAt = this.deps.now();
            entry.message = `approved by ${outcome.approvers.join(', ')}`;
            this.notify(entry);
            return;
          case 'denied':
            return this.settle(entry, 'denied', `approval request ${ticket.id} was denied by ${outcome.by}${outcome.reason ? `: ${outcome.reason}` : ''}`);
          case 'timed-out':
            return this.settle(entry, 'expired', `approval request ${ticket.id} timed out`);
          case 'withdrawn':
            return this.settle(entry, 'expired', `approval request ${ticket.id} was withdrawn: ${outcome.reason}`);
          default:
            return assertNever(outcome);
        }
      },
      () => this.settle(entry, 'failed', `approval request ${ticket.id} could not be recorded, so no approver saw it; ask again`),
    );
    return { kind: 'pending', id, traceId: input.traceId, rule: rule.name, approvalId: ticket.id, approvalExpiresAt: ticket.expiresAt };
  }

  /**
   * Where a request stands, for its requester only (undefined for anyone else, as for an
   * unknown id). A pending request is waited on for up to `waitMs`. Once granted, the
   * first status minted hands out the credential; every later one says it was delivered.
   */
  async status(caller: Identity, id: string, waitMs: number): Promise<RequestStatus | undefined> {
    const entry = this.entries.get(id);
    if (!entry || entry.requester.subject !== caller.subject) return undefined;
    if (entry.state === 'pending' && waitMs > 0) await this.changed(entry, waitMs);
    if (entry.minting) await entry.minting.catch(() => undefined);
    if (entry.state === 'approved') return this.collect(entry, caller);
    return this.view(entry);
  }

  /** Expires granted credentials nobody collected, and forgets old settled requests. */
  async sweep(): Promise<void> {
    const now = this.deps.now();
    for (const [id, entry] of this.entries) {
      if (entry.state === 'approved' && entry.minting === null && this.uncollectedTooLong(entry, now)) await this.expireUncollected(entry);
      else if (entry.settledAt !== null && now - entry.settledAt > this.retainMs) this.entries.delete(id);
    }
  }

  /** Shutdown: long polls return at once with what they have. */
  close(): void {
    for (const entry of this.entries.values()) this.notify(entry);
  }

  private add(id: string, requester: Identity, traceId: string, rule: string, ttlMs: number, approvalId: string | null, approvalExpiresAt: number | null): Entry {
    const entry: Entry = {
      id,
      requester,
      traceId,
      rule,
      ttlMs,
      approvalId,
      approvalExpiresAt,
      state: 'pending',
      message: 'waiting for approval',
      grantedAt: null,
      expiresAt: null,
      settledAt: null,
      minting: null,
      waiters: new Set(),
    };
    this.entries.set(id, entry);
    return entry;
  }

  /** Mints the credential of a granted request for `receiver`, exactly once. */
  private collect(entry: Entry, receiver: Identity): Promise<RequestStatus> {
    const run = (async (): Promise<RequestStatus> => {
      const now = this.deps.now();
      const expiresAt = credentialExpiry(entry.grantedAt ?? now, entry.ttlMs, receiver);
      if (this.uncollectedTooLong(entry, now) || expiresAt <= now) {
        await this.expireUncollected(entry);
        return this.view(entry);
      }
      const secret = newSecret();
      // Recorded before it exists: a credential the audit trail does not know is never handed out.
      await this.deps.recorder.recordCredentialEvent({
        credentialId: entry.id,
        at: now,
        type: 'issued',
        subject: entry.requester.subject,
        traceId: entry.traceId,
        sessionId: null,
        expiresAt,
        detail: `rule ${entry.rule}${entry.approvalId ? `, approval ${entry.approvalId}` : ''}; valid until ${new Date(expiresAt).toISOString()}`,
      });
      await this.deps.store.add({
        id: entry.id,
        secretHash: hashSecret(secret),
        holder: entry.requester,
        traceId: entry.traceId,
        rule: entry.rule,
        approvalId: entry.approvalId,
        issuedAt: now,
        expiresAt,
      });
      entry.expiresAt = expiresAt;
      this.settle(entry, 'delivered', 'the credential was handed out');
      const issued: IssuedCredential = {
        id: entry.id,
        credential: formatCredential(entry.id, secret),
        traceId: entry.traceId,
        rule: entry.rule,
        approvalId: entry.approvalId,
        expiresAt,
      };
      return { state: 'issued', issued };
    })();
    // Set before anything awaits, so a concurrent poll waits for this one and then finds
    // the request delivered (or, if minting failed, still granted and tries again).
    entry.minting = run;
    void run.then(
      () => (entry.minting = null),
      () => (entry.minting = null),
    );
    return run;
  }

  private uncollectedTooLong(entry: Entry, now: number): boolean {
    return entry.grantedAt !== null && now >= entry.grantedAt + entry.ttlMs;
  }

  private async expireUncollected(entry: Entry): Promise<void> {
    this.settle(entry, 'expired', 'the credential was granted but not collected before it expired; ask again');
    try {
      await this.deps.recorder.recordCredentialEvent({
        credentialId: entry.id,
        at: this.deps.now(),
        type: 'expired',
        subject: entry.requester.subject,
        traceId: entry.traceId,
        sessionId: null,
        expiresAt: null,
        detail: 'granted but never collected',
      });
    } catch (err) {
      this.deps.log.error({ event: 'credential.unrecorded', credentialId: entry.id, type: 'expired', err: String(err) }, 'credential event not recorded');
    }
  }

  private async view(entry: Entry): Promise<RequestStatus> {
    const facts: RequestFacts = { id: entry.id, traceId: entry.traceId, rule: entry.rule, approvalId: entry.approvalId };
    switch (entry.state) {
      case 'pending':
      case 'approved':
        return { ...facts, state: 'pending', approvalExpiresAt: entry.approvalExpiresAt };
      case 'delivered':
        return { ...facts, state: 'delivered', expiresAt: entry.expiresAt ?? 0, credentialState: (await this.deps.store.state(entry.id)) ?? 'forgotten' };
      case 'denied':
      case 'expired':
      case 'failed':
        return { ...facts, state: entry.state, message: entry.message };
      default:
        return assertNever(entry.state);
    }
  }

  private recordRequested(id: string, caller: Identity, input: CredentialRequestInput, decision: string): Promise<void> {
    return this.deps.recorder.recordCredentialEvent({
      credentialId: id,
      at: this.deps.now(),
      type: 'requested',
      subject: caller.subject,
      traceId: input.traceId,
      sessionId: null,
      expiresAt: null,
      detail: `${decision}; reason given: ${input.reason}`,
    });
  }

  private settle(entry: Entry, state: Exclude<EntryState, 'pending' | 'approved'>, message: string): void {
    entry.state = state;
    entry.message = message;
    entry.settledAt = this.deps.now();
    this.notify(entry);
  }

  private notify(entry: Entry): void {
    for (const wake of entry.waiters) wake();
    entry.waiters.clear();
  }

  private changed(entry: Entry, waitMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(wake, waitMs);
      function wake(): void {
        clearTimeout(timer);
        entry.waiters.delete(wake);
        resolve();
      }
      entry.waiters.add(wake);
    });
  }
}

function assertNever(value: never): never {
  throw new Error(`unexpected value ${JSON.stringify(value)}`);
}
