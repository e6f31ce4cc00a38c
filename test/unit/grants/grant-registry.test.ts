// The grant registry's expiry: one shared timer stands in for a timer per grant, so
// what must hold is what each grant's own timer gave: every grant still held when its
// TTL runs out is revoked as expired and its onExpire fires once, in TTL order across
// different TTLs; a grant revoked or discarded before that never fires.
import { afterEach, beforeEach, expect, test, vi } from 'vitest';
import { GrantRegistry, grantId, type Grant, type GrantRevokeReason } from '../../../src/grants/grant-registry.js';

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
});
afterEach(() => {
  vi.useRealTimers();
});

function registry(): { grants: GrantRegistry; revoked: [string, GrantRevokeReason][]; expired: string[]; issue: (traceId: string, ttlMs: number) => Grant } {
  const revoked: [string, GrantRevokeReason][] = [];
  const expired: string[] = [];
  const grants = new GrantRegistry(Date.now, { revoked: (g, reason) => revoked.push([g.traceId, reason]) });
  const issue = (traceId: string, ttlMs: number): Grant =>
    grants.issue({ subject: 's', sessionId: 'sess', traceId, rule: 'r', fingerprint: 'f', ttlMs }, (g) => expired.push(g.traceId));
  return { grants, revoked, expired, issue };
}

test('grants expire when their own TTL runs out, whatever the order they were issued in', () => {
  const { grants, revoked, expired, issue } = registry();
  issue('long', 30_000);
  vi.advanceTimersByTime(1000);
  issue('short', 5000);
  issue('short-2', 5000);
  vi.advanceTimersByTime(4999);
  expect(expired).toEqual([]);
  vi.advanceTimersByTime(1);
  expect(expired).toEqual(['short', 'short-2']);
  expect(grants.active().map((g) => g.traceId)).toEqual(['long']);
  vi.advanceTimersByTime(23_999);
  expect(expired).toEqual(['short', 'short-2']);
  vi.advanceTimersByTime(1);
  expect(expired).toEqual(['short', 'short-2', 'long']);
  expect(revoked).toEqual([
    ['short', 'expired'],
    ['short-2', 'expired'],
    ['long', 'expired'],
  ]);
  expect(grants.active()).toEqual([]);
});

test('a grant revoked or discarded before its TTL never expires; one still held behind them does', () => {
  const { grants, revoked, expired, issue } = registry();
  const done = issue('done', 1000);
  const dropped = issue('dropped', 1000);
  issue('running', 1000);
  expect(grants.revoke(done.id, 'completed')).toBe(true);
  grants.discard(dropped.id);
  expect(grants.revoke(done.id, 'error')).toBe(false);
  vi.advanceTimersByTime(1000);
  expect(expired).toEqual(['running']);
  expect(revoked).toEqual([
    ['done', 'completed'],
    ['running', 'expired'],
  ]);
});

test('thousands of grants completed behind one long-running grant: the long one still expires on time, the rest never', () => {
  const { grants, expired, issue } = registry();
  issue('stuck', 30_000);
  for (let i = 0; i < 5000; i++) {
    const g = issue(`t${i}`, 30_000);
    grants.revoke(g.id, 'completed');
    vi.advanceTimersByTime(1);
  }
  vi.advanceTimersByTime(30_000 - 5000);
  expect(expired).toEqual(['stuck']);
  expect(grants.active()).toEqual([]);
});

test('an expiry revokes once: revoking it in onExpire or after is a no-op', () => {
  const revoked: GrantRevokeReason[] = [];
  const grants = new GrantRegistry(Date.now, { revoked: (_g, reason) => revoked.push(reason) });
  let again: boolean | undefined;
  grants.issue({ subject: 's', sessionId: 'sess', traceId: 't', rule: 'r', fingerprint: 'f', ttlMs: 10 }, (g) => (again = grants.revoke(g.id, 'completed')));
  vi.advanceTimersByTime(10);
  expect(again).toBe(false);
  expect(revoked).toEqual(['expired']);
});

test('grant ids are UUIDv7: issue time first, so they sort by time, and 74 random bits', () => {
  const v7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
  const at = Date.parse('2026-11-26T08:00:00.000Z');
  const id = grantId(at);
  expect(id).toMatch(v7);
  expect(parseInt(id.slice(0, 8) + id.slice(9, 13), 16)).toBe(at);
  const later = Array.from({ length: 50 }, (_, i) => grantId(at + 1 + i));
  expect([...later].sort()).toEqual(later);
  expect(later.every((l) => l > id)).toBe(true);
  const sameMs = new Set(Array.from({ length: 1000 }, () => grantId(at)));
  expect(sameMs.size).toBe(1000);
  for (const g of sameMs) expect(g).toMatch(v7);
});

test('the registry issues time-ordered ids', () => {
  const t0 = Date.parse('2026-11-26T08:00:00.000Z');
  let t = t0;
  const registry = new GrantRegistry(() => t);
  const request = { subject: 'agent-a', sessionId: 's-1', traceId: 'tr_1', rule: 'r', fingerprint: 'fp', ttlMs: 30_000 };
  const first = registry.issue(request, () => {});
  t += 5;
  const second = registry.issue(request, () => {});
  expect(first.id < second.id).toBe(true);
  expect(parseInt(first.id.slice(0, 8) + first.id.slice(9, 13), 16)).toBe(t0);
  registry.revoke(first.id, 'completed');
  registry.revoke(second.id, 'completed');
});
