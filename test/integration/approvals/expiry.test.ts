// A session whose token expired is ended (FATAL 28000) before its next statement runs.
// A read waiting for approval can wait longer than its token lives: approved after the
// token expired, it must not run, and the session ends as at any other statement.
import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { WELL_KNOWN_TRACES } from '../../../src/demo/generate.js';
import { getToken, mintValid, untilExpired } from '../../helpers/env.js';
import { startTestProxy, type TestProxy } from '../../helpers/proxy.js';
import { api, pausedRead } from './harness.js';

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
  const read = pausedRead(client, WELL_KNOWN_TRACES.agentAHigh);
  const id = await read.id;
  await untilExpired(token, 1000);
  const approved = await api(proxy.adminUrl ?? '', reviewer, 'POST', `/api/approvals/${id}/approve`, { reason: 'approved after the token expired' });
  expect(approved.status).toBe(200);
  expect(await read.result).toMatchObject({ code: '28000', severity: 'FATAL' });
  await client.end().catch(() => undefined);
}, 60_000);
