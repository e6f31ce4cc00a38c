// A revocation takes effect at once (SPEC section 3): open sessions end, new logins are
// refused. A login that passed its revocation check and is still taking its upstream
// session (here held for two seconds by a slow link to Postgres) when the revocation
// comes has no session yet for the revocation to end: it must not come up as one.
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { mintValid } from '../../helpers/env.js';
import { sharedUpstream, startHardenedProxy, type HardenedProxy } from '../hardening/harness.js';

const HOLD_MS = 2000;
let link: net.Server;
let linked = 0;
let proxy: HardenedProxy;

beforeAll(async () => {
  const upstream = sharedUpstream();
  // Each new upstream connection waits HOLD_MS before it reaches Postgres.
  link = net.createServer((inbound) => {
    linked++;
    inbound.pause();
    setTimeout(() => {
      const outbound = net.connect({ host: upstream.host, port: upstream.port }, () => {
        inbound.pipe(outbound);
        outbound.pipe(inbound);
        inbound.resume();
      });
      outbound.on('error', () => inbound.destroy());
      inbound.on('error', () => outbound.destroy());
    }, HOLD_MS);
  });
  await new Promise<void>((resolve) => link.listen(0, '127.0.0.1', resolve));
  proxy = await startHardenedProxy({ upstream: { ...upstream, host: '127.0.0.1', port: (link.address() as net.AddressInfo).port } });
});
afterAll(async () => {
  await proxy?.close();
  await new Promise((resolve) => link.close(resolve));
});

test('a token revoked while its login takes the upstream session gets no session', async () => {
  const jti = `revoke-during-login-${Date.now()}`;
  const token = await mintValid({ sub: 'agent-a', groups: ['ai-agents'], jti });
  const client = new pg.Client({ host: '127.0.0.1', port: proxy.port, user: 'agent', database: 'traces', password: token });
  client.on('error', () => undefined);
  const connected = client.connect().then(
    () => 'connected',
    (err: { code?: string }) => `refused ${err.code}`,
  );
  // The token is checked and admitted at once; the upstream session is on its way.
  for (let i = 0; i < 100 && linked === 0; i++) await sleep(20);
  expect(linked).toBe(1);
  proxy.proxy.revocations.revoke({ target: { kind: 'jti', jti }, reason: 'revoked during login', by: 'test' });
  expect(await connected).toBe('refused 28000');
  await client.end().catch(() => undefined);
});
