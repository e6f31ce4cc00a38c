// Anti-enumeration quotas (SPEC section 3): per rule and subject, the number of distinct
// traces read within a sliding window, and the number of grants within the last
// minute. checkAndCount is atomic: either both quotas have room and the grant is
// counted, or nothing is counted and the caller gets 53400. In memory with `now`
// injected; QuotaStore is the seam for the shared store a multi-instance deployment
// needs (store-pg/pg-quota-store.ts).
import type { Rule } from './types.js';

export interface QuotaRequest {
  readonly rule: Rule;
  readonly subject: string;
  readonly traceId: string;
  readonly now: number;
}

export type QuotaResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly sqlstate: '53400'; readonly reason: string; readonly retryAfterMs: number };

export interface QuotaStore {
  /** In memory it answers at once; the shared Postgres store (store-pg/) answers a promise. */
  checkAndCount(request: QuotaRequest): QuotaResult | Promise<QuotaResult>;
}

interface SubjectState {
  /**
   * trace id → last time it was read, in order of last read (a re-read moves it to the
   * end), so the entries that fall out of the window are always at the front.
   */
  readonly traces: Map<string, number>;
  /** Grant times within the last minute, oldest first, from index `head` on. */
  grants: number[];
  head: number;
  /** After this, nothing in here counts any more. */
  expiresAt: number;
}

const MINUTE = 60_000;
// Forget subjects whose counts have all expired, so the map cannot grow without bound.
const SWEEP_EVERY = 1024;

export class QuotaTracker implements QuotaStore {
  private readonly state = new Map<string, SubjectState>();
  private calls = 0;

  // Every grant passes here, so each step is O(1) amortised: expired entries leave from
  // the front of ordered structures instead of by scanning them.
  checkAndCount({ rule, subject, traceId, now }: QuotaRequest): QuotaResult {
    const { distinctTraces, grantsPerMinute } = rule.quotas;
    if (distinctTraces === null && grantsPerMinute === null) return { ok: true };
    if (++this.calls % SWEEP_EVERY === 0) this.sweep(now);
    const key = `${rule.name}\0${subject}`;
    const s = this.state.get(key) ?? { traces: new Map<string, number>(), grants: [], head: 0, expiresAt: now };

    if (grantsPerMinute !== null) {
      while (s.head < s.grants.length && (s.grants[s.head] as number) <= now - MINUTE) s.head++;
      if (s.head > 1024 && s.head * 2 > s.grants.length) {
        s.grants = s.grants.slice(s.head);
        s.head = 0;
      }
      if (s.grants.length - s.head >= grantsPerMinute) {
        const oldest = s.grants[s.head] ?? now;
        return over(`more than ${grantsPerMinute} trace reads per minute under rule ${rule.name}`, oldest + MINUTE - now);
      }
    }
    if (distinctTraces !== null) {
      for (const [id, at] of s.traces) {
        if (at > now - distinctTraces.windowMs) break;
        s.traces.delete(id);
      }
      if (!s.traces.has(traceId) && s.traces.size >= distinctTraces.max) {
        const oldest = s.traces.values().next().value ?? now;
        return over(
          `more than ${distinctTraces.max} distinct traces within ${Math.round(distinctTraces.windowMs / 1000)}s under rule ${rule.name}`,
          oldest + distinctTraces.windowMs - now,
        );
      }
      s.traces.delete(traceId);
      s.traces.set(traceId, now);
    }
    if (grantsPerMinute !== null) s.grants.push(now);
    s.expiresAt = now + Math.max(MINUTE, distinctTraces?.windowMs ?? 0);
    this.state.set(key, s);
    return { ok: true };
  }

  private sweep(now: number): void {
    for (const [key, s] of this.state) if (s.expiresAt < now) this.state.delete(key);
  }
}

function over(reason: string, retryAfterMs: number): QuotaResult {
  return { ok: false, sqlstate: '53400', reason: `quota exceeded: ${reason}`, retryAfterMs: Math.max(0, retryAfterMs) };
}
