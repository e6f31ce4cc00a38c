// The built-in development OIDC issuer: oidc-provider on loopback HTTP, issuing real
// RFC 9068 JWT access tokens through the client_credentials grant to a fixed set of
// demo clients, each with its groups in a `groups` claim. It is for the demo and the
// tests only: it must never listen beyond loopback and keeps everything in memory.

import { randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import type { JWK } from 'jose';
import type { IssuedToken, OidcContext, Provider } from 'oidc-provider';
import { createIssuerMemoryAdapter } from './issuer-memory-adapter.js';

export interface DevClient {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly groups: readonly string[];
  readonly extraClaims?: Readonly<Record<string, unknown>>;
}

export interface DevIssuerOptions {
  readonly port?: number;
  readonly host?: '127.0.0.1';
  readonly audience: string;
  readonly clients: readonly DevClient[];
  /** Reuse a signing key (e.g. to restart an issuer with the same JWKS); else a fresh RS256 key. */
  readonly privateJwk?: JWK;
  /** Default access-token lifetime in seconds (600 unless given). */
  readonly accessTokenTtl?: number;
}

export interface DevIssuer {
  readonly issuer: string;
  readonly jwksUri: string;
  readonly tokenEndpoint: string;
  readonly audience: string;
  /** The signing key (private, RS256, with kid): tests mint their own tokens with it. */
  readonly privateJwk: JWK;
  readonly clients: readonly DevClient[];
  /** A real access token for the client, fetched over HTTP with client_credentials. */
  token(clientId: string, opts?: { expiresIn?: number }): Promise<string>;
  close(): Promise<void>;
}

/** The demo's clients: two agents, a security reviewer, an admin. Secrets are fresh per call. */
export function demoClients(): DevClient[] {
  const secret = (): string => randomBytes(24).toString('base64url');
  return [
    { clientId: 'agent-a', clientSecret: secret(), groups: ['ai-agents'] },
    { clientId: 'agent-b', clientSecret: secret(), groups: ['ai-agents'] },
    { clientId: 'reviewer', clientSecret: secret(), groups: ['security'] },
    { clientId: 'admin', clientSecret: secret(), groups: ['tracegate-admins', 'security'] },
  ];
}

// A token request may carry this form field to ask for a shorter (or longer) lifetime, so
// tests can get a genuinely issued token that expires in seconds. Bounded to one day.
const EXPIRES_IN_PARAM = 'tracegate_expires_in';
const MAX_TTL_SECONDS = 86_400;

let providerModule: Promise<typeof import('oidc-provider')> | undefined;

function loadProvider(): Promise<typeof import('oidc-provider')> {
  // oidc-provider 9 warns at import time that it wants Node 22; on Node 20 it works, and
  // the warning would land in every test run and demo start, so only that line is dropped.
  providerModule ??= (async () => {
    const warn = console.warn;
    console.warn = (...args: unknown[]): void => {
      if (typeof args[0] === 'string' && args[0].startsWith('oidc-provider WARNING: Unsupported runtime')) return;
      warn(...args);
    };
    try {
      return await import('oidc-provider');
    } finally {
      console.warn = warn;
    }
  })();
  return providerModule;
}

async function signingKey(): Promise<JWK> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, kid: `dev-${randomUUID()}`, alg: 'RS256', use: 'sig' };
}

function requestedTtl(ctx: OidcContext, fallback: number): number {
  const raw = ctx.oidc.body?.[EXPIRES_IN_PARAM];
  const seconds = typeof raw === 'string' ? Number(raw) : Number.NaN;
  return Number.isInteger(seconds) && seconds > 0 && seconds <= MAX_TTL_SECONDS ? seconds : fallback;
}

export interface ClientCredentialsRequest {
  readonly tokenEndpoint: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Lifetime in seconds; honoured by the dev issuer only. */
  readonly expiresIn?: number;
}

