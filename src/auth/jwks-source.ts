// Where the issuer's signing keys come from: the configured jwksUri, or the jwks_uri of
// the issuer's discovery document (openid-client). Discovery is lazy and retried with
// backoff, because the identity provider may come up after the proxy. Keys are cached by
// jose's remote JWK set, which refetches on an unknown kid at most once per cooldown.
// It must not fall back to any key source other than the issuer's own JWKS.

import { createRemoteJWKSet } from 'jose';
import type { JWTVerifyGetKey } from 'jose';

type RemoteKeys = ReturnType<typeof createRemoteJWKSet>;
import { allowInsecureRequests, discovery } from 'openid-client';
import { assertIssuerUrlAllowed, isLoopbackUrl } from './issuer-url.js';

export interface JwksSourceOptions {
  readonly issuer: string;
  readonly jwksUri: string | undefined;
  /** Sent as the client id of the discovery request; a resource server has no other. */
  readonly clientId: string;
  readonly cacheMaxAgeSeconds: number;
  readonly cooldownSeconds: number;
}

export interface JwksSource {
  /** The key resolver, discovering it first if needed; throws when it cannot. */
  resolver(): Promise<JWTVerifyGetKey>;
  /**
   * Whether the key set, as last fetched and still within its maximum age, holds a key
   * with this kid. Past the maximum age only a refetch (in a full verification) can say.
   */
  holds(kid: string): boolean;
}

const FETCH_TIMEOUT_MS = 5_000;
const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 30_000;

export function createJwksSource(opts: JwksSourceOptions): JwksSource {
  const issuerUrl = assertIssuerUrlAllowed(opts.issuer);
  const configured = opts.jwksUri === undefined ? undefined : assertIssuerUrlAllowed(opts.jwksUri, 'jwksUri');

  const remote = (url: URL): RemoteKeys =>
    createRemoteJWKSet(url, {
      timeoutDuration: FETCH_TIMEOUT_MS,
      cacheMaxAge: opts.cacheMaxAgeSeconds * 1000,
      cooldownDuration: opts.cooldownSeconds * 1000,
    });

  let keys: RemoteKeys | undefined = configured ? remote(configured) : undefined;
  let pending: Promise<RemoteKeys> | undefined;
  let retryAt = 0;
  let retryDelay = FIRST_RETRY_MS;

  const discover = async (): Promise<RemoteKeys> => {
    const config = await discovery(issuerUrl, opts.clientId, undefined, undefined, {
      // Plain HTTP only ever reaches here for a loopback issuer (checked above).
      execute: issuerUrl.protocol === 'http:' && isLoopbackUrl(issuerUrl) ? [allowInsecureRequests] : [],
      timeout: FETCH_TIMEOUT_MS / 1000,
    });
    const jwksUri = config.serverMetadata().jwks_uri;
    if (!jwksUri) throw new Error('the discovery document has no jwks_uri');
    return remote(assertIssuerUrlAllowed(jwksUri, 'discovered jwks_uri'));
  };

  return {
    holds: (kid) => keys?.fresh === true && (keys.jwks()?.keys.some((k) => k.kid === kid) ?? false),
    resolver: async () => {
      if (keys) return keys;
      if (!pending) {
        // While the issuer is down, fail fast between attempts instead of making every
        // login wait on (and every client hammer) an unreachable discovery endpoint.
        if (Date.now() < retryAt) throw new Error('issuer discovery failed recently; retrying shortly');
        pending = discover().then(
          (found) => {
            keys = found;
            retryDelay = FIRST_RETRY_MS;
            return found;
          },
          (err: unknown) => {
            retryAt = Date.now() + retryDelay;
            retryDelay = Math.min(retryDelay * 2, MAX_RETRY_MS);
            throw err;
          },
        ).finally(() => {
          pending = undefined;
        });
      }
      return pending;
    },
  };
}
