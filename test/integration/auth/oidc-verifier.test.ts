// The token verifier against the real development issuer: real client_credentials
// tokens, hand-minted bad ones (each refused for its own reason), clock skew, claim
// mapping, configuration-time refusals, and the JWKS life cycle: lazy discovery while
// the issuer is still down, cached keys once it goes away, and key rotation.

import { createHash, randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { SignJWT, base64url, exportJWK, generateKeyPair, importJWK } from 'jose';
import type { JWK, JWTPayload } from 'jose';
import { describe, expect, test, vi } from 'vitest';
import { AuthError, createTokenVerifier } from '../../../src/auth/oidc-verifier.js';
import type { AuthFailureReason, OidcOptions, TokenVerifier } from '../../../src/auth/oidc-verifier.js';
import { demoClients, startDevIssuer } from '../../../src/demo/dev-issuer.js';
import { BAD_TOKEN_KINDS, getToken, mintToken, mintValid, testEnv, untilExpired } from '../../helpers/env.js';
import type { BadTokenKind } from '../../helpers/env.js';

function verifier(overrides: Partial<OidcOptions> = {}): TokenVerifier {
  const { oidc } = testEnv();
  return createTokenVerifier({
    issuer: oidc.issuer,
    audience: oidc.audience,
    subjectClaim: 'sub',
    groupsClaim: 'groups',
    clockSkewSeconds: 30,
    algorithms: ['RS256', 'ES256', 'PS256', 'EdDSA'],
    ...overrides,
  });
}

async function rejection(promise: Promise<unknown>): Promise<AuthError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(AuthError);
    return err as AuthError;
  }
  throw new Error('expected the token to be rejected');
}

async function reasonFor(v: TokenVerifier, token: string): Promise<AuthFailureReason> {
  return (await rejection(v.verify(token))).reason;
}

function now(): number {
  return Math.floor(Date.now() / 1000);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** A token from a private dev issuer, signed with its key (or another), for its audience. */
async function signFor(issuer: { issuer: string; audience: string }, key: JWK, claims: JWTPayload = {}): Promise<string> {
  const iat = now();
  return new SignJWT({ iss: issuer.issuer, aud: issuer.audience, sub: 'agent-a', groups: ['ai-agents'], jti: randomUUID(), iat, exp: iat + 300, ...claims })
    .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: key.kid ?? '' })
    .sign(await importJWK(key, 'RS256'));
}

async function freshKey(): Promise<JWK> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  return { ...(await exportJWK(privateKey)), kid: `rotated-${randomUUID()}`, alg: 'RS256', use: 'sig' };
}

describe('real tokens', () => {
  test('a client_credentials token verifies to its subject, groups, jti, expiry and hash', async () => {
    const token = await getToken('agent-a');
    const identity = await verifier().verify(token);
    expect(identity.subject).toBe('agent-a');
    expect(identity.groups).toEqual(['ai-agents']);
    expect(identity.jti).toMatch(/.{16,}/);
    expect(identity.tokenHash).toBe(createHash('sha256').update(token).digest('hex'));
    expect(identity.claims['iss']).toBe(testEnv().oidc.issuer);
    const exp = identity.claims['exp'] as number;
    expect(identity.expiresAt).toBe((exp + 30) * 1000);
    expect(JSON.stringify(identity)).not.toContain(token);
  });

  test('each demo client gets its own groups', async () => {
    const v = verifier();
    expect((await v.verify(await getToken('reviewer'))).groups).toEqual(['security']);
    expect((await v.verify(await getToken('admin'))).groups).toEqual(['tracegate-admins', 'security']);
  });

  test('any one of several configured audiences is accepted', async () => {
    const v = verifier({ audience: ['another-service', testEnv().oidc.audience] });
    expect((await v.verify(await getToken('agent-b'))).subject).toBe('agent-b');
  });

  test('a real token the issuer made short-lived is refused once it has expired', async () => {
    // Five seconds: the first verification (discovery, the JWKS) must fit inside it on
    // a loaded machine; then wait for the expiry itself.
    const token = await getToken('agent-a', { expiresIn: 5 });
    const strict = verifier({ clockSkewSeconds: 0 });
    await strict.verify(token);
    await untilExpired(token, 1100);
    expect(await reasonFor(strict, token)).toBe('expired');
  });
});

