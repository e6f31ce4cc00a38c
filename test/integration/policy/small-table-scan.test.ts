// A pin holds for the rows a scan fetches through it. On a small trace table Postgres
// prefers a sequential scan: it fetches every trace's rows and applies the conditions
// as filters in cost order, the pin perhaps last, so a condition that fails (a strict
// jsonpath) ran on another agent's row and its error told about that row. Sessions run
// with sequential scans priced out, so the table is read through its key's index.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { getToken, testEnv, withSuperuser } from '../../helpers/env.js';
import { startTestProxy, type TestProxy } from '../../helpers/proxy.js';

const TABLE = `small_steps_${process.pid}`;
const PROBE = `SELECT step FROM ${TABLE} WHERE trace_id = 'mine' AND jsonb_path_exists(tool_calls, 'strict $[2]')`;

let dir: string;
let proxy: TestProxy;

beforeAll(async () => {
  await withSuperuser((db) =>
    db.query(
      `CREATE TABLE public.${TABLE} (trace_id text, step int, owner text, tool_calls jsonb, PRIMARY KEY (trace_id, step));
       INSERT INTO public.${TABLE} VALUES ('mine', 1, 'agent-a', '[1, 2, 3]'), ('theirs', 1, 'agent-b', '[1]');
       ANALYZE public.${TABLE};
       GRANT SELECT ON public.${TABLE} TO ${testEnv().pg.proxyUser};`,
    ),
  );
  dir = mkdtempSync(join(tmpdir(), 'tracegate-small-table-'));
  const policyFile = join(dir, 'policy.yaml');
  writeFileSync(
    policyFile,
    `version: 1
traceTables:
  - { table: public.${TABLE}, key: trace_id, owner: owner }
rules:
  - name: owners
    groups: [ai-agents]
    entitlement: { owner: { claim: sub } }
`,
  );
  proxy = await startTestProxy({ policyFile });
});
afterAll(async () => {
  await proxy?.close();
  rmSync(dir, { recursive: true, force: true });
  await withSuperuser((db) => db.query(`DROP TABLE public.${TABLE}`));
});

test("a failing condition does not run on another agent's row of a small table", async () => {
  // Without the setting, the server scans the table whole and the condition fails on
  // agent-b's row (one element, no $[2]).
  const direct = await withSuperuser((db) => db.query(PROBE).then(() => 'ran', (err: { code?: string }) => `error ${err.code}`));
  expect(direct).toBe('error 22033');
  const client = await proxy.connect(await getToken('agent-a'));
  expect((await client.query(PROBE)).rows).toEqual([{ step: 1 }]);
  await client.end();
});
