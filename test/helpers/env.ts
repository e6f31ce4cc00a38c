// What integration test files use to reach the shared environment: the provided TestEnv,
// real tokens from the development issuer (client_credentials over HTTP), hand-minted
// tokens for every way a token can be wrong, and a superuser connection config for the
// upstream. Minted tokens are signed with the issuer's real key unless the case is a bad
// key; nothing here stubs the issuer or the database.

import { createPublicKey, randomUUID } from 'node:crypto';
import type { JsonWebKey } from 'node:crypto';
import { SignJWT, base64url, decodeJwt, generateKeyPair, importJWK } from 'jose';
import type { JWTPayload } from 'jose';
import pg from 'pg';
import { inject } from 'vitest';
import { requestClientCredentialsToken } from '../../src/demo/dev-issuer.js';
import type { TestEnv } from './test-env.js';

export function testEnv(): TestEnv {
  return inject('env');
}

/** A real access token for a demo client, issued by the dev issuer over HTTP. */
export async function getToken(clientId: string, opts: { expiresIn?: number } = {}): Promise<string> {
  const { oidc } = testEnv();
  const client = oidc.clients.find((c) => c.clientId === clientId);
  if (!client) throw new Error(`no demo client ${clientId}; have ${oidc.clients.map((c) => c.clientId).join(', ')}`);
  return requestClientCredentialsToken({ tokenEndpoint: oidc.tokenEndpoint, clientId, clientSecret: client.clientSecret, ...opts });
}

/**
 * Waits until `token` has expired (its `exp`, in whole seconds, plus `marginMs`), so a
 * test can give a token a lifetime long enough for a slow start on a loaded machine
 * and still wait no longer than it must.
 */
export async function untilExpired(token: string, marginMs = 600): Promise<void> {
  const { exp } = decodeJwt(token);
  if (exp === undefined) throw new Error('the token has no exp');
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, exp * 1000 - Date.now()) + marginMs));
}

export const BAD_TOKEN_KINDS = [
  'expired',
  'wrong-audience',
  'wrong-issuer',
  'unknown-kid',
  'alg-none',
  'hs256-public-key',
  'bad-signature',
  'not-yet-valid',
] as const;

export type BadTokenKind = (typeof BAD_TOKEN_KINDS)[number];

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** Claims like a dev-issuer token for agent-a, valid for five minutes. */
function baseClaims(expiresInSeconds = 300): JWTPayload {
  const { oidc } = testEnv();
  const iat = nowSeconds();
  return {
    iss: oidc.issuer,
    aud: oidc.audience,
    sub: 'agent-a',
    client_id: 'agent-a',
    groups: ['ai-agents'],
    jti: randomUUID(),
    iat,
    exp: iat + expiresInSeconds,
  };
}

async function signWithIssuerKey(claims: JWTPayload): Promise<string> {
  const { privateJwk } = testEnv().oidc;
  const key = await importJWK(privateJwk, 'RS256');
  return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: privateJwk.kid ?? '' }).sign(key);
}

/** A token the issuer could have issued: its key, its iss and aud, any claims on top. */
export async function mintValid(claims: Record<string, unknown>, opts: { expiresInSeconds?: number } = {}): Promise<string> {
  return signWithIssuerKey({ ...baseClaims(opts.expiresInSeconds), ...claims });
}

/** A token that must be refused, in the named way; claim overrides apply on top. */
export async function mintToken(kind: BadTokenKind, overrides: Record<string, unknown> = {}): Promise<string> {
  const { oidc } = testEnv();
  const now = nowSeconds();
  // The kind's defect first, then the caller's overrides, which win.
  const defective = (defect: JWTPayload): JWTPayload => ({ ...baseClaims(), ...defect, ...overrides });
  const claims = defective({});
  switch (kind) {
    case 'expired':
      return signWithIssuerKey(defective({ iat: now - 3600, exp: now - 1800 }));
    case 'not-yet-valid':
      return signWithIssuerKey(defective({ nbf: now + 1800 }));
    case 'wrong-audience':
      return signWithIssuerKey(defective({ aud: 'some-other-service' }));
    case 'wrong-issuer':
      return signWithIssuerKey(defective({ iss: 'http://127.0.0.1:9/not-the-issuer' }));
    case 'unknown-kid': {
      // A well-formed RS256 token from a key the issuer's JWKS has never held.
      const { privateKey } = await generateKeyPair('RS256');
      return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: `unknown-${randomUUID()}` }).sign(privateKey);
    }
    case 'alg-none': {
      const header = base64url.encode(JSON.stringify({ alg: 'none', typ: 'at+jwt', kid: oidc.privateJwk.kid }));
      return `${header}.${base64url.encode(JSON.stringify(claims))}.`;
    }
    case 'hs256-public-key': {
      // The classic key-confusion attack: HMAC keyed with the issuer's public key, as PEM,
      // hoping a verifier feeds "the key" to whichever algorithm the header names.
      const pem = createPublicKey({ key: oidc.privateJwk as JsonWebKey, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
      const secret = new TextEncoder().encode(String(pem));
      return new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: oidc.privateJwk.kid ?? '' }).sign(secret);
    }
    case 'bad-signature': {
      const token = await signWithIssuerKey(claims);
      const [header, payload, signature = ''] = token.split('.');
      // Flip one character in the middle: still base64url, no longer the signature.
      const i = Math.floor(signature.length / 2);
      const flipped = `${signature.slice(0, i)}${signature[i] === 'A' ? 'B' : 'A'}${signature.slice(i + 1)}`;
      return `${header}.${payload}.${flipped}`;
    }
  }
}

/** A superuser client config for the upstream demo database (or another database). */
export function pgClientConfig(database: string = testEnv().pg.database): pg.ClientConfig {
  const { pg: upstream } = testEnv();
  return { host: upstream.host, port: upstream.port, user: upstream.superuser, password: upstream.superPassword, database };
}

/** `run` on a superuser connection of its own to the upstream, closed after. */
export async function withSuperuser<T>(run: (db: pg.Client) => Promise<T>, database?: string): Promise<T> {
  const db = new pg.Client(pgClientConfig(database));
  await db.connect();
  try {
    return await run(db);
  } finally {
    await db.end();
  }
}