describe('bad tokens are refused for the right reason', () => {
  const expected: Record<BadTokenKind, AuthFailureReason> = {
    expired: 'expired',
    'not-yet-valid': 'not-yet-valid',
    'wrong-audience': 'audience',
    'wrong-issuer': 'issuer',
    'unknown-kid': 'unknown-key',
    'alg-none': 'algorithm',
    'hs256-public-key': 'algorithm',
    'bad-signature': 'signature',
  };

  test.each(BAD_TOKEN_KINDS)('%s', async (kind) => {
    const token = await mintToken(kind);
    const err = await rejection(verifier().verify(token));
    expect(err.reason).toBe(expected[kind]);
    expect(err.message).toContain(expected[kind]);
    // The error names the reason and nothing of the token: no segment, no claim value.
    for (const part of token.split('.').filter((p) => p.length > 8)) expect(err.message).not.toContain(part);
    expect(err.message).not.toContain('agent-a');
    expect(err.cause).toBeUndefined();
  });

  test('HS256 keyed with the public key is refused even when HS256 is the only thing tried', async () => {
    // Whatever the allow-list, an HMAC token never reaches a key lookup.
    expect(await reasonFor(verifier({ algorithms: ['RS256'] }), await mintToken('hs256-public-key'))).toBe('algorithm');
  });

  test('an alg the allow-list lacks is refused even if the key would verify it', async () => {
    expect(await reasonFor(verifier({ algorithms: ['ES256'] }), await mintValid({}))).toBe('algorithm');
  });

  test('a header-embedded jwk does not replace the issuer key', async () => {
    const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
    const { oidc } = testEnv();
    const iat = now();
    const token = await new SignJWT({ iss: oidc.issuer, aud: oidc.audience, sub: 'attacker', exp: iat + 300, iat })
      .setProtectedHeader({ alg: 'RS256', kid: oidc.privateJwk.kid ?? '', jwk: await exportJWK(publicKey) })
      .sign(privateKey);
    expect(await reasonFor(verifier(), token)).toBe('signature');
  });

  test('an issuer-signed token for another issuer URL is still refused', async () => {
    expect(await reasonFor(verifier(), await mintValid({ iss: `${testEnv().oidc.issuer}/` }))).toBe('issuer');
  });

  test.each([
    ['empty', ''],
    ['not a jwt', 'hunter2'],
    ['garbage segments', 'a.b.c'],
    ['a JWE-shaped token', 'eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d'],
    ['an oversized token', `eyJhbGciOiJSUzI1NiJ9.${'A'.repeat(20_000)}.sig`],
  ])('%s is malformed', async (_name, token) => {
    expect(await reasonFor(verifier(), token)).toBe('malformed');
  });

  test('a token without exp is refused', async () => {
    expect(await reasonFor(verifier(), await mintValid({ exp: undefined }))).toBe('claims');
  });
});

describe('clock skew', () => {
  test('a token expired 20 s ago passes with 60 s of skew and fails with 5 s', async () => {
    const token = await mintValid({ iat: now() - 600, exp: now() - 20 });
    expect((await verifier({ clockSkewSeconds: 60 }).verify(token)).subject).toBe('agent-a');
    expect(await reasonFor(verifier({ clockSkewSeconds: 5 }), token)).toBe('expired');
  });

  test('a token valid from 20 s ahead passes with 60 s of skew and fails with 5 s', async () => {
    const token = await mintValid({ nbf: now() + 20 });
    expect((await verifier({ clockSkewSeconds: 60 }).verify(token)).subject).toBe('agent-a');
    expect(await reasonFor(verifier({ clockSkewSeconds: 5 }), token)).toBe('not-yet-valid');
  });
});

