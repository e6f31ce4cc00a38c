// Two instances, A and B, in this process, sharing one Postgres store: what one instance
// does takes effect on the other. Revocation ends B's session within a second; an
// approval given through A's admin API releases the statement waiting on B; a one-time
// credential spent through A is refused by B (and of two racing logins on A and B,
// exactly one wins); a quota of 2 distinct traces holds across A and B together; and
// `audit verify --config` passes over the one chain both wrote.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { WELL_KNOWN_TRACES } from '../../../src/demo/generate.js';
import { SCHEMA_VERSION } from '../../../src/store-pg/pg-schema.js';
import { getToken } from '../../helpers/env.js';
import type { TestProxy } from '../../helpers/proxy.js';
import { api, auditVerify, createStoreDatabase, eventually, startInstance, type StoreDatabase } from './harness.js';

const LOW = WELL_KNOWN_TRACES.agentALow;
const HIGH = WELL_KNOWN_TRACES.agentAHigh;
const READ = 'SELECT trace_id FROM traces WHERE trace_id = $1';

let store: StoreDatabase;
let a: TestProxy;
let b: TestProxy;
let agent: string;
let reviewer: string;
let admin: string;

beforeAll(async () => {
  store = await createStoreDatabase();
  // Sequential: the second instance finds the schema migrated (and must not migrate twice).
  a = await startInstance(store);
  b = await startInstance(store);
  [agent, reviewer, admin] = await Promise.all([getToken('agent-a'), getToken('reviewer'), getToken('admin')]);
});

afterAll(async () => {
  await Promise.allSettled([a?.close(), b?.close()]);
  await store?.drop();
});

async function failure(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await p;
  } catch (err) {
    return { code: (err as { code?: string }).code, message: (err as Error).message };
  }
  throw new Error('expected a failure');
}