/** Fetches an access token with the client_credentials grant (RFC 6749 4.4) over HTTP. */
export async function requestClientCredentialsToken(req: ClientCredentialsRequest): Promise<string> {
  const form = new URLSearchParams({ grant_type: 'client_credentials' });
  if (req.expiresIn !== undefined) form.set(EXPIRES_IN_PARAM, String(req.expiresIn));
  // RFC 6749 2.3.1: id and secret are form-urlencoded before the Basic encoding.
  const basic = Buffer.from(`${encodeURIComponent(req.clientId)}:${encodeURIComponent(req.clientSecret)}`).toString('base64');
  const post = (): Promise<Response> =>
    fetch(req.tokenEndpoint, {
      method: 'POST',
      headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: form,
    });
  // fetch keeps connections alive; after an issuer restart on the same port the first
  // request can land on a socket the old server closed. One retry settles it, and a
  // client_credentials request is safe to repeat.
  const res = await post().catch(post);
  const body = (await res.json().catch(() => ({}))) as { access_token?: unknown; error?: unknown; error_description?: unknown };
  if (!res.ok || typeof body.access_token !== 'string') {
    throw new Error(`token request for ${req.clientId} failed (${res.status}): ${String(body.error ?? '')} ${String(body.error_description ?? '')}`.trim());
  }
  return body.access_token;
}

export async function startDevIssuer(opts: DevIssuerOptions): Promise<DevIssuer> {
  const host = opts.host ?? '127.0.0.1';
  const ttl = opts.accessTokenTtl ?? 600;
  const { Provider: ProviderClass, errors } = await loadProvider();
  const privateJwk = opts.privateJwk ?? (await signingKey());
  if (typeof privateJwk.kid !== 'string') throw new Error('dev issuer signing key needs a kid');
  const clients = new Map(opts.clients.map((c) => [c.clientId, c]));

  // Listen first: the issuer URL must carry the port the OS picked.
  let handler: ((req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void) | undefined;
  const server = createServer((req, res) => {
    if (handler) handler(req, res);
    else res.writeHead(503).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const issuer = `http://${host}:${port}`;

  // oidc-provider keys resource servers by an absolute-URI resource indicator; the token's
  // aud is the configured audience whatever its form, so a bare name gets a URN alias.
  const resourceIndicator = URL.canParse(opts.audience) ? opts.audience : `urn:tracegate:audience:${encodeURIComponent(opts.audience)}`;
  const resourceServer = {
    scope: '',
    audience: opts.audience,
    accessTokenFormat: 'jwt',
    accessTokenTTL: ttl,
    jwt: { sign: { alg: 'RS256', kid: privateJwk.kid } },
  };

  const provider: Provider = new ProviderClass(issuer, {
    adapter: createIssuerMemoryAdapter(),
    clients: opts.clients.map((c) => ({
      client_id: c.clientId,
      client_secret: c.clientSecret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    })),
    jwks: { keys: [privateJwk] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    features: {
      clientCredentials: { enabled: true },
      devInteractions: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => resourceIndicator,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx: unknown, resource: string) => {
          if (resource !== resourceIndicator) throw new errors.InvalidTarget();
          return resourceServer;
        },
      },
    },
    ttl: {
      ClientCredentials: (ctx: OidcContext) => requestedTtl(ctx, ttl),
    },
    extraTokenClaims: async (_ctx: unknown, token: IssuedToken) => {
      const client = token.clientId === undefined ? undefined : clients.get(token.clientId);
      if (!client) return undefined;
      return { ...client.extraClaims, groups: [...client.groups] };
    },
  });
  // Expected request errors (bad secret, unknown client) are answered over HTTP; only a
  // fault inside the issuer is worth a line on stderr.
  provider.on('server_error', (_ctx, err) => {
    console.error(`dev issuer: ${err instanceof Error ? err.message : String(err)}`);
  });
  handler = provider.callback();

  const tokenEndpoint = `${issuer}/token`;

  const token = async (clientId: string, tokenOpts: { expiresIn?: number } = {}): Promise<string> => {
    const client = clients.get(clientId);
    if (!client) throw new Error(`dev issuer has no client ${clientId}`);
    return requestClientCredentialsToken({ tokenEndpoint, clientId, clientSecret: client.clientSecret, ...tokenOpts });
  };

  return {
    issuer,
    jwksUri: `${issuer}/jwks`,
    tokenEndpoint,
    audience: opts.audience,
    privateJwk,
    clients: [...opts.clients],
    token,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
