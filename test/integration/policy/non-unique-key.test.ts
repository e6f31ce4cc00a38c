// A trace table whose key is not unique may hold rows of one id that disagree on owner
// or risk: a read of that id returns all of them, so no one row speaks for the trace.
// The lookup took the first row it found, and agent-a read agent-b's row beside its own,
// or a trace with a high-risk row ran without approval. Such a trace is now not
// entitled (42501) for every rule that needs its owner or risk.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { getToken, testEnv, withSuperuser } from '../../helpers/env.js';
import { startTestProxy, type TestProxy } from '../../helpers/proxy.js';

const TABLE = `non_unique_traces_${process.pid}`;

let dir: string;
let proxy: TestProxy;

const superuser = (sql: string): Promise<unknown> => withSuperuser((db) => db.query(sql));

beforeAll(async () => {
  await superuser(
    `CREATE TABLE public.${TABLE} (trace_id text NOT NULL, agent_id text, risk text, body text);
     INSERT INTO public.${TABLE} VALUES
       ('shared', 'agent-a', 'low', 'mine'), ('shared', 'agent-b', 'low', 'agent-b''s'),
       ('mixed', 'agent-a', 'low', 'low row'), ('mixed', 'agent-a', 'high', 'high row'),
       ('plain', 'agent-a', 'low', 'one'), ('plain', 'agent-a', 'low', 'two');
     GRANT SELECT ON public.${TABLE} TO ${testEnv().pg.proxyUser};`,
  );
  dir = mkdtempSync(join(tmpdir(), 'tracegate-non-unique-'));
  const policyFile = join(dir, 'policy.yaml');
  writeFileSync(
    policyFile,
    `version: 1
traceTables:
  - { table: public.${TABLE}, key: trace_id, owner: agent_id, risk: risk }
rules:
  - name: owners
    groups: [ai-agents]
    entitlement: { owner: { claim: sub } }
    approval: { when: { risk: [high] }, approvers: { groups: [security] }, quorum: 1, timeout: 10m }
`,
  );
  proxy = await startTestProxy({ policyFile });
});
afterAll(async () => {
  await proxy?.close();
  rmSync(dir, { recursive: true, force: true });
  await superuser(`DROP TABLE public.${TABLE}`);
});

test('a trace id whose rows disagree on owner or risk is not entitled; rows that agree are read', async () => {
  const client = await proxy.connect(await getToken('agent-a'));
  const read = (id: string): Promise<string> =>
    client.query(`SELECT body FROM ${TABLE} WHERE trace_id = $1 ORDER BY body`, [id]).then(
      (r) => JSON.stringify(r.rows.map((row) => row.body)),
      (err: { code?: string }) => `error ${err.code}`,
    );
  expect(await read('shared')).toBe('error 42501');
  expect(await read('mixed')).toBe('error 42501');
  expect(await read('plain')).toBe('["one","two"]');
  await client.end();
});
