// A read waiting for approval was decided under the policy in force when it arrived. A
// policy reloaded while it waits may no longer allow it, or want a larger quorum: once
// approved, the read is refused (42501) rather than run on the old decision, and run
// again it is decided under the new policy.
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { WELL_KNOWN_TRACES } from '../../../src/demo/generate.js';
import { getToken } from '../../helpers/env.js';
import { DEFAULT_POLICY, startTestProxy, type TestProxy } from '../../helpers/proxy.js';
import { api, pausedRead } from './harness.js';

let dir: string;
let policyFile: string;
let proxy: TestProxy;
let reviewer: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tracegate-reload-approval-'));
  policyFile = join(dir, 'policy.yaml');
  copyFileSync(DEFAULT_POLICY, policyFile);
  proxy = await startTestProxy({ admin: true, policyFile });
  reviewer = await getToken('reviewer');
});
afterAll(async () => {
  await proxy.close();
  rmSync(dir, { recursive: true, force: true });
});

test('a read approved after a policy reload is refused, not run on the old decision', async () => {
  const client = new pg.Client(proxy.clientConfig(await getToken('agent-a')));
  await client.connect();
  const read = pausedRead(client, WELL_KNOWN_TRACES.agentAHigh);
  const id = await read.id;
  // The reload asks two approvers instead of one.
  const quorum = '      quorum: 1';
  const policy = readFileSync(policyFile, 'utf8');
  expect(policy).toContain(quorum);
  writeFileSync(policyFile, policy.replace(quorum, '      quorum: 2'));
  proxy.proxy.reloadPolicy();
  const approved = await api(proxy.adminUrl ?? '', reviewer, 'POST', `/api/approvals/${id}/approve`, { reason: 'approved under the old policy' });
  expect(approved.status).toBe(200);
  expect(await read.result).toMatchObject({ code: '42501', message: expect.stringMatching(/policy was reloaded while this read waited for approval/) });
  await client.end();
}, 60_000);
