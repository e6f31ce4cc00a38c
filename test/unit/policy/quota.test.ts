import { describe, expect, it } from 'vitest';
import { QuotaTracker } from '../../../src/policy/quota.js';
import type { Rule } from '../../../src/policy/types.js';

const base: Rule = {
  name: 'agents',
  groups: ['ai-agents'],
  entitlement: { type: 'any' },
  limits: { maxRows: 10, maxBytes: 100 },
  quotas: { distinctTraces: { max: 2, windowMs: 60 * 60_000 }, grantsPerMinute: 3 },
  grantTtlMs: 30_000,
  approval: null,
  maskingExempt: false,
};
const T0 = 1_700_000_000_000;

describe('QuotaTracker', () => {
  it('counts distinct traces per window and refuses a new one over the limit', () => {
    const q = new QuotaTracker();
    expect(q.checkAndCount({ rule: base, subject: 'a', traceId: 't1', now: T0 })).toEqual({ ok: true });
    expect(q.checkAndCount({ rule: base, subject: 'a', traceId: 't2', now: T0 + 61_000 })).toEqual({ ok: true });
    const over = q.checkAndCount({ rule: base, subject: 'a', traceId: 't3', now: T0 + 122_000 });
    expect(over).toMatchObject({ ok: false, sqlstate: '53400' });
    if (!over.ok) {
      expect(over.reason).toMatch(/more than 2 distinct traces within 3600s under rule agents/);
      expect(over.retryAfterMs).toBe(60 * 60_000 - 122_000);
    }
  });

  it('lets a trace already read in the window be read again', () => {
    const q = new QuotaTracker();
    q.checkAndCount({ rule: base, subject: 'a', traceId: 't1', now: T0 });
    q.checkAndCount({ rule: base, subject: 'a', traceId: 't2', now: T0 + 61_000 });
    expect(q.checkAndCount({ rule: base, subject: 'a', traceId: 't1', now: T0 + 122_000 })).toEqual({ ok: true });
  });

  it('frees a distinct-trace slot once the window has passed', () => {
    const q = new QuotaTracker();
    q.checkAndCount({ rule: base, subject: 'a', traceId: 't1', now: T0 });
    q.checkAndCount({ rule: base, subject: 'a', traceId: 't2', now: T0 + 61_000 });
    expect(q.checkAndCount({ rule: base, subject: 'a', traceId: 't3', now: T0 + 60 * 60_000 + 1 })).toEqual({ ok: true });
  });

  it('limits grants per minute and slides the minute', () => {
    const q = new QuotaTracker();
    for (let i = 0; i < 3; i++) expect(q.checkAndCount({ rule: base, subject: 'a', traceId: 't1', now: T0 + i }).ok).toBe(true);
    const over = q.checkAndCount({ rule: base, subject: 'a', traceId: 't1', now: T0 + 10 });
    expect(over).toMatchObject({ ok: false, sqlstate: '53400', retryAfterMs: 60_000 - 10 });
    expect(q.checkAndCount({ rule: base, subject: 'a', traceId: 't1', now: T0 + 60_001 }).ok).toBe(true);
  });

  it('does not count a refused request', () => {
    const q = new QuotaTracker();
    q.checkAndCount({ rule: base, subject: 'a', traceId: 't1', now: T0 });
    q.checkAndCount({ rule: base, subject: 'a', traceId: 't2', now: T0 + 61_000 });
    expect(q.checkAndCount({ rule: base, subject: 'a', traceId: 't3', now: T0 + 122_000 }).ok).toBe(false);
    expect(q.checkAndCount({ rule: base, subject: 'a', traceId: 't4', now: T0 + 123_000 }).ok).toBe(false);
    expect(q.checkAndCount({ rule: base, subject: 'a', traceId: 't2', now: T0 + 124_000 }).ok).toBe(true);
  });

  it('keeps subjects and rules apart', () => {
    const q = new QuotaTracker();
    const other: Rule = { ...base, name: 'other' };
    for (let i = 0; i < 3; i++) q.checkAndCount({ rule: base, subject: 'a', traceId: 't1', now: T0 });
    expect(q.checkAndCount({ rule: base, subject: 'b', traceId: 't1', now: T0 }).ok).toBe(true);
    expect(q.checkAndCount({ rule: other, subject: 'a', traceId: 't1', now: T0 }).ok).toBe(true);
  });

  it('never refuses a rule without quotas', () => {
    const q = new QuotaTracker();
    const free: Rule = { ...base, quotas: { distinctTraces: null, grantsPerMinute: null } };
    for (let i = 0; i < 1000; i++) expect(q.checkAndCount({ rule: free, subject: 'a', traceId: `t${i}`, now: T0 }).ok).toBe(true);
  });

  it('forgets expired subjects', () => {
    const q = new QuotaTracker();
    for (let i = 0; i < 2000; i++) q.checkAndCount({ rule: base, subject: `s${i}`, traceId: 't', now: T0 + i * 3_600_000 });
    const size = (q as unknown as { state: Map<string, unknown> }).state.size;
    expect(size).toBeLessThan(1100);
  });

  it('holds a large window without scanning or overflowing it: the oldest read sets the retry time', () => {
    const big: Rule = { ...base, quotas: { distinctTraces: { max: 200_000, windowMs: 60 * 60_000 }, grantsPerMinute: null } };
    const q = new QuotaTracker();
    for (let i = 0; i < 200_000; i++) {
      expect(q.checkAndCount({ rule: big, subject: 'a', traceId: `t${i}`, now: T0 + i }).ok).toBe(true);
    }
    // A re-read moves t0 to the back: t1 is now the oldest.
    expect(q.checkAndCount({ rule: big, subject: 'a', traceId: 't0', now: T0 + 200_000 }).ok).toBe(true);
    const over = q.checkAndCount({ rule: big, subject: 'a', traceId: 'new', now: T0 + 200_001 });
    expect(over).toMatchObject({ ok: false, sqlstate: '53400' });
    if (!over.ok) expect(over.retryAfterMs).toBe(T0 + 1 + 60 * 60_000 - (T0 + 200_001));
  });
});
