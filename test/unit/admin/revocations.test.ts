// The revocation list: by subject, session and jti; refusal until `until` and not after;
// the longest revocation wins; which live sessions one revocation ends; the errors the
// client sees; expiry cleanup and events.
import { describe, expect, test } from 'vitest';
import {
  DEFAULT_REVOCATION_TTL_MS,
  MAX_REVOCATION_TTL_MS,
  RevocationList,
  revocationApplies,
  revokedError,
  revokedLoginError,
  type RevocationEvent,
} from '../../../src/revocation/revocations.js';

function setup() {
  let at = 1_000_000;
  let n = 0;
  const list = new RevocationList({ now: () => at, newId: () => `rev-${++n}` });
  const events: RevocationEvent[] = [];
  list.subscribe((e) => events.push(e));
  return { list, events, advance: (ms: number) => (at += ms), now: () => at };
}

const agentA = { subject: 'agent-a', jti: 'jti-1' };
const agentB = { subject: 'agent-b', jti: 'jti-2' };

describe('RevocationList', () => {
  test('a subject revocation refuses that subject, whatever the token, and no one else', () => {
    const { list } = setup();
    const rev = list.revoke({ target: { kind: 'subject', subject: 'agent-a' }, reason: 'leak', by: 'admin' });
    expect(list.isRevoked(agentA)).toBe(rev);
    expect(list.isRevoked({ subject: 'agent-a', jti: undefined })).toBe(rev);
    expect(list.isRevoked(agentB)).toBeUndefined();
  });

  test('a jti revocation refuses that token only', () => {
    const { list } = setup();
    list.revoke({ target: { kind: 'jti', jti: 'jti-1' }, reason: 'leak', by: 'admin' });
    expect(list.isRevoked(agentA)).toBeDefined();
    expect(list.isRevoked({ subject: 'agent-a', jti: 'jti-new' })).toBeUndefined();
    expect(list.isRevoked({ subject: 'agent-a', jti: undefined })).toBeUndefined();
  });

  test('a session revocation matches that session', () => {
    const { list } = setup();
    list.revoke({ target: { kind: 'session', sessionId: 's-1' }, reason: 'r', by: 'admin' });
    expect(list.matches({ id: 's-1', identity: agentA })).toBeDefined();
    expect(list.matches({ id: 's-2', identity: agentA })).toBeUndefined();
    expect(list.isRevoked(agentA)).toBeUndefined();
  });

  test('a subject revocation lasts a day by default; refusal ends at until, then it is pruned', () => {
    const { list, advance, now, events } = setup();
    const rev = list.revoke({ target: { kind: 'subject', subject: 'agent-a' }, reason: 'r', by: 'admin' });
    expect(rev.until).toBe(now() + DEFAULT_REVOCATION_TTL_MS);
    advance(DEFAULT_REVOCATION_TTL_MS - 1);
    expect(list.isRevoked(agentA)).toBeDefined();
    advance(1);
    expect(list.isRevoked(agentA)).toBeUndefined();
    expect(events.map((e) => e.type)).toEqual(['revoked', 'expired']);
    expect(list.list()).toEqual([]);
  });

  // A revoked token is refused until it expires; the list does not know when, and a
  // token living longer than a day must not log in again once a day has passed.
  test('a jti revocation lasts a year by default', () => {
    const { list, advance, now } = setup();
    const rev = list.revoke({ target: { kind: 'jti', jti: 'leaked' }, reason: 'r', by: 'admin' });
    expect(rev.until).toBe(now() + MAX_REVOCATION_TTL_MS);
    advance(3 * DEFAULT_REVOCATION_TTL_MS);
    expect(list.isRevoked({ subject: 'agent-a', jti: 'leaked' })).toBeDefined();
  });

  test('prune drops only expired revocations', () => {
    const { list, advance, now } = setup();
    list.revoke({ target: { kind: 'jti', jti: 'short' }, reason: 'r', by: 'admin', until: now() + 1000 });
    list.revoke({ target: { kind: 'jti', jti: 'long' }, reason: 'r', by: 'admin', until: now() + 5000 });
    advance(2000);
    expect(list.prune().map((r) => r.target)).toEqual([{ kind: 'jti', jti: 'short' }]);
    expect(list.list().map((r) => r.target)).toEqual([{ kind: 'jti', jti: 'long' }]);
  });

  test('a later, shorter revocation does not shorten the one in force', () => {
    const { list, now } = setup();
    const long = list.revoke({ target: { kind: 'subject', subject: 'agent-a' }, reason: 'long', by: 'admin', until: now() + 10_000 });
    list.revoke({ target: { kind: 'subject', subject: 'agent-a' }, reason: 'short', by: 'admin', until: now() + 10 });
    expect(list.isRevoked(agentA)).toBe(long);
    const longer = list.revoke({ target: { kind: 'subject', subject: 'agent-a' }, reason: 'longer', by: 'admin', until: now() + 20_000 });
    expect(list.isRevoked(agentA)).toBe(longer);
  });

  test('refuses a revocation in the past or with an empty target', () => {
    const { list, now } = setup();
    expect(() => list.revoke({ target: { kind: 'subject', subject: 'x' }, reason: 'r', by: 'a', until: now() })).toThrow(RangeError);
    expect(() => list.revoke({ target: { kind: 'jti', jti: '' }, reason: 'r', by: 'a' })).toThrow(RangeError);
  });

  test('revocationApplies: exactly the sessions one revocation names', () => {
    const { list } = setup();
    const bySubject = list.revoke({ target: { kind: 'subject', subject: 'agent-a' }, reason: 'r', by: 'a' });
    const byJti = list.revoke({ target: { kind: 'jti', jti: 'jti-2' }, reason: 'r', by: 'a' });
    const bySession = list.revoke({ target: { kind: 'session', sessionId: 's-9' }, reason: 'r', by: 'a' });
    const sessions = [
      { id: 's-1', identity: agentA },
      { id: 's-2', identity: agentB },
      { id: 's-9', identity: { subject: 'agent-c', jti: undefined } },
    ];
    expect(sessions.filter((s) => revocationApplies(bySubject, s)).map((s) => s.id)).toEqual(['s-1']);
    expect(sessions.filter((s) => revocationApplies(byJti, s)).map((s) => s.id)).toEqual(['s-2']);
    expect(sessions.filter((s) => revocationApplies(bySession, s)).map((s) => s.id)).toEqual(['s-9']);
  });

  test('errors: FATAL 57P01 for a live session, FATAL 28000 at login; both name the revocation, not the reason', () => {
    const { list } = setup();
    const rev = list.revoke({ target: { kind: 'subject', subject: 'agent-a' }, reason: 'internal note', by: 'admin' });
    const live = revokedError(rev);
    expect(live).toMatchObject({ sqlstate: '57P01', severity: 'FATAL', options: { reference: rev.id } });
    expect(live.message).toMatch(/^terminating connection due to administrator command: revoked \(subject agent-a\)/);
    expect(live.message).not.toContain('internal note');
    const login = revokedLoginError(rev);
    expect(login).toMatchObject({ sqlstate: '28000', severity: 'FATAL', options: { reference: rev.id } });
    expect(login.message).toContain(new Date(rev.until).toISOString());
  });

  test('startExpiry prunes on an interval until stopped', async () => {
    let at = 0;
    const list = new RevocationList({ now: () => at });
    list.revoke({ target: { kind: 'jti', jti: 'j' }, reason: 'r', by: 'a', until: 5 });
    at = 10;
    const stop = list.startExpiry(5);
    await new Promise((r) => setTimeout(r, 30));
    stop();
    expect(list.list()).toEqual([]);
  });
});
