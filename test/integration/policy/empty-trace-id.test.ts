// An empty string is a trace id like any other: a read of trace '' is counted against
// the rule's quotas and gets its own single-use grant. The gate once tested the id for
// truthiness, so such reads skipped both quotas and ran with no grant at all. A table of
// its own keeps the row away from the demo data other test files read.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { getToken, testEnv, withSuperuser } from '../../helpers/env.js';
import { startTestProxy, type TestProxy } from '../../helpers/proxy.js';
import { STORE_FILE } from '../recording/harness.js';

const TABLE = `empty_id_traces_${process.pid}`;

let dir: string;
let proxy: TestProxy;
let token: string;

const superuser = (sql: string): Promise<unknown> => withSuperuser((db) => db.query(sql));

beforeAll(async () => {
  await superuser(
    `CREATE TABLE public.${TABLE} (trace_id text PRIMARY KEY, agent_id text NOT NULL, summary text);
     INSERT INTO public.${TABLE} VALUES ('', 'agent-a', 'the empty id'), ('t-1', 'agent-a', 'one');
     GRANT SELECT ON public.${TABLE} TO ${testEnv().pg.proxyUser};`,
  );
  dir = mkdtempSync(join(tmpdir(), 'tracegate-empty-id-'));
  const policyFile = join(dir, 'policy.yaml');
  writeFileSync(
    policyFile,
    `version: 1
traceTables:
  - { table: public.${TABLE}, key: trace_id, owner: agent_id }
rules:
  - name: owners
    groups: [ai-agents]
    entitlement: { owner: { claim: sub } }
    quotas:
      grantsPerMinute: 2
`,
  );
  proxy = await startTestProxy({ policyFile });
  token = await getToken('agent-a');
});
afterAll(async () => {
  await proxy?.close();
  rmSync(dir, { recursive: true, force: true });
  await superuser(`DROP TABLE public.${TABLE}`);
});

test("a read of trace '' is counted against the quota and gets a grant", async () => {
  const client = await proxy.connect(token);
  const read = (id: string): Promise<string> =>
    client.query(`SELECT trace_id, summary FROM ${TABLE} WHERE trace_id = $1`, [id]).then(
      (r) => `rows ${r.rowCount}`,
      (err: { code?: string }) => `error ${err.code}`,
    );
  expect(await read('')).toBe('rows 1');
  expect(await read('')).toBe('rows 1');
  // Two grants a minute, whatever the id.
  expect(await read('')).toBe('error 53400');
  expect(await read('t-1')).toBe('error 53400');
  await client.end();
  await proxy.auditCommitted();
  // Each read that ran had a grant of its own, issued for trace ''.
  const db = new Database(join(proxy.dir, STORE_FILE), { readonly: true });
  const grants = db.prepare("SELECT trace_id FROM records WHERE kind = 'grant-issue'").all();
  db.close();
  expect(grants).toEqual([{ trace_id: '' }, { trace_id: '' }]);
});
