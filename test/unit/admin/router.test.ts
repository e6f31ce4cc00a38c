// The admin router and the time inputs it is fed: literal paths before parameters,
// 405 with the allowed methods, HEAD as GET (but not on a one-time delivery), odd path
// parameters not matched.
import { describe, expect, test } from 'vitest';
import { json } from '../../../src/admin/http.js';
import { Router, type Route } from '../../../src/admin/router.js';
import { parseTimeInput } from '../../../src/admin/time-input.js';

const route = (method: Route['method'], path: string): Route => ({ method, path, access: 'public', handle: () => json({ path }) });

describe('Router', () => {
  const router = new Router([
    route('GET', '/'),
    route('GET', '/api/sessions/recorded'),
    route('GET', '/api/sessions/:id'),
    route('GET', '/api/sessions/:id/replay'),
    route('POST', '/api/approvals/:id/approve'),
  ]);

  test('matches literals first and extracts parameters', () => {
    expect(router.match('GET', '/')).toMatchObject({ kind: 'found', route: { path: '/' } });
    expect(router.match('GET', '/api/sessions/recorded')).toMatchObject({ route: { path: '/api/sessions/recorded' }, params: {} });
    expect(router.match('GET', '/api/sessions/abc-1')).toMatchObject({ route: { path: '/api/sessions/:id' }, params: { id: 'abc-1' } });
    expect(router.match('HEAD', '/api/sessions/abc-1/replay')).toMatchObject({ kind: 'found', params: { id: 'abc-1' } });
  });

  test('405 lists the allowed methods; unknown paths are 404', () => {
    expect(router.match('GET', '/api/approvals/x/approve')).toEqual({ kind: 'method-not-allowed', allow: ['POST'] });
    expect(router.match('GET', '/api/nothing')).toEqual({ kind: 'not-found' });
    expect(router.match('GET', '/api/sessions/abc/')).toEqual({ kind: 'not-found' });
  });

  // HEAD runs a GET without sending its body: on a one-time delivery (a credential's
  // secret) it would spend the delivery and show nothing.
  test('HEAD is refused on a GET that delivers once', () => {
    const once = new Router([{ ...route('GET', '/api/credentials/:id'), deliversOnce: true }]);
    expect(once.match('HEAD', '/api/credentials/c-1')).toEqual({ kind: 'method-not-allowed', allow: ['GET'] });
    expect(once.match('GET', '/api/credentials/c-1')).toMatchObject({ kind: 'found', params: { id: 'c-1' } });
  });

  test('parameters with slashes, spaces or bad escapes do not match', () => {
    expect(router.match('GET', '/api/sessions/a%2Fb').kind).toBe('not-found');
    expect(router.match('GET', '/api/sessions/a%20b').kind).toBe('not-found');
    expect(router.match('GET', '/api/sessions/%E0%A4%A').kind).toBe('not-found');
  });
});

describe('parseTimeInput', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  test('durations go ahead or behind', () => {
    expect(parseTimeInput('2h', now, 'ahead')).toBe(now + 7_200_000);
    expect(parseTimeInput('30m', now, 'behind')).toBe(now - 1_800_000);
  });
  test('ISO instants and epoch milliseconds', () => {
    expect(parseTimeInput('2026-01-02T00:00:00Z', now, 'ahead')).toBe(now + 86_400_000);
    expect(parseTimeInput('1767312000000', now, 'ahead')).toBe(1767312000000);
    expect(parseTimeInput(1767312000000, now, 'ahead')).toBe(1767312000000);
  });
  test('anything else is refused', () => {
    expect(parseTimeInput('tomorrow', now, 'ahead')).toBeUndefined();
    expect(parseTimeInput('Jan 2', now, 'ahead')).toBeUndefined();
    expect(parseTimeInput('2026-13-45', now, 'ahead')).toBeUndefined();
    expect(parseTimeInput(Number.NaN, now, 'ahead')).toBeUndefined();
  });
});
