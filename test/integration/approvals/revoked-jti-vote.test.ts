// An approver's vote stands only while the approver is in good standing: the quorum
// counts the votes of approvers not revoked since they voted (broker.ts). A revocation
// by token jti is how an admin takes back one token (stolen, leaked in a log) without
// locking its owner out. A vote cast with that token still counted: with a quorum of
// two, a stolen approver token plus any one other approver released the read.
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { WELL_KNOWN_TRACES } from '../../../src/demo/generate.js';
import { getToken, mintValid } from '../../helpers/env.js';
import { DEFAULT_POLICY, startTestProxy, type TestProxy } from '../../helpers/proxy.js';
import { api, pausedRead } from './harness.js';

let dir: string;
let proxy: TestProxy;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tracegate-jti-vote-'));
  const policyFile = join(dir, 'policy.yaml');
  copyFileSync(DEFAULT_POLICY, policyFile);
  const policy = readFileSync(policyFile, 'utf8');
  expect(policy).toContain('      quorum: 1');
  writeFileSync(policyFile, policy.replace('      quorum: 1', '      quorum: 2'));
  proxy = await startTestProxy({ admin: true, policyFile });
});
afterAll(async () => {
  await proxy?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('a vote cast with a token revoked by its jti no longer counts toward the quorum', async () => {
  const admin = proxy.adminUrl as string;
  const jti = randomUUID();
  const stolen = await mintValid({ sub: 'reviewer', client_id: 'reviewer', groups: ['security'], jti });
  const adminToken = await getToken('admin');

  const client = new pg.Client(proxy.clientConfig(await getToken('agent-a')));
  client.on('error', () => undefined);
  await client.connect();
  const read = pausedRead(client, WELL_KNOWN_TRACES.agentAHigh);
  const id = await read.id;

  // The stolen reviewer token approves: one of two.
  const first = await api(admin, stolen, 'POST', `/api/approvals/${id}/approve`, {});
  expect(first.status).toBe(200);
  expect(first.json.approval.state).toBe('pending');

  // The admin revokes that token, and only that token.
  const revoked = await api(admin, adminToken, 'POST', '/api/revoke', { jti, reason: 'reviewer token leaked' });
  expect(revoked.status).toBe(201);
  expect((await api(admin, stolen, 'GET', '/api/approvals')).status).toBe(403);

  // One more approver: the revoked token's vote must not make up the second.
  const second = await api(admin, adminToken, 'POST', `/api/approvals/${id}/approve`, {});
  expect(second.status).toBe(200);
  expect(second.json.approval.state).toBe('pending');

  // The read is still waiting; end it.
  const denied = await api(admin, adminToken, 'POST', `/api/approvals/${id}/deny`, { reason: 'test over' });
  expect(denied.status).toBe(200);
  expect(await read.result).toMatchObject({ code: '42501' });
  await client.end();
}, 60_000);
