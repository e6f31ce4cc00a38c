// A parameter that pins the trace key is compared as the text the gate decided on only
// if the server types it as text. Sent untyped (type 0, as node-postgres sends every
// parameter), it takes the type of its first use: `$1::char(60)` in the select list
// makes it bpchar, and bpchar compares ignoring trailing blanks. Then 'tr_000003   '
// is the value the gate looks up (no such trace: no approval asked, and the grant and
// the recording name it) while the server reads tr_000003. The reviewers' rule here
// needs approval for high-risk traces and has no owner check, so that is a high-risk
// read without approval.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serialize } from 'pg-protocol';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { WELL_KNOWN_TRACES } from '../../../src/demo/generate.js';
import { getToken } from '../../helpers/env.js';
import { DEFAULT_POLICY, startTestProxy, type TestProxy } from '../../helpers/proxy.js';
import { collect, rawLogin } from '../../helpers/raw-client.js';

const HIGH = WELL_KNOWN_TRACES.agentAHigh;
const LOW = WELL_KNOWN_TRACES.agentALow;

let dir: string;
let proxy: TestProxy;
let reviewer: string;
beforeAll(async () => {
  const exempt = '    maskingExempt: true';
  const policy = readFileSync(DEFAULT_POLICY, 'utf8');
  expect(policy).toContain(exempt);
  dir = mkdtempSync(join(tmpdir(), 'tracegate-pin-types-'));
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, policy.replace(exempt, `${exempt}\n    approval: { when: { risk: [high] }, approvers: { groups: [ai-agents] }, quorum: 1, timeout: 10m }`));
  proxy = await startTestProxy({ policyFile: file });
  reviewer = await getToken('reviewer');
});
afterAll(async () => {
  await proxy?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('a pinning parameter whose type the server infers from another use', () => {
  test('is refused when sent untyped', async () => {
    const client = await proxy.connect(reviewer);
    const padded = `${HIGH}   `;
    await expect(client.query('SELECT t.trace_id, $1::char(60) AS x FROM traces t WHERE t.trace_id = $1', [padded])).rejects.toMatchObject({
      code: '42501',
      message: expect.stringMatching(/parameter \$1 pins the trace key and is also used elsewhere/),
    });
    // The same parameter compared with trace keys only is typed by them: allowed.
    const both = await client.query('SELECT t.trace_id FROM traces t WHERE t.trace_id = $1 AND EXISTS (SELECT 1 FROM trace_steps s WHERE s.trace_id = $1)', [LOW]);
    expect(both.rows).toEqual([{ trace_id: LOW }]);
    await client.end();
  });

  test('is compared as the text decided on when declared as text', async () => {
    const socket = await rawLogin(proxy.port, reviewer);
    socket.write(
      Buffer.concat([
        serialize.parse({ name: '', text: 'SELECT t.trace_id, $1::char(60) AS x FROM traces t WHERE t.trace_id = $1', types: [25] }),
        serialize.bind({ statement: '', values: [`${HIGH}   `] }),
        serialize.execute({}),
        serialize.sync(),
      ]),
    );
    const r = await collect(socket, 3000, (m) => m.type === 'ReadyForQuery');
    // Text keeps the blanks: no trace has that id, so no row (and nothing to approve).
    expect(r.messages.map((m) => m.type)).toEqual(['ParseComplete', 'BindComplete', 'CommandComplete', 'ReadyForQuery']);
    socket.destroy();
  });
});