describe('claim mapping', () => {
  test('groups from a dotted path', async () => {
    const token = await mintValid({ groups: undefined, realm_access: { roles: ['security', 'ai-agents'] } });
    expect((await verifier({ groupsClaim: 'realm_access.roles' }).verify(token)).groups).toEqual(['security', 'ai-agents']);
  });

  test('a namespaced claim whose name contains dots is read by its exact name', async () => {
    const token = await mintValid({ 'https://tracegate.example/groups': ['security'] });
    expect((await verifier({ groupsClaim: 'https://tracegate.example/groups' }).verify(token)).groups).toEqual(['security']);
  });

  test('a space-separated groups string and an absent groups claim', async () => {
    expect((await verifier().verify(await mintValid({ groups: 'a b' }))).groups).toEqual(['a', 'b']);
    expect((await verifier().verify(await mintValid({ groups: undefined }))).groups).toEqual([]);
  });

  test('groups of the wrong type fail closed', async () => {
    expect(await reasonFor(verifier(), await mintValid({ groups: ['ok', 7] }))).toBe('claims');
    expect(await reasonFor(verifier(), await mintValid({ groups: { admin: true } }))).toBe('claims');
  });

  test('the subject comes from the configured claim and must be a non-empty string', async () => {
    const token = await mintValid({ email: 'svc@example.com' });
    expect((await verifier({ subjectClaim: 'email' }).verify(token)).subject).toBe('svc@example.com');
    expect(await reasonFor(verifier(), await mintValid({ sub: undefined }))).toBe('claims');
    expect(await reasonFor(verifier(), await mintValid({ sub: '' }))).toBe('claims');
    expect(await reasonFor(verifier({ subjectClaim: 'email' }), await mintValid({}))).toBe('claims');
  });

  test('jti is optional', async () => {
    expect((await verifier().verify(await mintValid({ jti: undefined }))).jti).toBeUndefined();
  });
});

describe('configuration', () => {
  const base = (): OidcOptions => ({
    issuer: testEnv().oidc.issuer,
    audience: 'tracegate',
    subjectClaim: 'sub',
    groupsClaim: 'groups',
    clockSkewSeconds: 30,
    algorithms: ['RS256'],
  });

  test.each([{ algs: ['HS256'] }, { algs: ['HS512'] }, { algs: ['none'] }, { algs: ['RS256', 'HS256'] }])('refuses algorithms $algs at config time', ({ algs }) => {
    expect(() => createTokenVerifier({ ...base(), algorithms: algs })).toThrow(/not allowed/);
  });

  test('refuses an empty allow-list, an empty audience and an absurd skew', () => {
    expect(() => createTokenVerifier({ ...base(), algorithms: [] })).toThrow(/at least one/);
    expect(() => createTokenVerifier({ ...base(), audience: [] })).toThrow(/audience/);
    expect(() => createTokenVerifier({ ...base(), clockSkewSeconds: 3600 })).toThrow(/clockSkew/);
  });

  test('accepts http:// only on loopback, for the issuer and for jwksUri', () => {
    expect(() => createTokenVerifier({ ...base(), issuer: 'http://idp.example.com' })).toThrow(/loopback/);
    expect(() => createTokenVerifier({ ...base(), issuer: 'http://10.0.0.5:8080' })).toThrow(/loopback/);
    expect(() => createTokenVerifier({ ...base(), jwksUri: 'http://idp.example.com/jwks' })).toThrow(/loopback/);
    expect(() => createTokenVerifier({ ...base(), issuer: 'ftp://127.0.0.1/' })).toThrow(/https/);
    expect(() => createTokenVerifier({ ...base(), issuer: 'https://idp.example.com' })).not.toThrow();
    expect(() => createTokenVerifier({ ...base(), issuer: 'http://localhost:8080' })).not.toThrow();
    expect(() => createTokenVerifier({ ...base(), issuer: 'http://[::1]:8080' })).not.toThrow();
  });

  test('a configured jwksUri is used without discovery', async () => {
    const { oidc } = testEnv();
    const v = verifier({ jwksUri: oidc.jwksUri });
    expect((await v.verify(await getToken('agent-a'))).subject).toBe('agent-a');
  });
});

