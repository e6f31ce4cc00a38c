// Metrics: every documented series is exposed, on a registry of its own, with the
// label values the session passes; category cardinality is capped.
import { Histogram, register as globalRegistry, Registry } from 'prom-client';
import { describe, expect, test } from 'vitest';
import { Metrics } from '../../../src/admin/metrics.js';
import type { ApprovalEvent, ApprovalView } from '../../../src/approvals/approval.js';
import type { PoolStats } from '../../../src/upstream/pool.js';

describe('Metrics', () => {
  test('exposes every series with the values recorded', async () => {
    const m = new Metrics({ mode: 'monitor' });
    m.connectionOpened();
    m.connectionOpened();
    m.connectionClosed();
    m.statement('allow', 'trace-read');
    m.statement('allow', 'trace-read');
    m.statement('deny', 'blocked');
    m.statement('approval', 'trace-read');
    m.decisionDuration(0.000007);
    m.upstreamDuration(0.02);
    m.grantIssued();
    m.pendingApprovals(3);
    m.approvalSettled('approved');
    m.revoked('subject');
    const text = await m.render();
    expect(text).toContain('tracegate_connections 1');
    expect(text).toContain('tracegate_connections_total 2');
    expect(text).toContain('tracegate_statements_total{decision="allow",category="trace-read"} 2');
    expect(text).toContain('tracegate_statements_total{decision="deny",category="blocked"} 1');
    expect(text).toContain('tracegate_statements_total{decision="approval",category="trace-read"} 1');
    expect(text).toContain('tracegate_active_grants 1');
    expect(text).toContain('tracegate_pending_approvals 3');
    expect(text).toContain('tracegate_decision_seconds_bucket{le="0.000005"} 0');
    expect(text).toContain('tracegate_decision_seconds_bucket{le="0.00001"} 1');
    expect(text).toContain('tracegate_upstream_seconds_count 1');
    expect(text).toContain('tracegate_mode{mode="monitor"} 1');
    expect(text).toContain('tracegate_approvals_total{outcome="approved"} 1');
    expect(text).toContain('tracegate_revocations_total{target="subject"} 1');
    expect(text).toContain('process_cpu_user_seconds_total');
    expect(m.contentType).toMatch(/^text\/plain/);
  });

  test('two instances do not share series, and the global registry stays empty of ours', async () => {
    const a = new Metrics({ mode: 'enforce', processMetrics: false });
    const b = new Metrics({ mode: 'enforce', processMetrics: false });
    a.connectionOpened();
    expect(await b.render()).toContain('tracegate_connections_total 0');
    expect(await globalRegistry.metrics()).not.toContain('tracegate_');
  });

  test('category values past the cap are counted as other', async () => {
    const m = new Metrics({ mode: 'enforce', processMetrics: false });
    for (let i = 0; i < 40; i++) m.statement('deny', `c${i}`);
    const text = await m.render();
    expect(text).toContain('category="c31"');
    expect(text).not.toContain('category="c32"');
    expect(text).toContain('tracegate_statements_total{decision="deny",category="other"} 8');
  });

  test('watchApprovals keeps the pending gauge and the outcome counter', async () => {
    const m = new Metrics({ mode: 'enforce', processMetrics: false });
    let listener: ((e: ApprovalEvent) => void) | undefined;
    m.watchApprovals({
      subscribe: (l) => {
        listener = l;
        return () => undefined;
      },
    });
    const approval = { id: 'a' } as ApprovalView;
    listener?.({ type: 'requested', approval, pending: 2 });
    listener?.({ type: 'decided', approval, outcome: { kind: 'timed-out' }, pending: 1 });
    const text = await m.render();
    expect(text).toContain('tracegate_pending_approvals 1');
    expect(text).toContain('tracegate_approvals_total{outcome="timed-out"} 1');
  });

  test("the duration histograms render exactly as prom-client's own Histogram would", async () => {
    const m = new Metrics({ mode: 'enforce', processMetrics: false });
    const registry = new Registry();
    const reference = new Histogram({
      name: 'tracegate_upstream_seconds',
      help: 'Time from forwarding a statement upstream to its completion',
      buckets: [2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    });
    for (const seconds of [0, 0.00025, 0.0003, 0.002, 0.002, 0.7, 59, 61, 3600]) {
      m.upstreamDuration(seconds);
      reference.observe(seconds);
    }
    const series = (text: string): string[] => text.split('\n').filter((l) => l.includes('tracegate_upstream_seconds'));
    expect(series(await m.render())).toEqual(series(await registry.metrics()));
    expect(series(await m.render())).toContain('tracegate_upstream_seconds_bucket{le="0.00025"} 2');
  });

  test('watchUpstreamPool exposes the pool counts as they are when scraped', async () => {
    const m = new Metrics({ mode: 'enforce' });
    let stats: PoolStats = { idle: 2, opened: 5, reused: 9, resets: 9, discarded: { unsettled: 1, cancelled: 2 } };
    m.watchUpstreamPool({ stats: () => stats });
    let text = await m.render();
    expect(text).toContain('tracegate_upstream_pool_idle 2');
    expect(text).toContain('tracegate_upstream_connections_opened_total 5');
    expect(text).toContain('tracegate_upstream_connections_reused_total 9');
    expect(text).toContain('tracegate_upstream_connections_discarded_total{reason="unsettled"} 1');
    expect(text).toContain('tracegate_upstream_connections_discarded_total{reason="cancelled"} 2');
    // Counters follow the pool's totals, not a sum of scrapes.
    stats = { idle: 0, opened: 6, reused: 9, resets: 9, discarded: { unsettled: 1, cancelled: 2, 'idle-timeout': 2 } };
    text = await m.render();
    expect(text).toContain('tracegate_upstream_pool_idle 0');
    expect(text).toContain('tracegate_upstream_connections_opened_total 6');
    expect(text).toContain('tracegate_upstream_connections_reused_total 9');
    expect(text).toContain('tracegate_upstream_connections_discarded_total{reason="idle-timeout"} 2');
    expect(text).toContain('tracegate_upstream_connections_discarded_total{reason="cancelled"} 2');
  });
});
