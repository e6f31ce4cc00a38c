// A session whose token expired is ended (FATAL 28000) before its next statement runs.
// A read waiting for approval can wait longer than its token lives: approved after the
// token expired, it must not run, and the session ends as at any other statement.
import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { WELL_KNOWN_TRACES } from '../../../src/demo/generate.js';
import { getToken, mintValid, untilExpired } from '../../helpers/env.js';
import { startTestProxy, type TestProxy } from '../../helpers/proxy.js';

let proxy: TestProxy;
let reviewer: string;
beforeAll(async () => {
  proxy = await startTestProxy({ admin: true });
  reviewer = await getToken('reviewer');
});
afterAll(async () => proxy.close());

test('a read approved after its token expired does not run: FATAL 28000', async () => {
  const token = await mintValid({ sub: 'agent-a', groups: ['ai-agents'] }, { expiresInSeconds: 6 });
  const client = new pg.Client(proxy.clientConfig(token));
  client.on('error', () => undefined);
  await client.connect();
  const requestId = new Promise<string>((resolve) => {
    client.on('notice', (n) => {
      const id = /request ([0-9a-f-]{36})/.exec(n.message ?? '')?.[1];
      if (id) resolve(id);
    });
  });
  const outcome = client.query('SELECT trace_id, risk FROM traces WHERE trace_id = $1', [WELL_KNOWN_TRACES.agentAHigh]).then(
    (r) => ({ rows: r.rows }),
    (err: { code?: string; severity?: string }) => ({ code: err.code, severity: err.severity }),
  );
  const id = await requestId;
  await untilExpired(token, 1000);
  const approved = await fetch(new URL(`/api/approvals/${id}/approve`, proxy.adminUrl), {
    method: 'POST',
    headers: { authorization: `Bearer ${reviewer}`, 'content-type': 'application/json' },
    body: JSON.stringify({ reason: 'approved after the token expired' }),
  });
  expect(approved.status).toBe(200);
  expect(await outcome).toEqual({ code: '28000', severity: 'FATAL' });
  await client.end().catch(() => undefined);
}, 60_000);
