// Tokens are checked against cached keys: through the real proxy, many logins with
// many different tokens fetch the issuer's JWKS once, not once per connection. The
// JWKS is served through a counting HTTP forwarder in front of the real dev issuer.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { expect, onTestFinished, test } from 'vitest';
import { parseConfig } from '../../../src/config.js';
import { startProxy } from '../../../src/main.js';
import { getToken, mintValid, testEnv } from '../../helpers/env.js';
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
