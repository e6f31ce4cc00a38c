// Prometheus metrics on a Registry of our own (never prom-client's global one, so two
// proxies in one process, as in tests, do not share counters). The session and the gate
// call the typed methods on the hot path, several per statement: those add to plain
// numbers (a histogram's bucket counts in a Float64Array), and prom-client is given the
// totals only when /metrics is scraped (its collect hooks), since its own per-call
// label hashing and validation was a measurable share of a statement's CPU.
//
// Label values must stay few: `category` comes from the policy's fixed set of statement
// kinds, and past MAX_CATEGORIES distinct values everything new is counted as `other`,
// so a bug upstream cannot blow up the series count.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type MetricType } from 'prom-client';
import type { ApprovalEvent, ApprovalOutcome } from '../approvals/approval.js';
import type { RevocationEvent, RevocationTarget } from '../revocation/revocations.js';
import type { PoolStats } from '../upstream/pool.js';

export const STATEMENT_DECISIONS = ['allow', 'deny', 'approval'] as const;
export type StatementDecisionLabel = (typeof STATEMENT_DECISIONS)[number];

export type ProxyMode = 'enforce' | 'monitor';

const MAX_CATEGORIES = 32;

/**
 * A histogram whose observe path is a bucket scan and three additions; the exposition
 * is prom-client's (same series, same labels), built from these counts at scrape time.
 */
class FastHistogram extends Histogram {
  private readonly bounds: readonly number[];
  private readonly counts: Float64Array;
  private readonly seriesName: string;
  private readonly seriesHelp: string;
  private total = 0;
  private sum = 0;

  constructor(config: { name: string; help: string; buckets: readonly number[]; registers: Registry[] }) {
    super({ ...config, buckets: [...config.buckets] });
    this.bounds = [...config.buckets];
    this.seriesName = config.name;
    this.seriesHelp = config.help;
    this.counts = new Float64Array(config.buckets.length);
  }

  record(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] as number)) i++;
    if (i < bounds.length) (this.counts[i] as number)++;
    this.total++;
    this.sum += value;
  }

  override get(): ReturnType<Histogram['get']> {
    return Promise.resolve(this.snapshot());
  }

  /** What the registry asks for when it renders the exposition text (prom-client's contract). */
  getForPromString(): ReturnType<Histogram['get']> {
    return Promise.resolve(this.snapshot());
  }

  private snapshot(): Awaited<ReturnType<Histogram['get']>> {
    const name = this.seriesName;
    const bucket = `${name}_bucket`;
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    let cumulative = 0;
    this.bounds.forEach((le, i) => {
      cumulative += this.counts[i] as number;
      values.push({ labels: { le }, value: cumulative, metricName: bucket });
    });
    values.push({ labels: { le: '+Inf' }, value: this.total, metricName: bucket });
    values.push({ labels: {}, value: this.sum, metricName: `${name}_sum` });
    values.push({ labels: {}, value: this.total, metricName: `${name}_count` });
    // prom-client's typings declare MetricType a numeric enum; its runtime, which renders
    // the `# TYPE` line from this, uses the strings.
    return { name, help: this.seriesHelp, type: 'histogram' as unknown as MetricType, aggregator: 'sum', collect: () => undefined, values };
  }

  override reset(): void {
    super.reset();
    // Also called by prom-client's constructor, before this class's fields exist.
    if (this.counts === undefined) return;
    this.counts.fill(0);
    this.total = 0;
    this.sum = 0;
  }
}

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
  // Counted here, handed to the counter when scraped.
  private readonly statementCounts = new Map<string, { readonly labels: readonly [string, string]; n: number }>();
  private readonly categories = new Set<string>();
  private readonly activeGrants: Gauge;
  private grantsHeld = 0;
  private readonly pendingApprovalsGauge: Gauge;
  private readonly approvals: Counter<'outcome'>;
  private readonly revocations: Counter<'target'>;
  private readonly decisionSeconds: FastHistogram;
  private readonly upstreamSeconds: FastHistogram;

  constructor(opts: MetricsOptions) {
    const registers = [this.registry];
    this.connections = new Gauge({ name: 'tracegate_connections', help: 'Client connections open now', registers });
    this.connectionsTotal = new Counter({ name: 'tracegate_connections_total', help: 'Client connections accepted', registers });
    this.statements = new Counter({
      name: 'tracegate_statements_total',
      help: 'Statements decided, by decision (allow, deny, approval) and statement category',
      labelNames: ['decision', 'category'] as const,
      registers,
      collect: () => {
        for (const entry of this.statementCounts.values()) {
          if (entry.n === 0) continue;
          this.statements.labels(...entry.labels).inc(entry.n);
          entry.n = 0;
        }
      },
    });
    this.activeGrants = new Gauge({
      name: 'tracegate_active_grants',
      help: 'Single-use grants held now',
      registers,
      collect: () => this.activeGrants.set(this.grantsHeld),
    });
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
    this.decisionSeconds = new FastHistogram({
      name: 'tracegate_decision_seconds',
      help: 'Time to decide a statement (parse, policy, recording the decision)',
      buckets: DECISION_BUCKETS,
      registers,
    });
    this.upstreamSeconds = new FastHistogram({
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
    let entry = this.statementCounts.get(key);
    if (!entry) {
      let label = category;
      if (!this.categories.has(category)) {
        if (this.categories.size >= MAX_CATEGORIES) label = 'other';
        else this.categories.add(category);
      }
      entry = { labels: [decision, label], n: 0 };
      this.statementCounts.set(key, entry);
    }
    entry.n++;
  }

  decisionDuration(seconds: number): void {
    this.decisionSeconds.record(seconds);
  }

  upstreamDuration(seconds: number): void {
    this.upstreamSeconds.record(seconds);
  }

  grantIssued(): void {
    this.grantsHeld++;
  }

  grantEnded(): void {
    this.grantsHeld--;
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

  /**
   * The upstream pool's counts, read when scraped: idle connections now, connections
   * opened, reused by a later client, and closed instead of reused, by reason.
   */
  watchUpstreamPool(pool: { stats(): PoolStats }): void {
    const registers = [this.registry];
    const idle: Gauge = new Gauge({ name: 'tracegate_upstream_pool_idle', help: 'Upstream connections idle in the pool now', registers, collect: () => idle.set(pool.stats().idle) });
    const fromStats = (name: string, help: string, read: (stats: PoolStats) => number): void => {
      const counter: Counter = new Counter({
        name,
        help,
        registers,
        collect: () => {
          counter.reset();
          counter.inc(read(pool.stats()));
        },
      });
    };
    fromStats('tracegate_upstream_connections_opened_total', 'Upstream connections opened (logged in with the stored credential)', (s) => s.opened);
    fromStats('tracegate_upstream_connections_reused_total', 'Client sessions given an upstream connection from the pool', (s) => s.reused);
    const discarded: Counter<'reason'> = new Counter({
      name: 'tracegate_upstream_connections_discarded_total',
      help: 'Upstream connections closed instead of kept, by reason (unsettled, cancelled, reset-failed, credential-rotated, ...)',
      labelNames: ['reason'] as const,
      registers,
      collect: () => {
        discarded.reset();
        for (const [reason, n] of Object.entries(pool.stats().discarded)) discarded.labels(reason).inc(n);
      },
    });
  }

  watchRevocations(list: { subscribe(listener: (event: RevocationEvent) => void): () => void }): () => void {
    return list.subscribe((event) => {
      if (event.type === 'revoked') this.revoked(event.revocation.target.kind);
    });
  }
}
