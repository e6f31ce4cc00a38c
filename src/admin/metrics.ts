// Prometheus metrics on a Registry of our own (never prom-client's global one, so two
// proxies in one process, as in tests, do not share counters). The session and the gate
// call the typed methods on the hot path: each is a counter or gauge update on a child
// resolved once and cached, no label-string building per call.
//
// Label values must stay few: `category` comes from the policy's fixed set of statement
// kinds, and past MAX_CATEGORIES distinct values everything new is counted as `other`,
// so a bug upstream cannot blow up the series count.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ApprovalEvent, ApprovalOutcome } from '../approvals/approval.js';
import type { RevocationEvent, RevocationTarget } from '../revocation/revocations.js';

export const STATEMENT_DECISIONS = ['allow', 'deny', 'approval'] as const;
export type StatementDecisionLabel = (typeof STATEMENT_DECISIONS)[number];

export type ProxyMode = 'enforce' | 'monitor';

const MAX_CATEGORIES = 32;

// Policy decisions are pure and in-memory: microseconds, so the buckets start at 5 µs.
const DECISION_BUCKETS = [5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 1];
const UPSTREAM_BUCKETS = [2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export interface MetricsOptions {
  readonly mode: ProxyMode;
  /** Node process metrics (CPU, memory, event loop, GC); default true. */
  readonly processMetrics?: boolean;
}

export class Metrics {
  readonly registry = new Registry();
  private readonly connections: Gauge;
  private readonly connectionsTotal: Counter;
  private readonly statements: Counter<'decision' | 'category'>;
  private readonly statementChildren = new Map<string, Counter.Internal>();
  private readonly categories = new Set<string>();
  private readonly activeGrants: Gauge;
  private readonly pendingApprovalsGauge: Gauge;
  private readonly approvals: Counter<'outcome'>;
  private readonly revocations: Counter<'target'>;
  private readonly decisionSeconds: Histogram;
  private readonly upstreamSeconds: Histogram;

  constructor(opts: MetricsOptions) {
    const registers = [this.registry];
    this.connections = new Gauge({ name: 'tracegate_connections', help: 'Client connections open now', registers });
    this.connectionsTotal = new Counter({ name: 'tracegate_connections_total', help: 'Client connections accepted', registers });
    this.statements = new Counter({
      name: 'tracegate_statements_total',
      help: 'Statements decided, by decision (allow, deny, approval) and statement category',
      labelNames: ['decision', 'category'] as const,
      registers,
    });
    this.activeGrants = new Gauge({ name: 'tracegate_active_grants', help: 'Single-use grants held now', registers });
    this.pendingApprovalsGauge = new Gauge({ name: 'tracegate_pending_approvals', help: 'Approval requests waiting for approvers', registers });
    this.approvals = new Counter({
      name: 'tracegate_approvals_total',
      help: 'Approval requests settled, by outcome',
      labelNames: ['outcome'] as const,
      registers,
    });
    this.revocations = new Counter({
      name: 'tracegate_revocations_total',
      help: 'Admin revocations, by target kind',
      labelNames: ['target'] as const,
      registers,
    });
    this.decisionSeconds = new Histogram({
      name: 'tracegate_decision_seconds',
      help: 'Time to decide a statement (parse, policy, recording the decision)',
      buckets: DECISION_BUCKETS,
      registers,
    });
    this.upstreamSeconds = new Histogram({
      name: 'tracegate_upstream_seconds',
      help: 'Time from forwarding a statement upstream to its completion',
      buckets: UPSTREAM_BUCKETS,
      registers,
    });
    const mode = new Gauge({ name: 'tracegate_mode', help: 'The enforcement mode (1 for the active mode)', labelNames: ['mode'] as const, registers });
    mode.set({ mode: opts.mode }, 1);
    if (opts.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text for GET /metrics. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  connectionOpened(): void {
    this.connections.inc();
    this.connectionsTotal.inc();
  }

  connectionClosed(): void {
    this.connections.dec();
  }

  statement(decision: StatementDecisionLabel, category: string): void {
    const key = `${decision}\0${category}`;
    let child = this.statementChildren.get(key);
    if (!child) {
      let label = category;
      if (!this.categories.has(category)) {
        if (this.categories.size >= MAX_CATEGORIES) label = 'other';
        else this.categories.add(category);
      }
      child = this.statements.labels(decision, label);
      this.statementChildren.set(key, child);
    }
    child.inc();
  }

  decisionDuration(seconds: number): void {
    this.decisionSeconds.observe(seconds);
  }

  upstreamDuration(seconds: number): void {
    this.upstreamSeconds.observe(seconds);
  }

  grantIssued(): void {
    this.activeGrants.inc();
  }

  grantEnded(): void {
    this.activeGrants.dec();
  }

  pendingApprovals(count: number): void {
    this.pendingApprovalsGauge.set(count);
  }

  approvalSettled(outcome: ApprovalOutcome['kind']): void {
    this.approvals.inc({ outcome });
  }

  revoked(target: RevocationTarget['kind']): void {
    this.revocations.inc({ target });
  }

  /** Feeds the approval gauge and counter from a service's events; returns unsubscribe. */
  watchApprovals(service: { subscribe(listener: (event: ApprovalEvent) => void): () => void }): () => void {
    return service.subscribe((event) => {
      if (event.type === 'unrecorded') return;
      this.pendingApprovals(event.pending);
      if (event.type === 'decided') this.approvalSettled(event.outcome.kind);
    });
  }

  watchRevocations(list: { subscribe(listener: (event: RevocationEvent) => void): () => void }): () => void {
    return list.subscribe((event) => {
      if (event.type === 'revoked') this.revoked(event.revocation.target.kind);
    });
  }
}
