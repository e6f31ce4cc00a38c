// A portal outlives its Bind: held open inside a transaction, or run again after an
// Execute with a row limit. The decision made at Bind must not outlive a policy reload:
// an Execute after the reload is decided under the policy then in force (here, one
// that adds an approval the Bind-time decision did not ask for).
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serialize } from 'pg-protocol';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { WELL_KNOWN_TRACES } from '../../../src/demo/generate.js';
import { getToken } from '../../helpers/env.js';
import { DEFAULT_POLICY, startTestProxy, type TestProxy } from '../../helpers/proxy.js';
import { collect, query, rawLogin } from '../../helpers/raw-client.js';

const OWN = WELL_KNOWN_TRACES.agentALow;

let dir: string;
let policyFile: string;
let proxy: TestProxy;
let token: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tracegate-portal-reload-'));
  policyFile = join(dir, 'policy.yaml');
  copyFileSync(DEFAULT_POLICY, policyFile);
  proxy = await startTestProxy({ policyFile });
  token = await getToken('agent-a');
});
afterAll(async () => {
  await proxy.close();
  rmSync(dir, { recursive: true, force: true });
});

const types = (messages: { type: string }[]): string[] => messages.map((m) => m.type);

test('an Execute after a policy reload is decided under the new policy, not the one at Bind', async () => {
  const socket = await rawLogin(proxy.port, token);
  const bind = (portal: string): Buffer =>
    Buffer.concat([
      serialize.parse({ name: '', text: 'SELECT trace_id FROM traces WHERE trace_id = $1' }),
      serialize.bind({ portal, statement: '', values: [OWN] }),
      serialize.flush(),
    ]);
  socket.write(Buffer.concat([query('BEGIN'), bind('before')]));
  expect(types((await collect(socket, 3000, (m) => m.type === 'BindComplete')).messages)).toContain('BindComplete');
  // Under the policy it was bound under, the portal runs.
  socket.write(Buffer.concat([serialize.execute({ portal: 'before' }), serialize.flush()]));
  expect(types((await collect(socket, 3000, (m) => m.type === 'CommandComplete')).messages)).toEqual(['DataRow', 'CommandComplete']);

  socket.write(bind('after'));
  expect(types((await collect(socket, 3000, (m) => m.type === 'BindComplete')).messages)).toContain('BindComplete');
  // The reload makes low-risk reads of the agents' rule need approval too.
  const when = '      when: { risk: [high] }';
  const policy = readFileSync(policyFile, 'utf8');
  expect(policy).toContain(when);
  writeFileSync(policyFile, policy.replace(when, '      when: { risk: [low, high] }'));
  proxy.proxy.reloadPolicy();

  // The portal bound before the reload now waits for an approver instead of running.
  socket.write(Buffer.concat([serialize.execute({ portal: 'after' }), serialize.sync()]));
  const r = await collect(socket, 1500);
  expect(r.messages.some((m) => m.type === 'DataRow')).toBe(false);
  expect(r.messages.some((m) => m.type === 'NoticeResponse' && /approval/.test(m.fields.message))).toBe(true);
  socket.destroy();
});
