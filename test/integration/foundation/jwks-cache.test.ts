// Tokens are checked against cached keys: through the real proxy, many logins with
// many different tokens fetch the issuer's JWKS once, not once per connection (the
// JWKS is served through a counting HTTP forwarder in front of the real dev issuer).
// A token verified in full is remembered, but only until it expires, and never in
// place of a failed check (the key rotated out is in test/integration/auth).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { describe, expect, onTestFinished, test } from 'vitest';
import { AuthError, createTokenVerifier } from '../../../src/auth/oidc-verifier.js';
import { parseConfig } from '../../../src/config.js';
import { startProxy } from '../../../src/main.js';
import { getToken, mintToken, mintValid, testEnv } from '../../helpers/env.js';
import { DEFAULT_POLICY } from '../../helpers/proxy.js';

test('fifty logins with twenty-five different tokens fetch the JWKS once', async () => {
  const env = testEnv();
  let fetches = 0;
  const forwarder = http.createServer((req, res) => {
    fetches++;
    void fetch(env.oidc.jwksUri).then(async (upstream) => {
      res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' });
      res.end(Buffer.from(await upstream.arrayBuffer()));
    });
  });
  await new Promise<void>((resolve) => forwarder.listen(0, '127.0.0.1', resolve));
  onTestFinished(() => new Promise<void>((resolve) => forwarder.close(() => resolve())));
  const address = forwarder.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  const dir = mkdtempSync(join(tmpdir(), 'tracegate-jwks-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const passwordFile = join(dir, 'upstream-password');
  writeFileSync(passwordFile, env.pg.proxyPassword);
  const yaml = `
listen: { host: 127.0.0.1, port: 0 }
tls: { allowPlaintextOnLoopback: true }
upstream: { host: ${env.pg.host}, port: ${env.pg.port}, database: ${env.pg.database}, user: ${env.pg.proxyUser}, passwordFile: ${passwordFile}, tls: { mode: disable } }
oidc: { issuer: ${env.oidc.issuer}, audience: ${env.oidc.audience}, jwksUri: http://127.0.0.1:${port}/jwks, clockSkew: 0s }
policy: ${DEFAULT_POLICY}
store: { sqlite: { path: ${join(dir, 'audit.db')} } }
log: { level: silent }
`;
  process.env['TRACEGATE_MASK_KEY'] ??= 'tracegate-test-mask-key-not-secret';
  const config = parseConfig(yaml, join(dir, 'tracegate.yaml'));
  const proxy = await startProxy(config, { log: pino({ level: 'silent' }) });
  onTestFinished(() => proxy.close());

  const tokens = [await getToken('agent-a'), ...(await Promise.all(Array.from({ length: 24 }, (_, i) => mintValid({ sub: `jwks-cache-${i}`, groups: ['security'] }))))];
  for (const token of [...tokens, ...tokens]) {
    const client = new pg.Client({ host: proxy.host, port: proxy.port, user: 'agent', database: 'traces', password: token });
    await client.connect();
    expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await client.end();
  }
  expect(fetches).toBe(1);
});

describe('remembered verifications', () => {
  const verifier = (verifiedCacheSize?: number): ReturnType<typeof createTokenVerifier> =>
    createTokenVerifier({
      issuer: testEnv().oidc.issuer,
      audience: testEnv().oidc.audience,
      subjectClaim: 'sub',
      groupsClaim: 'groups',
      clockSkewSeconds: 0,
      algorithms: ['RS256', 'ES256', 'PS256', 'EdDSA'],
      ...(verifiedCacheSize === undefined ? {} : { verifiedCacheSize }),
    });

  test('a token checked once is not checked in full again; another token is', async () => {
    const v = verifier();
    const one = await mintValid({ sub: 'remembered-1', groups: ['security'] });
    const two = await mintValid({ sub: 'remembered-2', groups: ['security'] });
    const first = await v.verify(one);
    expect(await v.verify(one)).toBe(first);
    const other = await v.verify(two);
    expect(other).not.toBe(first);
    expect(other.subject).toBe('remembered-2');
    expect(Object.isFrozen(first)).toBe(true);
    const uncached = verifier(0);
    expect(await uncached.verify(one)).not.toBe(await uncached.verify(one));
  });

  test('a remembered token is refused once it expires', async () => {
    const v = verifier();
    const token = await mintValid({ sub: 'short-lived', groups: ['security'] }, { expiresInSeconds: 2 });
    expect((await v.verify(token)).subject).toBe('short-lived');
    await new Promise((r) => setTimeout(r, 2_100));
    const err = await v.verify(token).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AuthError);
    expect((err as AuthError).reason).toBe('expired');
  });

  test('a failed check is not remembered as anything', async () => {
    const v = verifier();
    const bad = await mintToken('bad-signature');
    for (let i = 0; i < 2; i++) {
      const err = await v.verify(bad).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((err as AuthError).reason).toBe('signature');
    }
  });
});
