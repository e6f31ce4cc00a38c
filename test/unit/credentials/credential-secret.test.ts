// The credential's text form and the only ways its secret is handled: fresh values are
// unique and well formed, parsing accepts exactly that form, only a SHA-256 digest is
// kept, and the comparison goes through timingSafeEqual on equal-length digests.
import * as crypto from 'node:crypto';
import { afterEach, describe, expect, test, vi } from 'vitest';

vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return { ...actual, timingSafeEqual: vi.fn(actual.timingSafeEqual) };
});

const {
  formatCredential,
  hasCredentialPrefix,
  hashSecret,
  newCredentialId,
  newSecret,
  parseCredential,
  secretMatches,
} = await import('../../../src/credentials/credential-secret.js');

afterEach(() => vi.mocked(crypto.timingSafeEqual).mockClear());

describe('credential text', () => {
  test('ids and secrets are fresh, of the documented form, and 80 and 256 bits long', () => {
    const ids = new Set(Array.from({ length: 1000 }, newCredentialId));
    const secrets = new Set(Array.from({ length: 1000 }, newSecret));
    expect(ids.size).toBe(1000);
    expect(secrets.size).toBe(1000);
    for (const id of ids) expect(id).toMatch(/^tgc_[0-9a-f]{20}$/);
    for (const s of secrets) expect(Buffer.from(s, 'base64url')).toHaveLength(32);
  });

  test('a formatted credential parses back into its id and secret', () => {
    for (let i = 0; i < 200; i++) {
      const id = newCredentialId();
      const secret = newSecret();
      const text = formatCredential(id, secret);
      expect(hasCredentialPrefix(text)).toBe(true);
      expect(parseCredential(text)).toEqual({ id, secret });
    }
  });

  test.each([
    ['empty', ''],
    ['no secret', 'tgc_0123456789abcdef0123'],
    ['short secret', `tgc_0123456789abcdef0123_${'A'.repeat(42)}`],
    ['long secret', `tgc_0123456789abcdef0123_${'A'.repeat(44)}`],
    ['upper-case id', `tgc_0123456789ABCDEF0123_${'A'.repeat(43)}`],
    ['short id', `tgc_0123456789abcdef012_${'A'.repeat(43)}`],
    ['other prefix', `tgx_0123456789abcdef0123_${'A'.repeat(43)}`],
    ['trailing newline', `tgc_0123456789abcdef0123_${'A'.repeat(43)}\n`],
    ['a JWT', 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln'],
  ])('%s does not parse', (_name, text) => {
    expect(parseCredential(text)).toBeNull();
  });

  test('an OIDC token never carries the credential prefix', () => {
    expect(hasCredentialPrefix('eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln')).toBe(false);
  });
});

describe('secret hashing and comparison', () => {
  test('the stored form is the SHA-256 digest, not the secret', () => {
    const secret = newSecret();
    const hash = hashSecret(secret);
    expect(hash).toHaveLength(32);
    expect(hash.toString('hex')).toBe(crypto.createHash('sha256').update(secret).digest('hex'));
    expect(hash.toString('utf8')).not.toContain(secret);
  });

  test('only the right secret matches', () => {
    const secret = newSecret();
    const hash = hashSecret(secret);
    expect(secretMatches(hash, secret)).toBe(true);
    expect(secretMatches(hash, newSecret())).toBe(false);
    expect(secretMatches(hash, `${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`)).toBe(false);
    expect(secretMatches(hash, '')).toBe(false);
  });

  test('every comparison is timingSafeEqual over two 32-byte digests, whatever length was presented', () => {
    const hash = hashSecret(newSecret());
    for (const presented of ['', 'x', newSecret(), 'y'.repeat(10_000)]) {
      expect(secretMatches(hash, presented)).toBe(false);
    }
    const calls = vi.mocked(crypto.timingSafeEqual).mock.calls;
    expect(calls).toHaveLength(4);
    for (const [a, b] of calls) {
      expect((a as Buffer).length).toBe(32);
      expect((b as Buffer).length).toBe(32);
    }
  });
});