describe('JWKS life cycle', () => {
  test('discovery is lazy and retried: the issuer may start after the verifier', async () => {
    const port = await freePort();
    const issuerUrl = `http://127.0.0.1:${port}`;
    const v = createTokenVerifier({
      issuer: issuerUrl, audience: 'late', subjectClaim: 'sub', groupsClaim: 'groups', clockSkewSeconds: 0, algorithms: ['RS256'],
    });
    const early = await freshKey();
    expect(await reasonFor(v, await signFor({ issuer: issuerUrl, audience: 'late' }, early))).toBe('jwks-unavailable');

    const late = await startDevIssuer({ port, audience: 'late', clients: demoClients() });
    try {
      const token = await late.token('reviewer');
      await vi.waitFor(async () => expect((await v.verify(token)).subject).toBe('reviewer'), { timeout: 10_000, interval: 100 });
    } finally {
      await late.close();
    }
  });

  test('cached keys keep working when the issuer stops; an unknown kid then fails closed', async () => {
    const second = await startDevIssuer({ audience: 'second', clients: demoClients() });
    const options = {
      issuer: second.issuer, audience: 'second', subjectClaim: 'sub', groupsClaim: 'groups', clockSkewSeconds: 0, algorithms: ['RS256'],
    };
    const cached = createTokenVerifier(options);
    const eager = createTokenVerifier({ ...options, jwksCooldownSeconds: 0 });
    const first = await second.token('agent-a');
    const later = await second.token('agent-b');
    await cached.verify(first);
    await eager.verify(first);
    await second.close();

    expect((await cached.verify(later)).subject).toBe('agent-b');
    expect((await eager.verify(later)).subject).toBe('agent-b');

    const stranger = await signFor(second, await freshKey());
    // Within the refetch cooldown the cached set answers: no such key.
    expect(await reasonFor(cached, stranger)).toBe('unknown-key');
    // Past the cooldown the verifier tries to refetch, cannot, and refuses.
    expect(await reasonFor(eager, stranger)).toBe('jwks-unavailable');
    // A failed refetch does not throw away the keys it had.
    expect((await eager.verify(later)).subject).toBe('agent-b');
  });

  test('a rotated key is picked up through an unknown-kid refetch, and the old one is dropped', async () => {
    const port = await freePort();
    const keyA = await freshKey();
    const keyB = await freshKey();
    const before = await startDevIssuer({ port, audience: 'rotating', clients: demoClients(), privateJwk: keyA });
    const v = createTokenVerifier({
      issuer: before.issuer, audience: 'rotating', subjectClaim: 'sub', groupsClaim: 'groups', clockSkewSeconds: 0,
      algorithms: ['RS256'], jwksCooldownSeconds: 0,
    });
    const tokenA = await before.token('agent-a');
    await v.verify(tokenA);
    await before.close();

    const after = await startDevIssuer({ port, audience: 'rotating', clients: demoClients(), privateJwk: keyB });
    try {
      const tokenB = await after.token('agent-b');
      expect((await v.verify(tokenB)).subject).toBe('agent-b');
      // The refetch replaced the key set: A's kid is no longer in it.
      expect(await reasonFor(v, tokenA)).toBe('unknown-key');
    } finally {
      await after.close();
    }
  });

  test('a token minted with the test env key but a base64-tampered payload is refused', async () => {
    const token = await mintValid({});
    const [header, payload, signature] = token.split('.');
    const claims = JSON.parse(new TextDecoder().decode(base64url.decode(payload ?? ''))) as JWTPayload;
    const forged = base64url.encode(JSON.stringify({ ...claims, sub: 'admin', groups: ['tracegate-admins'] }));
    expect(await reasonFor(verifier(), `${header}.${forged}.${signature}`)).toBe('signature');
  });
});
