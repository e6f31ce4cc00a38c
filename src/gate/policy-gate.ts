// The statement gate of one session: every statement is analysed by the real Postgres
// parser (sql/), decided by the policy (policy/), checked against quotas, paused for
// approval where the rule says so, recorded durably, and only then let through with a
// single-use grant. Deny by default; anything unexpected on this path is a refusal.
//
//   Query ─┐                       ┌─ deny ──────────── record ─▶ 42501/53400/… (nothing forwarded)
//   Bind  ─┴▶ analyse ▶ decide ────┼─ needs approval ─▶ notice, wait ─▶ approved ─┐
//                        ▲ lookup  └─ allow ─────────────────────────────────────┴▶ quota ▶ grant ▶ record ▶ forward
//                        └ owner/risk with tracegate's own credential
//
// In monitor mode the same decisions are computed and recorded, but denials run.
//
// A session opened with a one-time trace credential (identity.credential) is held to
// the credential whatever the mode: every trace read must be of its one trace under its
// rule, and only ONE trace read is admitted. That read is claimed the moment it is
// admitted, before anything awaits, so that reads the client pipelines behind it (a
// second Query, or a second Bind/Execute sent before the first completes) find it taken;
// the credential is spent when that read completes. Housekeeping keeps working after.
import { createHash, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { ApprovalService } from '../approvals/approval.js';
import { AuditUnavailableError } from '../audit/audit-unavailable-error.js';
import { decisionFields } from '../log.js';
import type { AuditStore, DecisionOutcome, StatementDecision } from '../audit/store.js';
import { ClientError, error, tokenExpired } from '../errors.js';
import type { Grant, GrantRegistry } from '../grants/grant-registry.js';
import type { CredentialBinding, Identity } from '../identity.js';
import type { ColumnCatalog } from '../masking/catalog.js';
import type { Masker } from '../masking/masker.js';
import { decide } from '../policy/decide.js';
import { NOT_ENTITLED, PIN_PARAM_TYPE_OIDS, type Decision } from '../policy/decision.js';
import type { QuotaStore } from '../policy/quota.js';
import type { Policy } from '../policy/types.js';
import type { BoundPortal, Execution, PreparedStatement, SessionControls, StatementGate } from '../session/statement-gate.js';
import type { SessionInfo } from '../session/session.js';
import { analyze } from '../sql/analyze.js';
import type { Analysis } from '../sql/facts.js';
import type { QueryFn, TraceFacts, TraceTableColumns } from '../upstream/lookups.js';

/** The decisions a request may be admitted under (a denial only in monitor mode). */
type Admissible = Exclude<Decision, { outcome: 'lookup' }>;
import { paramsAsText } from './bind-params.js';
import { ResultPlans } from './result-plans.js';
import { Request, type Limits, type Usage } from './request.js';

/** The part of the approval service the gate uses (ApprovalBroker fits). */
export type ApprovalGateway = Pick<ApprovalService, 'request' | 'withdraw'>;

export interface GateDeps {
  readonly policy: () => Policy;
  readonly mode: 'enforce' | 'monitor';
  readonly store: AuditStore;
  readonly grants: GrantRegistry;
  readonly quotas: QuotaStore;
  readonly traceFacts: (table: TraceTableColumns, traceId: string) => Promise<TraceFacts>;
  readonly catalogQuery: QueryFn;
  readonly masker: () => Masker;
  readonly catalog: ColumnCatalog;
  readonly approvals: ApprovalGateway | undefined;
  /** Where approvers act (the admin page), for the notice the waiting client gets. */
  readonly approvalUrl: () => string | undefined;
  readonly log: Logger;
  readonly now: () => number;
  /** Longer statement texts are refused (54000) unparsed; default DEFAULT_MAX_STATEMENT_BYTES. */
  readonly maxStatementBytes?: number;
  readonly onDecision?: (outcome: DecisionOutcome, category: string, seconds: number) => void;
  /** A request completed (or failed) upstream, `seconds` after it was forwarded. */
  readonly onRequestDone?: (seconds: number) => void;
  /** The one read of a credential session is over (`detail` says how): the credential is spent. */
  readonly spendCredential?: (credentialId: string, detail: string) => void;
}

// Every $n reads as this at Parse. A NUL cannot occur in a Postgres text value, so no
// real trace has this id: a decision on it can only differ from the real one in
// entitlement (see parse()).
const PARAM_PLACEHOLDER = '\u0000parameter';
const ANY_PARAMS: readonly (string | null)[] = new Proxy([] as (string | null)[], {
  get: (target, key, receiver) => (typeof key === 'string' && /^\d+$/.test(key) ? PARAM_PLACEHOLDER : Reflect.get(target, key, receiver)),
});

const DEFAULT_LIMITS: Limits = { maxRows: 10_000, maxBytes: 64 * 1024 * 1024 };
const DEFAULT_GRANT_TTL_MS = 30_000;

export function createGateFactory(deps: GateDeps): { forSession(info: SessionInfo, controls: SessionControls): StatementGate } {
  return { forSession: (info, controls) => new PolicyGate(deps, info, controls) };
}

/** A decision that let the statement through, with what the request needs. */
interface Admission {
  readonly decision: Admissible;
  readonly enforced: boolean;
  readonly sql: string;
  readonly params: readonly (string | null)[];
  /** The analysis of `sql` (from the analysis cache, so one object per distinct text). */
  readonly analysis: Analysis;
  /** What it was decided under, so a portal executed after a policy reload is decided again. */
  readonly policy: Policy;
  readonly paramTypes: readonly number[];
}

// A grant's statement fingerprint, kept with the cached analysis of its text: hashing
// the SQL again for every grant of a repeated statement was a measurable cost.
const fingerprints = new WeakMap<Analysis, string>();

function fingerprintOf(sql: string, analysis: Analysis): string {
  let fingerprint = fingerprints.get(analysis);
  if (fingerprint === undefined) {
    fingerprint = createHash('sha256').update(sql).digest('hex').slice(0, 16);
    fingerprints.set(analysis, fingerprint);
  }
  return fingerprint;
}

class PolicyGate implements StatementGate {
  private waiting: { id: string } | undefined;
  private closed = false;
  /** Set when a credential session's one trace read has been admitted. */
  private credentialReadClaimed = false;
  /** Monitor mode never relaxes a credential session: its credential is its whole authority. */
  private readonly enforcing: boolean;
  private readonly plans: ResultPlans;
  /** Rows and bytes a portal's Executes have returned so far (request.ts, Usage). */
  private readonly portalUsage = new WeakMap<BoundPortal, Usage>();

  constructor(
    private readonly deps: GateDeps,
    private readonly info: SessionInfo,
    private readonly controls: SessionControls,
  ) {
    this.enforcing = deps.mode === 'enforce' || info.identity.credential !== undefined;
    this.plans = new ResultPlans(deps.catalog, deps.catalogQuery);
  }

  async query(sql: string): Promise<Execution[]> {
    const analysis = analyze(sql, this.deps.maxStatementBytes);
    const admission = await this.evaluate(sql, analysis, []);
    const request = await this.admit(admission, analysis.ok ? analysis.statements.length : 1);
    return request.executions(analysis.ok ? analysis.statements : 1);
  }

  parse(_name: string, sql: string): Analysis | Promise<Analysis> {
    const analysis = analyze(sql, this.deps.maxStatementBytes);
    // What no parameter value can make allowable (a parse error, a write, a non-trace
    // table, a forbidden function, an unpinned read) is refused at Parse, so its text
    // never reaches the upstream at all. Every parameter stands for one and the same
    // impossible trace id here; only entitlement depends on the real value, so a
    // not-entitled answer passes this check and the decision completes at Bind.
    const precheck = decide(this.deps.policy(), this.info.identity, analysis, ANY_PARAMS, this.deps.now());
    if (precheck.outcome !== 'deny' || precheck.reason === NOT_ENTITLED) return analysis;
    return this.evaluate(sql, analysis, ANY_PARAMS).then(() => analysis);
  }

  bind(statement: PreparedStatement, params: readonly (Buffer | null)[], paramFormats: readonly number[]): Promise<Admission> {
    const text = paramsAsText(params, paramFormats, statement.paramTypes);
    return this.evaluate(statement.sql, statement.analysis as Analysis, text, statement.paramTypes);
  }

  async execute(portal: BoundPortal): Promise<Execution> {
    let admission = portal.decision as Admission;
    // A portal outlives its Bind (held open in a transaction, run again after a row
    // limit): once the policy is reloaded, the decision made at Bind no longer holds.
    if (admission.policy !== this.deps.policy()) admission = await this.evaluate(admission.sql, admission.analysis, admission.params, admission.paramTypes);
    let usage = this.portalUsage.get(portal);
    if (!usage) this.portalUsage.set(portal, (usage = { rows: 0, bytes: 0 }));
    const request = await this.admit(admission, 1, usage);
    const [execution] = request.executions(1);
    if (!execution) throw new Error('no execution');
    return execution;
  }

  interrupt(): void {
    if (this.waiting && this.deps.approvals) void this.deps.approvals.withdraw(this.waiting.id, 'the client cancelled the statement');
  }

  close(reason: string): void {
    this.closed = true;
    if (this.waiting && this.deps.approvals) void this.deps.approvals.withdraw(this.waiting.id, `the session ended: ${reason}`);
    this.deps.grants.revokeSession(this.info.id, 'session-ended');
    this.deps.store.recordSessionEnd({ sessionId: this.info.id, at: this.deps.now(), reason });
  }

  /** Analyse and decide; a denial is recorded and thrown (unless monitor mode lets it run). */
  private async evaluate(
    sql: string,
    analysis: Analysis,
    params: readonly (string | null)[],
    paramTypes: readonly number[] = [],
  ): Promise<Admission> {
    const started = performance.now();
    const policy = this.deps.policy();
    const first = decide(policy, this.info.identity, analysis, params, this.deps.now());
    let decision: Admissible;
    // Checked before any lookup: another trace's id never reaches the upstream at all.
    const outOfScope = credentialScope(this.info.identity.credential, first);
    if (outOfScope) {
      decision = outOfScope;
    } else if (first.outcome === 'lookup') {
      const facts = await this.deps.traceFacts(first.table, first.traceId).catch(async (err: unknown) => {
        // Without the owner and risk the policy cannot decide: refuse (recorded, like any
        // refusal) and keep the session; the next statement may find the upstream well.
        const decisionId = randomUUID();
        const reason = 'the trace could not be looked up to check entitlement and approval; try again';
        this.deps.log.warn({ event: 'lookup.failed', decisionId, err: String(err) }, 'trace lookup failed');
        await this.record(decisionId, sql, params, { outcome: 'deny', category: 'denied', rule: first.rule, reason, sqlstate: '42501' }, 'deny', true, null, null, '58000');
        throw error('58000', reason, { reference: `decision ${decisionId}` });
      });
      const second = decide(policy, this.info.identity, analysis, params, this.deps.now(), facts.exists ? facts : null);
      decision = second.outcome === 'lookup' ? { outcome: 'deny', category: 'denied', rule: second.rule, reason: 'the policy could not be evaluated', sqlstate: '42501' } : second;
    } else {
      decision = first;
    }
    if (decision.outcome === 'allow' || decision.outcome === 'needs-approval') {
      const unsafe = decision.category === 'trace-read' ? decision.pinnedParams.find((n) => !PIN_PARAM_TYPE_OIDS.has(paramTypes[n - 1] ?? 0)) : undefined;
      // Undeclared, it takes the type its other use gives it (bpchar from `$1::char(60)`).
      const inferred = decision.category === 'trace-read' ? decision.pinnedParamsUsedElsewhere.find((n) => (paramTypes[n - 1] ?? 0) === 0) : undefined;
      if (unsafe !== undefined) {
        // The server would convert a parameter declared as another type before comparing,
        // so the value compared would not be the text this decision pinned.
        decision = {
          outcome: 'deny',
          category: 'denied',
          rule: decision.rule,
          reason: `parameter $${unsafe} pins the trace key but is declared with type OID ${paramTypes[unsafe - 1]}; declare it as text or leave it unspecified`,
          sqlstate: '42501',
        };
      } else if (inferred !== undefined) {
        decision = {
          outcome: 'deny',
          category: 'denied',
          rule: decision.rule,
          reason: `parameter $${inferred} pins the trace key and is also used elsewhere in the statement, where the server may give it another type; declare it as text at Parse, or use a parameter of its own there`,
          sqlstate: '42501',
        };
      }
    }
    const seconds = (performance.now() - started) / 1000;
    this.deps.onDecision?.(decision.outcome === 'allow' ? 'allow' : decision.outcome === 'deny' ? 'deny' : 'needs-approval', decision.category, seconds);
    if (decision.outcome !== 'deny') return { decision, enforced: true, sql, params, analysis, policy, paramTypes };
    // Monitor mode: the denial is recorded when the statement is admitted, as not enforced.
    if (!this.enforcing) return { decision, enforced: false, sql, params, analysis, policy, paramTypes };
    const decisionId = randomUUID();
    await this.record(decisionId, sql, params, decision, 'deny', true, null, null);
    throw error(decision.sqlstate, decision.reason, { reference: `decision ${decisionId}` });
  }

  /** A credential session's trace read is claimed here, once; then admitRequest. */
  private async admit(admission: Admission, executions: number, usage?: Usage): Promise<Request> {
    const binding = this.info.identity.credential;
    const { decision } = admission;
    if (!binding || decision.outcome === 'deny' || decision.category !== 'trace-read') return this.admitRequest(admission, executions, null, usage);
    if (this.credentialReadClaimed) {
      const decisionId = randomUUID();
      const reason = `the one-time credential ${binding.id} allows one read of trace ${binding.traceId}, and it has been made; request a new credential`;
      await this.record(decisionId, admission.sql, admission.params, { outcome: 'deny', category: 'denied', rule: decision.rule, reason, sqlstate: '42501' }, 'deny', true, null, null);
      throw error('42501', reason, { reference: `decision ${decisionId}` });
    }
    this.credentialReadClaimed = true;
    try {
      return await this.admitRequest(admission, executions, binding, usage);
    } catch (err) {
      this.deps.spendCredential?.(binding.id, 'its one read was refused before it ran');
      throw err;
    }
  }

  /** Approval, quota, grant and a durable record: then the request may be forwarded. */
  private async admitRequest(admission: Admission, executions: number, credential: CredentialBinding | null, usage?: Usage): Promise<Request> {
    const { decision, sql, params } = admission;
    const decisionId = randomUUID();
    let approvalId: string | null = null;
    if (decision.outcome === 'needs-approval' && admission.enforced && this.enforcing) {
      // The approval the credential was issued under covers its one read.
      const carried = credential?.approvalId ?? null;
      approvalId = carried ?? (await this.approve(decisionId, decision, sql, params));
      // An approval can take minutes: a policy reloaded meanwhile may no longer allow the
      // read, or want another quorum. The approval was for a decision that no longer
      // holds, so the read is refused; run again, it is decided under the new policy.
      if (carried === null && admission.policy !== this.deps.policy()) {
        const reason = 'the policy was reloaded while this read waited for approval; run it again to have it decided under the new policy';
        await this.record(decisionId, sql, params, { ...decision, reason }, 'deny', true, null, approvalId, '42501');
        throw error('42501', reason, { reference: `decision ${decisionId}` });
      }
    }
    const terms = decision.outcome !== 'deny' && decision.category === 'trace-read' ? decision : null;
    const traceId = terms?.traceId ?? null;
    const rule = decision.rule;
    // A credential's read was charged to the quota when the credential was issued.
    if (traceId !== null && rule && this.enforcing && !credential) {
      const ruleDef = this.deps.policy().rules.find((r) => r.name === rule);
      const quota = ruleDef
        ? await Promise.resolve(this.deps.quotas.checkAndCount({ rule: ruleDef, subject: this.info.identity.subject, traceId, now: this.deps.now() })).catch(async (err: unknown) => {
            // Without the count the quota cannot be kept: refuse (recorded, if the store
            // still records) and keep the session, as for a store that cannot record.
            const reason = 'the quota store cannot be reached, so the statement was not run; try again';
            this.deps.log.warn({ event: 'quota.failed', decisionId, err: String(err) }, 'quota check failed');
            await this.record(decisionId, sql, params, { ...decision, reason }, 'deny', true, null, approvalId, '58030').catch(() => undefined);
            throw error('58030', reason, { reference: `decision ${decisionId}` });
          })
        : ({ ok: false, reason: `rule ${rule} is no longer in the policy` } as const);
      if (!quota.ok) {
        await this.record(decisionId, sql, params, { ...decision, reason: quota.reason }, 'deny', true, null, approvalId, '53400');
        throw error('53400', quota.reason, { reference: `decision ${decisionId}` });
      }
    }
    // An approval can take minutes: a token that expired meanwhile ends the session
    // before the statement runs, as it would have before any other statement.
    if (this.deps.now() >= this.info.identity.expiresAt) {
      await this.record(decisionId, sql, params, { ...decision, reason: 'the token expired before the statement could run' }, 'deny', true, null, approvalId, '28000');
      throw tokenExpired();
    }
    let grant: Grant | null = null;
    let request: Request | undefined;
    if (traceId !== null && rule) {
      grant = this.deps.grants.issue(
        {
          subject: this.info.identity.subject,
          sessionId: this.info.id,
          traceId,
          rule,
          fingerprint: fingerprintOf(sql, admission.analysis),
          ttlMs: terms?.grantTtlMs ?? DEFAULT_GRANT_TTL_MS,
        },
        () => request?.expire(),
      );
    }
    const outcome: DecisionOutcome = admission.enforced ? (decision.outcome === 'needs-approval' ? 'needs-approval' : 'allow') : 'deny';
    try {
      await this.record(decisionId, sql, params, decision, outcome, admission.enforced, grant, approvalId);
    } catch (err) {
      // Its issue was never recorded, so neither is a revocation: it never existed.
      if (grant) this.deps.grants.discard(grant.id);
      throw err;
    }
    if (this.closed) {
      if (grant) this.deps.grants.revoke(grant.id, 'session-ended');
      throw error('57P01', 'the session ended');
    }
    // The record's write may have waited on a slow store: checked again, as above.
    if (this.deps.now() >= this.info.identity.expiresAt) {
      if (grant) this.deps.grants.revoke(grant.id, 'session-ended');
      throw tokenExpired();
    }
    const recorder = this.deps.store.openResponse({ sessionId: this.info.id, statementId: decisionId });
    request = new Request(
      {
        masker: this.deps.masker(),
        plans: this.plans,
        grants: this.deps.grants,
        controls: this.controls,
        now: this.deps.now,
        onComplete: (outcome) => {
          this.deps.onRequestDone?.(outcome.durationMs / 1000);
          if (credential) this.deps.spendCredential?.(credential.id, outcome.error ? `its one read failed: ${outcome.error.code}` : 'its one read completed');
        },
      },
      decisionId,
      recorder,
      (decision.outcome === 'allow' || decision.outcome === 'needs-approval' ? decision.limits : null) ?? DEFAULT_LIMITS,
      terms?.maskingExempt === true,
      grant?.id ?? null,
      executions,
      usage,
    );
    return request;
  }

  private async approve(decisionId: string, decision: Extract<Admissible, { outcome: 'needs-approval' }>, sql: string, params: readonly (string | null)[]): Promise<string> {
    const approvals = this.deps.approvals;
    const approval = decision.approval;
    if (!approvals || !decision.rule) {
      const reason = 'this read needs approval, and no approval service is configured';
      await this.record(decisionId, sql, params, { ...decision, reason }, 'deny', true, null, null);
      throw error('42501', reason, { reference: `decision ${decisionId}` });
    }
    const pending = approvals.request({
      sessionId: this.info.id,
      statementId: decisionId,
      reason: decision.reason,
      requester: this.info.identity,
      traceId: decision.traceId,
      rule: decision.rule,
      statement: sql,
      approverGroups: approval.approverGroups,
      quorum: approval.quorum,
      timeoutMs: approval.timeoutMs,
    });
    this.waiting = { id: pending.id };
    // The request could not be recorded, so no approver ever saw it.
    const unrecorded = (err: unknown): never => {
      if (err instanceof AuditUnavailableError) throw error('58030', 'the audit store cannot record the approval request, so the statement was not run');
      throw err;
    };
    try {
      // Told only once approvers can see the request (ApprovalTicket.listed).
      await pending.listed.catch(unrecorded);
      const url = this.deps.approvalUrl();
      const where = url ? ` at ${url}` : '';
      this.controls.notice(
        `waiting for approval: request ${pending.id} needs ${approval.quorum} approver(s) from ${approval.approverGroups.join(', ')}${where}`,
        `rule ${decision.rule}, trace ${decision.traceId}; the statement runs once approved, or fails with 42501 when denied, after ${Math.round(approval.timeoutMs / 1000)} s, or if the policy is reloaded meanwhile`,
      );
      const outcome = await pending.outcome.catch(unrecorded);
      if (outcome.kind === 'approved') return pending.id;
      const why = outcome.kind === 'denied' ? 'was denied' : outcome.kind === 'timed-out' ? 'timed out' : 'was withdrawn';
      await this.record(decisionId, sql, params, { ...decision, reason: `approval request ${pending.id} ${why}` }, 'deny', true, null, pending.id);
      throw error('42501', `approval request ${pending.id} ${why}`, { reference: `decision ${decisionId}` });
    } finally {
      this.waiting = undefined;
    }
  }

  private async record(
    decisionId: string,
    sql: string,
    params: readonly (string | null)[],
    decision: Admissible,
    outcome: DecisionOutcome,
    enforced: boolean,
    grant: Grant | null,
    approvalId: string | null,
    sqlstate: string | null = outcome === 'deny' && enforced ? (decision.outcome === 'deny' ? decision.sqlstate : '42501') : null,
  ): Promise<void> {
    const record: StatementDecision = {
      statementId: decisionId,
      sessionId: this.info.id,
      at: this.deps.now(),
      text: sql,
      parameters: params,
      decision: outcome,
      enforced,
      rule: decision.rule ?? null,
      reason: decision.outcome !== 'deny' && decision.category === 'trace-read' && decision.maskingExempt ? `${decision.reason} (masking exempt)` : decision.reason,
      sqlstate,
      decisionId,
      grantId: grant?.id ?? null,
      traceId: decision.outcome !== 'deny' && decision.category === 'trace-read' ? decision.traceId : null,
      approvalId,
    };
    try {
      await this.deps.store.recordDecision(
        record,
        grant
          ? {
              grantId: grant.id,
              sessionId: grant.sessionId,
              statementId: decisionId,
              subject: grant.subject,
              traceId: grant.traceId,
              rule: grant.rule,
              fingerprint: grant.fingerprint,
              issuedAt: grant.issuedAt,
              expiresAt: grant.expiresAt,
              ttlMs: grant.expiresAt - grant.issuedAt,
            }
          : undefined,
      );
    } catch (err) {
      if (err instanceof AuditUnavailableError) {
        this.deps.log.error({ ...decisionFields(record), event: 'audit.unavailable' }, 'audit store cannot record; refusing the statement');
        throw error('58030', 'the audit store cannot record this statement, so it was not run', { reference: `decision ${decisionId}` });
      }
      throw err;
    }
    // The fields are built only when they will be logged (at info, once per statement).
    if (this.deps.log.isLevelEnabled('info')) this.deps.log.info(decisionFields(record), 'decision');
  }
}

/**
 * The refusal of a trace read outside a credential session's credential: another trace,
 * or a rule other than the one it was issued under (the policy changed since). Null
 * when the session has no credential or the decision reads no trace.
 */
function credentialScope(binding: CredentialBinding | undefined, decision: Decision): Admissible | null {
  if (!binding || decision.outcome === 'deny' || decision.category !== 'trace-read') return null;
  let reason: string | null = null;
  if (decision.traceId !== binding.traceId) {
    reason = `this session's one-time credential ${binding.id} allows a read of trace ${binding.traceId} only`;
  } else if (decision.rule !== binding.rule) {
    reason = `the one-time credential ${binding.id} was issued under rule ${binding.rule}, and the policy now applies rule ${decision.rule}; request a new credential`;
  }
  return reason === null ? null : { outcome: 'deny', category: 'denied', rule: decision.rule, reason, sqlstate: '42501' };
}
