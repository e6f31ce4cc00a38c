// Verifies an OIDC access token (a signed JWT, RFC 9068 style) and turns it into an
// Identity: signature against the issuer's JWKS with an allow-listed asymmetric
// algorithm, then iss, aud, exp and nbf with a bounded clock skew, then the subject and
// groups from configurable claims. Every failure is an AuthError with a reason; the
// token itself never appears in an error, a log line or the Identity (only its hash).
//
// Order matters: the header's alg is checked against the allow-list before any key is
// looked up, so "none" and HS* (the key-confusion attack, HMAC keyed with the public
// key) are refused as 'algorithm' without ever touching a key.

import { createHash } from 'node:crypto';
import { decodeProtectedHeader, errors as joseErrors, jwtVerify } from 'jose';
import type { JWTPayload } from 'jose';
import type { Identity } from '../identity.js';
import { AuthError } from './auth-error.js';
import { createJwksSource } from './jwks-source.js';

export { AuthError } from './auth-error.js';
export type { AuthFailureReason } from './auth-error.js';
export { assertIssuerUrlAllowed } from './issuer-url.js';

export const ALLOWED_TOKEN_ALGORITHMS = [
  'RS256', 'RS384', 'RS512',
  'PS256', 'PS384', 'PS512',
  'ES256', 'ES384', 'ES512',
  'EdDSA',
] as const;

export interface OidcOptions {
  readonly issuer: string;
  readonly audience: string | readonly string[];
  /** Skip discovery and fetch keys from here (same transport rule as the issuer). */
  readonly jwksUri?: string | undefined;
  /** Claim holding the subject; 'sub' by convention. */
  readonly subjectClaim: string;
  /** Claim holding the groups; a dotted path such as 'realm_access.roles' is allowed. */
  readonly groupsClaim: string;
  readonly clockSkewSeconds: number;
  /** Allow-list; asymmetric algorithms only (HS* and none are refused here). */
  readonly algorithms: readonly string[];
  /** How long fetched keys are trusted before a refetch (default 600 s). */
  readonly jwksCacheMaxAgeSeconds?: number;
  /** Least time between refetches triggered by an unknown kid (default 30 s). */
  readonly jwksCooldownSeconds?: number;
  /** Verified tokens remembered (default 1000; 0 checks every token in full every time). */
  readonly verifiedCacheSize?: number;
  /** How long a verified token is remembered at most (default 60 s). */
  readonly verifiedCacheSeconds?: number;
}

export interface TokenVerifier {
  verify(token: string): Promise<Identity>;
}

export const OIDC_DEFAULTS = {
  subjectClaim: 'sub',
  groupsClaim: 'groups',
  clockSkewSeconds: 30,
  algorithms: ['RS256', 'ES256', 'PS256', 'EdDSA'],
} as const;

// A JWT access token is a few KB at most; anything far larger is not one and is not
// worth base64-decoding.
const MAX_TOKEN_LENGTH = 16 * 1024;
const MAX_CLOCK_SKEW_SECONDS = 300;

function checkOptions(opts: OidcOptions): void {
  const allowed: readonly string[] = ALLOWED_TOKEN_ALGORITHMS;
  if (opts.algorithms.length === 0) throw new TypeError('oidc.algorithms must list at least one algorithm');
  for (const alg of opts.algorithms) {
    if (!allowed.includes(alg)) {
      throw new TypeError(`oidc.algorithms: ${alg} is not allowed; use asymmetric algorithms only (${allowed.join(', ')})`);
    }
  }
  const audiences = typeof opts.audience === 'string' ? [opts.audience] : opts.audience;
  if (audiences.length === 0 || audiences.some((a) => a.length === 0)) throw new TypeError('oidc.audience must be non-empty');
  if (!opts.subjectClaim) throw new TypeError('oidc.subjectClaim must be non-empty');
  if (!opts.groupsClaim) throw new TypeError('oidc.groupsClaim must be non-empty');
  if (!Number.isFinite(opts.clockSkewSeconds) || opts.clockSkewSeconds < 0 || opts.clockSkewSeconds > MAX_CLOCK_SKEW_SECONDS) {
    throw new TypeError(`oidc.clockSkew must be between 0 and ${MAX_CLOCK_SKEW_SECONDS} seconds`);
  }
}

/**
 * A claim by name, or by dotted path into nested objects. The exact name wins, because
 * namespaced claims ('https://example.com/groups') contain dots themselves.
 */
export function claimAt(payload: Readonly<Record<string, unknown>>, path: string): unknown {
  if (Object.hasOwn(payload, path)) return payload[path];
  let node: unknown = payload;
  for (const part of path.split('.')) {
    if (typeof node !== 'object' || node === null || Array.isArray(node) || !Object.hasOwn(node, part)) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

function groupsFrom(value: unknown, claim: string): string[] {
  if (value === undefined || value === null) return [];
  // Some identity providers emit a single group as a space-separated string.
  if (typeof value === 'string') return value.split(' ').filter(Boolean);
  if (Array.isArray(value) && value.every((g): g is string => typeof g === 'string')) return [...value];
  throw new AuthError('claims', `${claim} must be a string or an array of strings`);
}

function classify(err: unknown): AuthError {
  if (err instanceof AuthError) return err;
  if (err instanceof joseErrors.JWTExpired) return new AuthError('expired');
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case 'nbf': return new AuthError('not-yet-valid');
      case 'aud': return new AuthError('audience');
      case 'iss': return new AuthError('issuer');
      default: return new AuthError('claims', `${err.claim} ${err.reason === 'missing' ? 'is missing' : 'is invalid'}`);
    }
  }
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return new AuthError('signature');
  if (err instanceof joseErrors.JWKSNoMatchingKey) return new AuthError('unknown-key');
  if (err instanceof joseErrors.JWKSMultipleMatchingKeys) return new AuthError('signature');
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return new AuthError('algorithm');
  if (err instanceof joseErrors.JWSInvalid || err instanceof joseErrors.JWTInvalid || err instanceof joseErrors.JOSENotSupported) {
    return new AuthError('malformed');
  }
  if (err instanceof joseErrors.JWKSTimeout || err instanceof joseErrors.JWKSInvalid) return new AuthError('jwks-unavailable');
  // What remains is the key fetch itself failing (connection refused, a non-200, bad
  // JSON): no key, no verification, so fail closed.
  return new AuthError('jwks-unavailable');
}

