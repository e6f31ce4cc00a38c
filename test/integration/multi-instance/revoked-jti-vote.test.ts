// The shared (Postgres) approval store keeps the jti each approval was cast with, so a
// vote stops counting once that token is revoked, as with the in-memory broker
// (approvals/revoked-jti-vote.test.ts): with a quorum of two, a revoked reviewer token's
// vote and one more approver do not release the read.
import { randomUUID } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { WELL_KNOWN_TRACES } from '../../../src/demo/generate.js';
import { getToken, mintValid } from '../../helpers/env.js';
import { DEFAULT_POLICY, type TestProxy } from '../../helpers/proxy.js';
import { pausedRead } from '../approvals/harness.js';
import { api, createStoreDatabase, startInstance, type StoreDatabase } from './harness.js';

let dir: string;
let store: StoreDatabase;
let proxy: TestProxy;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tracegate-pg-jti-vote-'));
  const policyFile = join(dir, 'policy.yaml');
  copyFileSync(DEFAULT_POLICY, policyFile);
  writeFileSync(policyFile, readFileSync(policyFile, 'utf8').replace('      quorum: 1', '      quorum: 2'));
  store = await createStoreDatabase();
  proxy = await startInstance(store, { policyFile });
});
afterAll(async () => {
  await proxy?.close();
  await store?.drop();
  rmSync(dir, { recursive: true, force: true });
});

test('a vote cast with a token revoked by its jti no longer counts toward the quorum (shared store)', async () => {
  const admin = proxy.adminUrl as string;
  const jti = randomUUID();
  const stolen = await mintValid({ sub: 'reviewer', client_id: 'reviewer', groups: ['security'], jti });
  const adminToken = await getToken('admin');
  const client = await proxy.connect(await getToken('agent-a'));
  const read = pausedRead(client, WELL_KNOWN_TRACES.agentAHigh);
  const id = await read.id;

  expect((await api(admin, stolen, 'POST', `/api/approvals/${id}/approve`, {})).json.approval.state).toBe('pending');
  expect((await api(admin, adminToken, 'POST', '/api/revoke', { jti, reason: 'reviewer token leaked' })).status).toBe(201);
  const second = await api(admin, adminToken, 'POST', `/api/approvals/${id}/approve`, {});
  expect(second.status).toBe(200);
  expect(second.json.approval.state).toBe('pending');

  expect((await api(admin, adminToken, 'POST', `/api/approvals/${id}/deny`, { reason: 'test over' })).status).toBe(200);
  expect(await read.result).toMatchObject({ code: '42501' });
}, 60_000);