describe('two instances on one Postgres store', () => {
  test('the store is migrated once, into its own schema, with a schema_version', async () => {
    const v = await store.query<{ version: number }>('SELECT version FROM tracegate.schema_version');
    expect(v.rows).toEqual([{ version: SCHEMA_VERSION }]);
    const tables = await store.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'tracegate' ORDER BY table_name",
    );
    expect(tables.rows.map((r) => r.table_name)).toEqual(
      expect.arrayContaining(['approvals', 'approval_votes', 'chain_head', 'checkpoint', 'credentials', 'quota_grants', 'quota_traces', 'records', 'revocations', 'schema_version']),
    );
  });

  test('a revocation on A ends the session on B within 1 s, and B refuses the next login', async () => {
    const token = await getToken('agent-b');
    const victim = await b.connect(token);
    await victim.query('SELECT 1');
    const ended = new Promise<{ err: Error & { code?: string }; at: number }>((resolve) => victim.once('error', (err) => resolve({ err, at: Date.now() })));
    const sent = Date.now();
    const res = await api(a.adminUrl as string, admin, 'POST', '/api/revoke', { subject: 'agent-b', reason: 'multi-instance test' });
    expect(res.status).toBe(201);
    const { err, at } = await ended;
    expect(err.code).toBe('57P01');
    expect(at - sent).toBeLessThan(1000);
    // B's login path knows it too (its in-memory list adopted the shared revocation).
    const login = await failure(b.connect(token));
    expect(login.code).toBe('28000');
    expect(login.message).toContain('revoked');
    // And it is one row in the store.
    const rows = await store.query<{ kind: string; target: string }>('SELECT kind, target FROM tracegate.revocations');
    expect(rows.rows).toEqual([{ kind: 'subject', target: 'agent-b' }]);
  });

  test('an approval through A releases the statement waiting on B, once', async () => {
    const client = await b.connect(agent);
    const id = new Promise<string>((resolve) =>
      client.once('notice', (n) => {
        const m = /request ([0-9a-f-]{36})/.exec(n.message ?? '');
        if (m?.[1]) resolve(m[1]);
      }),
    );
    const result = client.query('SELECT trace_id, risk FROM traces WHERE trace_id = $1', [HIGH]);
    const requestId = await id;
    // A lists it (it is B's request, in the shared store) and approves it.
    const queue = await eventually(async () => {
      const q = await api(a.adminUrl as string, reviewer, 'GET', '/api/approvals');
      return q.json.approvals.some((x: { id: string }) => x.id === requestId) ? q : undefined;
    }, 'the request in A\'s queue');
    expect(queue.status).toBe(200);
    const sent = Date.now();
    const approved = await api(a.adminUrl as string, reviewer, 'POST', `/api/approvals/${requestId}/approve`, { reason: 'incident 42' });
    expect(approved.status).toBe(200);
    expect(approved.json.state ?? approved.json.approval?.state).toBe('approved');
    expect((await result).rows).toEqual([{ trace_id: HIGH, risk: 'high' }]);
    expect(Date.now() - sent).toBeLessThan(1000);
    // Settled for everyone: B answers 409 to a second decision.
    expect((await api(b.adminUrl as string, reviewer, 'POST', `/api/approvals/${requestId}/deny`, {})).status).toBe(409);

    // A denial through A reaches B as 42501 naming the request.
    const id2 = new Promise<string>((resolve) =>
      client.once('notice', (n) => {
        const m = /request ([0-9a-f-]{36})/.exec(n.message ?? '');
        if (m?.[1]) resolve(m[1]);
      }),
    );
    const second = failure(client.query('SELECT trace_id FROM traces WHERE trace_id = $1', [HIGH]));
    const requestId2 = await id2;
    expect((await api(a.adminUrl as string, reviewer, 'POST', `/api/approvals/${requestId2}/deny`, { reason: 'no' })).status).toBe(200);
    const refused = await second;
    expect(refused.code).toBe('42501');
    expect(refused.message).toContain(requestId2);
  });

  test('a credential spent through A is refused by B; of two racing logins on A and B exactly one wins', async () => {
    const issued = await api(a.adminUrl as string, agent, 'POST', '/api/credentials', { trace_id: LOW, reason: 'multi-instance test' });
    expect(issued.status).toBe(201);
    const { id, credential } = issued.json as { id: string; credential: string };
    const onA = new pg.Client(a.clientConfig(credential, { user: id }));
    onA.on('error', () => undefined);
    await onA.connect();
    expect((await onA.query(READ, [LOW])).rows).toEqual([{ trace_id: LOW }]);
    await onA.end();
    const state = await eventually(async () => {
      const r = await store.query<{ state: string }>('SELECT state FROM tracegate.credentials WHERE id = $1', [id]);
      return r.rows[0]?.state === 'spent' ? 'spent' : undefined;
    }, 'the credential to be spent');
    expect(state).toBe('spent');
    const reuse = await failure(new pg.Client(b.clientConfig(credential, { user: id })).connect());
    expect(reuse.code).toBe('28P01');
    expect(reuse.message).toContain('has been used already');

    // A fresh credential issued on B, presented to A and B at the same moment.
    const fresh = await api(b.adminUrl as string, agent, 'POST', '/api/credentials', { trace_id: LOW, reason: 'race' });
    expect(fresh.status).toBe(201);
    const clients = [a, b].map((p) => {
      const c = new pg.Client(p.clientConfig(fresh.json.credential, { user: fresh.json.id }));
      c.on('error', () => undefined);
      return c;
    });
    const outcomes = await Promise.allSettled(clients.map((c) => c.connect()));
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    const lost = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult;
    expect((lost.reason as { code?: string }).code).toBe('28P01');
    await Promise.allSettled(clients.map((c) => c.end()));
  });

  test('a quota of 2 distinct traces holds across A and B together', async () => {
    const policyFile = join(a.dir, 'quota-policy.yaml');
    writeFileSync(
      policyFile,
      `version: 1
traceTables:
  - { table: public.traces, key: trace_id, owner: agent_id, risk: risk }
  - { table: public.trace_steps, key: trace_id }
rules:
  - name: quota-two
    groups: [ai-agents]
    quotas:
      distinctTraces: { max: 2, window: 1h }
masking:
  hashKey: \${TRACEGATE_MASK_KEY}
  detectors: none
`,
    );
    const qa = await startInstance(store, { policyFile });
    const qb = await startInstance(store, { policyFile });
    try {
      const token = agent;
      const [ca, cb] = await Promise.all([qa.connect(token), qb.connect(token)]);
      const [t1, t2, t3] = ['tr_000001', 'tr_000002', 'tr_000004'] as const;
      expect((await ca.query(READ, [t1])).rows).toHaveLength(1);
      expect((await cb.query(READ, [t2])).rows).toHaveLength(1);
      // The third distinct trace is over quota whichever instance is asked.
      const onA = await failure(ca.query(READ, [t3]));
      const onB = await failure(cb.query(READ, [t3]));
      expect(onA.code).toBe('53400');
      expect(onB.code).toBe('53400');
      // The two already counted may be read again, on either instance.
      expect((await cb.query(READ, [t1])).rows).toHaveLength(1);
      expect((await ca.query(READ, [t2])).rows).toHaveLength(1);
    } finally {
      await Promise.allSettled([qa.close(), qb.close()]);
    }
  });

  test('audit verify --config passes over the one chain written by both instances', async () => {
    await Promise.all([a.proxy.shared?.audit.flush(), b.proxy.shared?.audit.flush()]);
    const sessions = await store.query<{ n: number }>("SELECT count(*)::int AS n FROM tracegate.records WHERE kind = 'session-start'");
    expect(sessions.rows[0]?.n).toBeGreaterThanOrEqual(5);
    const run = await auditVerify(join(b.dir, 'tracegate.yaml'));
    expect(run.lines.join('\n')).toMatch(/^audit chain ok: \d+ records from seq 1 to \d+; head hash [0-9a-f]{64}$/);
    expect(run.code).toBe(0);

    // Tampering with one record (as a store superuser could) is found.
    await store.query("UPDATE tracegate.records SET body = replace(body, '\"subject\":\"agent-', '\"subject\":\"agent-x') WHERE seq = (SELECT min(seq) FROM tracegate.records WHERE kind = 'session-start')");
    const broken = await auditVerify(join(b.dir, 'tracegate.yaml'));
    expect(broken.code).toBe(1);
    expect(broken.lines[0]).toMatch(/BROKEN at seq \d+ \(session-start\)/);
  });

  test('audit verify --config finds a record stored before the chain starts, which the session views would list', async () => {
    await store.query(
      'INSERT INTO tracegate.records (seq, kind, at, session_id, ref, subject, trace_id, body, hash) SELECT 0, kind, at, session_id, ref, subject, trace_id, body, hash FROM tracegate.records WHERE seq = (SELECT min(seq) FROM tracegate.records)',
    );
    const run = await auditVerify(join(b.dir, 'tracegate.yaml'));
    expect(run.code).toBe(1);
    expect(run.lines[0]).toMatch(/BROKEN at seq 0 \(session-start\)/);
  });
});