export function createTokenVerifier(opts: OidcOptions): TokenVerifier {
  checkOptions(opts);
  const audiences = typeof opts.audience === 'string' ? [opts.audience] : [...opts.audience];
  const algorithms = [...opts.algorithms];
  const jwks = createJwksSource({
    issuer: opts.issuer,
    jwksUri: opts.jwksUri,
    clientId: audiences[0] ?? 'tracegate',
    cacheMaxAgeSeconds: opts.jwksCacheMaxAgeSeconds ?? 600,
    cooldownSeconds: opts.jwksCooldownSeconds ?? 30,
  });

  // Tokens verified in full, by SHA-256: an agent opens many connections with one token,
  // and the full check (the signature through WebCrypto, the claims) is about a tenth of
  // a connection's CPU. A remembered token is accepted again only before its expiry
  // (with the same skew), for at most the cache time, and while the key set is within
  // its maximum age and still holds the key that signed it: a key rotated out stops its
  // tokens as soon as the set is refetched, and a stale set is refetched (or fails
  // closed) by a full check, exactly as without the cache. Failures are never
  // remembered; a token without a kid is always checked in full.
  const cacheSize = opts.verifiedCacheSize ?? 1000;
  const cacheMs = (opts.verifiedCacheSeconds ?? 60) * 1000;
  const verified = new Map<string, { readonly identity: Identity; readonly kid: string; readonly until: number }>();
  const remembered = (hash: string, now: number): Identity | undefined => {
    const hit = verified.get(hash);
    if (!hit) return undefined;
    if (now < hit.until && now < hit.identity.expiresAt && jwks.holds(hit.kid)) return hit.identity;
    verified.delete(hash);
    return undefined;
  };
  const remember = (hash: string, kid: string | undefined, identity: Identity, now: number): void => {
    if (cacheSize === 0 || kid === undefined) return;
    // Oldest first out: a Map iterates in insertion order.
    if (verified.size >= cacheSize) verified.delete(verified.keys().next().value as string);
    verified.set(hash, { identity, kid, until: now + cacheMs });
  };

  const verifyPayload = async (token: string): Promise<{ payload: JWTPayload; kid: string | undefined }> => {
    // Compact JWS only: a JWE (five parts) or an opaque token is not something we verify.
    if (token.split('.').length !== 3) throw new AuthError('malformed');
    let alg: unknown;
    let kid: unknown;
    try {
      ({ alg, kid } = decodeProtectedHeader(token));
    } catch {
      throw new AuthError('malformed');
    }
    if (typeof alg !== 'string' || !algorithms.includes(alg)) throw new AuthError('algorithm');

    let resolver;
    try {
      resolver = await jwks.resolver();
    } catch {
      throw new AuthError('jwks-unavailable');
    }
    const { payload } = await jwtVerify(token, resolver, {
      issuer: opts.issuer,
      audience: audiences,
      algorithms,
      clockTolerance: opts.clockSkewSeconds,
      requiredClaims: ['exp'],
    });
    return { payload, kid: typeof kid === 'string' ? kid : undefined };
  };

  return {
    verify: async (token: string): Promise<Identity> => {
      if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) throw new AuthError('malformed');
      const tokenHash = createHash('sha256').update(token).digest('hex');
      const cached = remembered(tokenHash, Date.now());
      if (cached) return cached;
      let payload: JWTPayload;
      let kid: string | undefined;
      try {
        ({ payload, kid } = await verifyPayload(token));
      } catch (err) {
        throw classify(err);
      }
      const subject = claimAt(payload, opts.subjectClaim);
      if (typeof subject !== 'string' || subject.length === 0) {
        throw new AuthError('claims', `${opts.subjectClaim} must be a non-empty string`);
      }
      const groups = groupsFrom(claimAt(payload, opts.groupsClaim), opts.groupsClaim);
      if (typeof payload.exp !== 'number') throw new AuthError('claims', 'exp must be a number');
      // Frozen: a remembered identity is shared by every session of the token.
      const identity: Identity = Object.freeze({
        subject,
        groups: Object.freeze(groups),
        claims: Object.freeze({ ...payload }),
        jti: typeof payload.jti === 'string' ? payload.jti : undefined,
        // The session ends a token at expiresAt; the login accepted it up to the skew past
        // exp, so the session must too, or a just-accepted token dies on its first statement.
        expiresAt: (payload.exp + opts.clockSkewSeconds) * 1000,
        tokenHash,
      });
      remember(tokenHash, kid, identity, Date.now());
      return identity;
    },
  };
}
