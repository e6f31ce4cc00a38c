// The QuotaStore (policy/quota.ts) on the shared store: the counts are the store's, not
// a process's, so N distinct traces means N across every instance together. One call of
// the quota_check() function (pg-schema.ts) checks both quotas and counts the grant in
// one transaction, under an advisory lock per (rule, subject): atomic across instances,
// one round trip, and timed by the store's clock (an instance's own may run ahead).
// Rules without quotas never reach the store.
import type pg from 'pg';
import type { QuotaRequest, QuotaResult, QuotaStore } from '../policy/quota.js';
import { quoteSchema } from './pg-schema.js';

export class PgQuotaStore implements QuotaStore {
  private readonly s: string;

  constructor(private readonly options: { readonly pool: pg.Pool; readonly schema: string }) {
    this.s = quoteSchema(options.schema);
  }

  async checkAndCount({ rule, subject, traceId }: QuotaRequest): Promise<QuotaResult> {
    const { distinctTraces, grantsPerMinute } = rule.quotas;
    if (distinctTraces === null && grantsPerMinute === null) return { ok: true };
    const row = (
      await this.options.pool.query<{ ok: boolean; problem: 'grants' | 'traces' | null; retry_after_ms: number }>(
        `SELECT ok, problem, retry_after_ms FROM ${this.s}.quota_check($1, $2, $3, $4, $5, $6)`,
        [rule.name, subject, traceId, distinctTraces?.max ?? null, distinctTraces?.windowMs ?? null, grantsPerMinute],
      )
    ).rows[0];
    if (!row) throw new Error('quota_check returned no row');
    if (row.ok) return { ok: true };
    const reason =
      row.problem === 'grants'
        ? `more than ${grantsPerMinute} trace reads per minute under rule ${rule.name}`
        : `more than ${distinctTraces?.max} distinct traces within ${Math.round((distinctTraces?.windowMs ?? 0) / 1000)}s under rule ${rule.name}`;
    return { ok: false, sqlstate: '53400', reason: `quota exceeded: ${reason}`, retryAfterMs: Math.max(0, row.retry_after_ms) };
  }
}
