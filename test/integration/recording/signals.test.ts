// The real `tracegate serve` in a child process: a SIGKILL right after a statement was
// forwarded loses no decision record (the decision is committed before the statement
// goes out), and a SIGTERM drains (the statement in flight completes and everything the
// client received, batched or not, is in the store when the process has exited).
//
// "Forwarded" is made observable and held there: the test locks trace_steps in a
// superuser transaction, so the proxied read waits upstream (seen in pg_stat_activity)
// until the test lets it go. The reads are simple-protocol Queries: the one message is
// decided, recorded and forwarded whole, so seeing it upstream means it was forwarded.
// (With the extended protocol the Parse goes ahead of the decision, which is taken at
// Bind and Execute, and a Parse waiting on the lock would prove nothing.)
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import pg from 'pg';
import { WELL_KNOWN_TRACES } from '../../../src/demo/generate.js';
import { getToken } from '../../helpers/env.js';
import { buildProxyForChild, startChildProxy, type ProxyBuild } from './child-proxy.js';
import { auditCli, endedSession, leaked, lockTraceSteps, marker, proxyDir, readSession, runningUpstream, sessionIdByApplication } from './harness.js';

const MINE = WELL_KNOWN_TRACES.agentALow;
// Every value as the text the proxy sent, so the client's rows compare with the store's.
const RAW_TEXT = { getTypeParser: () => (value: string) => value } as unknown as pg.CustomTypesConfig;

let build: ProxyBuild;
beforeAll(() => {
  build = buildProxyForChild();
});
afterAll(() => build?.[Symbol.dispose]());

async function agentClient(port: number, applicationName: string): Promise<pg.Client> {
  const client = new pg.Client({
    host: '127.0.0.1',
    port,
    user: 'agent',
    database: 'traces',
    password: await getToken('agent-a'),
    application_name: applicationName,
    types: RAW_TEXT,
  });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

describe('tracegate serve in a child process', () => {
  test('SIGKILL right after a statement was forwarded loses no decision record', async () => {
    using dir = proxyDir();
    await using proxy = await startChildProxy(build, dir.configFile);
    const client = await agentClient(proxy.port, 'recording-sigkill');
    await using lock = await lockTraceSteps();
    const m = marker();
    const sql = `SELECT step, content FROM trace_steps WHERE trace_id = '${MINE}' /* ${m} */`;
    const outcome = client.query(sql).then(
      () => 'completed',
      (err: Error) => err.message,
    );
    await runningUpstream(m);

    proxy.child.kill('SIGKILL');
    expect(await proxy.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(await outcome).not.toBe('completed');
    await lock.release();

    const sessionId = await sessionIdByApplication(dir.storePath, 'recording-sigkill');
    const detail = await readSession(dir.storePath, sessionId);
    const statement = detail?.statements.find((s) => s.text.includes(m));
    expect(statement).toMatchObject({ text: sql, parameters: [], decision: 'allow', traceId: MINE, enforced: true });
    expect(statement?.grantId).toEqual(expect.any(String));
    // The grant went to disk in the same commit as the decision; nothing after it could.
    expect(detail?.grants.map((g) => [g.grantId, g.traceId, g.revokedAt])).toEqual([[statement?.grantId, MINE, null]]);
    expect(statement?.completion).toBeNull();
    expect(detail?.session.endedAt).toBeNull();
    const verify = await auditCli(dir.storePath, 'verify');
    expect(verify).toMatchObject({ code: 0, lines: [expect.stringMatching(/^audit chain ok: \d+ records/)] });
  });

  test('SIGTERM drains: the statement in flight completes and all of it is recorded before exit', async () => {
    using dir = proxyDir();
    await using proxy = await startChildProxy(build, dir.configFile);
    const client = await agentClient(proxy.port, 'recording-sigterm');
    await using lock = await lockTraceSteps();
    const m = marker();
    const sql = `SELECT step, role, content, tool_calls FROM trace_steps WHERE trace_id = '${MINE}' ORDER BY step /* ${m} */`;
    const result = client.query({ text: sql, rowMode: 'array' });
    await runningUpstream(m);

    proxy.child.kill('SIGTERM');
    // Draining: the process waits for the statement it forwarded before the signal.
    const early = await Promise.race([proxy.exited, new Promise((done) => setTimeout(() => done('still draining'), 300))]);
    expect(early).toBe('still draining');
    await lock.release();
    const received = (await result).rows as string[][];
    expect(received.length).toBeGreaterThan(3);
    expect(await proxy.exited).toEqual({ code: 0, signal: null });

    const sessionId = await sessionIdByApplication(dir.storePath, 'recording-sigterm');
    // Read after the exit: nothing can still be on its way.
    const detail = await endedSession(dir.storePath, sessionId);
    const statement = detail.statements.find((s) => s.text.includes(m));
    expect(statement?.completion).toMatchObject({ rows: received.length, commandTag: `SELECT ${received.length}`, error: null });
    const recordedRows = statement?.response.flatMap((e) => (e.type === 'DataRow' ? [e.values] : []));
    expect(recordedRows).toEqual(received);
    expect(detail.grants.map((g) => [g.grantId, g.revokeReason])).toEqual([[statement?.grantId, 'completed']]);
    expect(detail.session.endReason).toMatch(/shutting down/);
    expect(leaked(JSON.stringify(recordedRows))).toEqual([]);
    expect((await auditCli(dir.storePath, 'verify')).code).toBe(0);
  });
});
