// Instance A is the real `tracegate serve` in a child process, B runs in this process,
// both on one Postgres store. A is SIGKILLed while a statement it forwarded is still
// running upstream: the decision (and its grant) are in the shared store already, since
// a decision is committed before its statement is forwarded; B keeps serving, the client
// reconnects to B, and `audit verify` passes over the chain both wrote.
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { WELL_KNOWN_TRACES } from '../../../src/demo/generate.js';
import { getToken } from '../../helpers/env.js';
import { buildProxyForChild, startChildProxy, type ProxyBuild } from '../recording/child-proxy.js';
import { lockTraceSteps, marker, proxyDir, runningUpstream } from '../recording/harness.js';
import { auditVerify, createStoreDatabase, startInstance, type StoreDatabase } from './harness.js';

const MINE = WELL_KNOWN_TRACES.agentALow;

let build: ProxyBuild;
let store: StoreDatabase;
beforeAll(async () => {
  build = buildProxyForChild();
  store = await createStoreDatabase();
});
afterAll(async () => {
  build?.[Symbol.dispose]();
  await store?.drop();
});

async function agentClient(port: number): Promise<pg.Client> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'agent', database: 'traces', password: await getToken('agent-a') });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

describe('SIGKILL of one instance', () => {
  test('loses no decision record, and the other instance keeps serving', async () => {
    using dir = proxyDir();
    appendFileSync(dir.configFile, `${store.yaml}\n`);
    await using a = await startChildProxy(build, dir.configFile);
    await using b = await startInstance(store);

    const onA = await agentClient(a.port);
    const onB = await agentClient(b.port);
    expect((await onB.query('SELECT trace_id FROM traces WHERE trace_id = $1', [MINE])).rows).toHaveLength(1);

    await using lock = await lockTraceSteps();
    const m = marker();
    const sql = `SELECT step, content FROM trace_steps WHERE trace_id = '${MINE}' /* ${m} */`;
    const outcome = onA.query(sql).then(
      () => 'completed',
      (err: Error) => err.message,
    );
    await runningUpstream(m);
    a.child.kill('SIGKILL');
    expect(await a.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(await outcome).not.toBe('completed');

    // The decision and its grant were committed before A forwarded the statement.
    const decision = await store.query<{ seq: number; body: string; session_id: string }>(
      "SELECT seq, body, session_id FROM tracegate.records WHERE kind = 'statement' AND position($1 in body) > 0",
      [m],
    );
    expect(decision.rows).toHaveLength(1);
    const body = JSON.parse(decision.rows[0]?.body as string) as { decision: string; grantId: string; traceId: string };
    expect(body).toMatchObject({ decision: 'allow', traceId: MINE });
    const grant = await store.query("SELECT 1 FROM tracegate.records WHERE kind = 'grant-issue' AND ref = $1", [body.grantId]);
    expect(grant.rowCount).toBe(1);
    const start = await store.query("SELECT 1 FROM tracegate.records WHERE kind = 'session-start' AND session_id = $1", [decision.rows[0]?.session_id]);
    expect(start.rowCount).toBe(1);

    // B serves on: its open session, and the client that reconnects to it.
    expect((await onB.query('SELECT trace_id FROM traces WHERE trace_id = $1', [MINE])).rows).toHaveLength(1);
    await lock.release();
    const again = await agentClient(b.port);
    expect((await again.query(`SELECT step FROM trace_steps WHERE trace_id = $1 ORDER BY step LIMIT 1`, [MINE])).rows).toHaveLength(1);
    await Promise.all([onB.end(), again.end(), onA.end().catch(() => undefined)]);

    await b.proxy.shared?.audit.flush();
    const verify = await auditVerify(join(b.dir, 'tracegate.yaml'));
    expect(verify.lines.join('\n')).toMatch(/^audit chain ok: \d+ records/);
    expect(verify.code).toBe(0);
    // Both instances wrote into the one chain: sessions of A (killed) and of B.
    const sessions = await store.query<{ n: number }>("SELECT count(*)::int AS n FROM tracegate.records WHERE kind = 'session-start'");
    expect(sessions.rows[0]?.n).toBe(3);
  });
});
