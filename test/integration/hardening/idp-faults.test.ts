// The identity provider failing, with a private development issuer (the shared one is
// never stopped): keys fetched before the issuer went away keep verifying tokens; a
// token signed with a key the proxy has not seen fails closed with 28P01 and a reason
// (the proxy cannot fetch a new key set, so it cannot know the key); a proxy that starts
// while the issuer is down refuses logins until it is back; and once cached keys
// reach their maximum age without a successful refetch they stop being trusted.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { SignJWT, generateKeyPair, importJWK } from 'jose';
import pg from 'pg';
import { afterEach, describe, expect, test } from 'vitest';
import { AuthError, createTokenVerifier } from '../../../src/auth/oidc-verifier.js';
import { demoClients, startDevIssuer, type DevIssuer } from '../../../src/demo/dev-issuer.js';
import { startHardenedProxy } from './harness.js';

const AUDIENCE = 'tracegate';
const issuers: DevIssuer[] = [];
afterEach(async () => {
  await Promise.allSettled(issuers.splice(0).map((i) => i.close()));
});

async function issuer(opts: { port?: number; privateJwk?: DevIssuer['privateJwk'] } = {}): Promise<DevIssuer> {
  const started = await startDevIssuer({ audience: AUDIENCE, clients: demoClients(), ...opts });
  issuers.push(started);
  return started;
}

/** A token with the issuer's claims signed by a key the issuer never published. */
async function unknownKidToken(iss: string): Promise<string> {
  const { privateKey } = await generateKeyPair('RS256');
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ sub: 'reviewer', groups: ['security'], jti: randomUUID() })
    .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: `rotated-${randomUUID()}` })
    .setIssuer(iss)
    .setAudience(AUDIENCE)
    .setIssuedAt(now)
    .setExpirationTime(now + 300)
    .sign(privateKey);
}

/** A token signed with the issuer's own key, as it would issue one (it may be down). */
async function issuerSigned(idp: DevIssuer, sub: string, groups: string[]): Promise<string> {
  const key = await importJWK(idp.privateJwk, 'RS256');
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ sub, groups, jti: randomUUID() })
    .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: idp.privateJwk.kid ?? '' })
    .setIssuer(idp.issuer)
    .setAudience(AUDIENCE)
    .setIssuedAt(now)
    .setExpirationTime(now + 300)
    .sign(key);
}

async function login(port: number, token: string): Promise<pg.Client> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'u', database: 'traces', password: token });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

async function loginError(port: number, token: string): Promise<Error & { code?: string; severity?: string; detail?: string }> {
  return login(port, token).then(
    async (c) => {
      await c.end();
      throw new Error('login unexpectedly succeeded');
    },
    (err: unknown) => err as Error & { code?: string },
  );
}

describe('the issuer goes away', () => {
  test('cached keys keep working, an unknown kid fails closed with 28P01, open sessions carry on', async () => {
    const idp = await issuer();
    await using h = await startHardenedProxy({ issuer: { issuer: idp.issuer, audience: AUDIENCE } });
    const open = await login(h.port, await idp.token('reviewer'));
    const later = await idp.token('agent-a');
    await idp.close();

    // Issued before the outage, verified after it with the cached key set.
    const agent = await login(h.port, later);
    expect((await agent.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    // Minted during the outage with the same key: still verifiable offline.
    const minted = await login(h.port, await issuerSigned(idp, 'agent-b', ['ai-agents']));
    expect((await minted.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);

    const err = await loginError(h.port, await unknownKidToken(idp.issuer));
    expect(err.code).toBe('28P01');
    expect(err.severity).toBe('FATAL');
    expect(err.message).toMatch(/^access token rejected: (unknown-key|jwks-unavailable)$/);
    expect(err.detail).toMatch(/key/);

    expect((await open.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    for (const c of [open, agent, minted]) await c.end();
  });

  test('a proxy started while the issuer is down refuses logins (28P01), and accepts them once it is back', async () => {
    const first = await issuer();
    const { port } = new URL(first.issuer);
    const key = first.privateJwk;
    await first.close();
    await using h = await startHardenedProxy({ issuer: { issuer: first.issuer, audience: AUDIENCE } });
    const token = await issuerSigned(first, 'reviewer', ['security']);

    const err = await loginError(h.port, token);
    expect(err.code).toBe('28P01');
    expect(err.message).toBe('access token rejected: jwks-unavailable');

    await issuer({ port: Number(port), privateJwk: key });
    // Discovery is retried with a backoff (250 ms, doubling): give it a few attempts.
    let client: pg.Client | undefined;
    for (let i = 0; i < 40 && !client; i++) {
      client = await login(h.port, token).catch(() => undefined);
      if (!client) await sleep(250);
    }
    expect(client).toBeDefined();
    expect((await client?.query('SELECT 1 AS one'))?.rows).toEqual([{ one: 1 }]);
    await client?.end();
  });
});

describe('the key cache', () => {
  test('keys are trusted until their maximum age; past it, with the issuer down, verification fails closed', async () => {
    const idp = await issuer();
    const verifier = createTokenVerifier({
      issuer: idp.issuer,
      audience: AUDIENCE,
      subjectClaim: 'sub',
      groupsClaim: 'groups',
      clockSkewSeconds: 0,
      algorithms: ['RS256'],
      jwksCacheMaxAgeSeconds: 1,
    });
    const token = await idp.token('reviewer');
    expect((await verifier.verify(token)).subject).toBe('reviewer');
    await idp.close();
    expect((await verifier.verify(token)).subject).toBe('reviewer');
    await sleep(1500);
    const err = await verifier.verify(token).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AuthError);
    expect((err as AuthError).reason).toBe('jwks-unavailable');
  });
});
