// A trace table of a test file's own, for data the demo traces do not hold (other test
// files read the demo tables at the same time, so they are not changed): each row owned
// through `owner`, under a policy of one rule (ai-agents read the traces they own) with
// the default masking, every detector and no column rules. Dropped by `close`.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testEnv, withSuperuser } from './env.js';
import { startTestProxy, type TestProxy } from './proxy.js';

export interface OwnedTable {
  readonly proxy: TestProxy;
  close(): Promise<void>;
}

/**
 * `table`: an unqualified name in public, unique to the test file (add process.pid);
 * `columns`: its CREATE TABLE column list, with `trace_id` and `owner`; `rows` in its order.
 */
export async function ownedTraceTable(table: string, columns: string, rows: readonly (readonly unknown[])[]): Promise<OwnedTable> {
  await withSuperuser(async (db) => {
    await db.query(`CREATE TABLE public.${table} (${columns})`);
    for (const row of rows) await db.query(`INSERT INTO public.${table} VALUES (${row.map((_, i) => `$${i + 1}`).join(', ')})`, [...row]);
    await db.query(`GRANT SELECT ON public.${table} TO ${testEnv().pg.proxyUser}`);
  });
  const dir = mkdtempSync(join(tmpdir(), 'tracegate-owned-table-'));
  const policyFile = join(dir, 'policy.yaml');
  writeFileSync(
    policyFile,
    `version: 1
traceTables:
  - { table: public.${table}, key: trace_id, owner: owner }
rules:
  - name: owners
    groups: [ai-agents]
    entitlement: { owner: { claim: sub } }
`,
  );
  const proxy = await startTestProxy({ policyFile });
  return {
    proxy,
    close: async () => {
      await proxy.close();
      rmSync(dir, { recursive: true, force: true });
      await withSuperuser((db) => db.query(`DROP TABLE IF EXISTS public.${table}`));
    },
  };
}
