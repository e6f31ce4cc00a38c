// A real node-postgres session through a real proxy is recorded completely, and
// `tracegate sessions replay` reproduces what the client received: the masked values
// node-postgres got (not the secrets the upstream holds), the notice, the errors. The
// CLI's list, export and prune work on the store the proxy wrote while it keeps writing.
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import pg from 'pg';
import type { SessionDetail, StatementView } from '../../../src/audit/store.js';
import { WELL_KNOWN_TRACES } from '../../../src/demo/generate.js';
import { getToken, pgClientConfig } from '../../helpers/env.js';
import { startTestProxy, type TestProxy } from '../../helpers/proxy.js';
import { runAuditCommand } from '../../../src/cli/audit.js';
import { runSessionsCommand } from '../../../src/cli/sessions.js';
import { auditCli, endedSession, exportedRows, leaked, lockTraceSteps, marker, runCli, runningUpstream, sessionIdByApplication, sessionsCli, STORE_FILE } from './harness.js';

const MINE = WELL_KNOWN_TRACES.agentALow;
const OTHER = WELL_KNOWN_TRACES.agentBLow;
// Every value as the text the proxy sent, so the client's rows compare with the store's.
const RAW_TEXT = { getTypeParser: () => (value: string) => value } as unknown as pg.CustomTypesConfig;

const SIMPLE_READ = `SELECT trace_id, user_email, risk FROM traces WHERE trace_id = '${MINE}'`;
const EXTENDED_READ = 'SELECT step, role, content, tool_calls FROM trace_steps WHERE trace_id = $1 ORDER BY step';
const DENIED = 'SELECT email, api_key FROM customers';
// ROLLBACK outside a transaction: the upstream answers with a WARNING notice.
const NOTICE = 'ROLLBACK';
// Fails at execution (a row's value is needed), so the error answers the Execute.
const FAILING = 'SELECT step / (step - step) AS boom FROM trace_steps WHERE trace_id = $1';
// Fails echoing the value it could not cast: step 1's content, with a planted phone number.
const ECHOING = 'SELECT content::int AS n FROM trace_steps WHERE trace_id = $1 AND step = 1';

interface Received {
  readonly rows: (string | null)[][];
  readonly error: { code: string; message: string } | null;
}

let proxy: TestProxy;
let storePath: string;
let token: string;
let sessionStartedAfter: number;
const received = new Map<string, Received>();
const notices: string[] = [];
let detail: SessionDetail;

async function run(client: pg.Client, text: string, values?: string[]): Promise<Received> {
  try {
    const r = await client.query({ text, values, rowMode: 'array' });
    return { rows: r.rows as (string | null)[][], error: null };
  } catch (err) {
    const e = err as { code: string; message: string };
    return { rows: [], error: { code: e.code, message: e.message } };
  }
}

beforeAll(async () => {
  proxy = await startTestProxy();
  storePath = join(proxy.dir, STORE_FILE);
  token = await getToken('agent-a');
  sessionStartedAfter = Date.now();
  const client = await proxy.connect(token, { application_name: 'recording-session', types: RAW_TEXT });
  client.on('notice', (n) => notices.push(n.message ?? ''));
  received.set(SIMPLE_READ, await run(client, SIMPLE_READ));
  received.set(EXTENDED_READ, await run(client, EXTENDED_READ, [MINE]));
  received.set(DENIED, await run(client, DENIED));
  received.set(NOTICE, await run(client, NOTICE));
  received.set(FAILING, await run(client, FAILING, [MINE]));
  received.set(ECHOING, await run(client, ECHOING, [MINE]));
  await client.end();
  const sessionId = await sessionIdByApplication(storePath, 'recording-session');
  detail = await endedSession(storePath, sessionId);
});
afterAll(async () => proxy?.close());

function statement(text: string): StatementView {
  const found = detail.statements.filter((s) => s.text === text);
  expect(found, text).toHaveLength(1);
  return found[0] as StatementView;
}

function recordedRows(st: StatementView): (string | Uint8Array | null)[][] {
  return st.response.flatMap((e) => (e.type === 'DataRow' ? [[...e.values]] : []));
}

describe('a node-postgres session is recorded completely', () => {
  test('the session: identity, client, application, no TLS on loopback plaintext, start and end', async () => {
    const { session } = detail;
    const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as { jti: string; sub: string };
    expect(session).toMatchObject({
      subject: 'agent-a',
      groups: ['ai-agents'],
      tokenJti: claims.jti,
      clientAddress: expect.stringMatching(/^(::ffff:)?127\.0\.0\.1/),
      applicationName: 'recording-session',
      tls: null,
      mode: 'enforce',
      endReason: 'client terminated',
      statements: 6,
      denied: 1,
      traceIds: [MINE],
    });
    expect(session.tokenHash).toMatch(/^[0-9a-f]{64}$/);
    expect(session.startedAt).toBeGreaterThanOrEqual(sessionStartedAfter);
    expect(session.endedAt).toBeGreaterThanOrEqual(Math.max(...detail.statements.map((s) => s.at)));
    expect(detail.statements.map((s) => s.text)).toEqual([SIMPLE_READ, EXTENDED_READ, DENIED, NOTICE, FAILING, ECHOING]);
  });

  test('a simple-protocol read: decision, rule, grant, trace, rows and the masked values', () => {
    const st = statement(SIMPLE_READ);
    expect(st).toMatchObject({ parameters: [], decision: 'allow', enforced: true, rule: 'agents-read-own-traces', traceId: MINE, sqlstate: null });
    expect(st.reason).toMatch(/single-trace read/);
    expect(st.completion).toMatchObject({ rows: 1, commandTag: 'SELECT 1', error: null });
    expect(st.completion?.bytes).toBeGreaterThan(0);
    expect(st.completion?.durationMs).toBeGreaterThanOrEqual(0);
    expect(recordedRows(st)).toEqual(received.get(SIMPLE_READ)?.rows);
  });

  test('an extended-protocol read: the bound parameter and every masked row as the client got it', () => {
    const st = statement(EXTENDED_READ);
    const rows = received.get(EXTENDED_READ)?.rows ?? [];
    expect(rows.length).toBeGreaterThan(3);
    expect(st).toMatchObject({ parameters: [MINE], decision: 'allow', rule: 'agents-read-own-traces', traceId: MINE });
    expect(st.completion).toMatchObject({ rows: rows.length, commandTag: `SELECT ${rows.length}`, error: null });
    expect(st.response[0]).toMatchObject({ type: 'RowDescription', fields: ['step', 'role', 'content', 'tool_calls'].map((name) => ({ name })) });
    expect(recordedRows(st)).toEqual(rows);
  });

  test('a denial: rule, reason and SQLSTATE, no grant, nothing run', () => {
    const st = statement(DENIED);
    const error = received.get(DENIED)?.error;
    expect(error?.code).toBe('42501');
    expect(st).toMatchObject({ decision: 'deny', enforced: true, rule: 'agents-read-own-traces', sqlstate: '42501', grantId: null, traceId: null, completion: null });
    expect(error?.message).toBe(`${st.reason} (decision ${st.decisionId})`);
  });

  test('a notice and an execution error are recorded as the client got them', () => {
    expect(notices).toContain('there is no transaction in progress');
    const notice = statement(NOTICE);
    expect(notice.response).toEqual([
      expect.objectContaining({ type: 'NoticeResponse', fields: expect.objectContaining({ severity: 'WARNING', code: '25P01', message: 'there is no transaction in progress' }) }),
      { type: 'CommandComplete', tag: 'ROLLBACK' },
    ]);
    expect(notice.grantId).toBeNull();

    const failing = statement(FAILING);
    expect(received.get(FAILING)?.error).toEqual({ code: '22012', message: 'division by zero' });
    expect(failing.completion).toMatchObject({ rows: 0, error: { sqlstate: '22012', message: 'division by zero' } });
    expect(failing.response.at(-1)).toMatchObject({ type: 'ErrorResponse', fields: { code: '22012', message: 'division by zero' } });
  });

  test('an error that echoes a value is recorded masked, as the client got it, in the completion too', () => {
    const got = received.get(ECHOING)?.error;
    expect(got?.code).toBe('22P02');
    expect(got?.message).toMatch(/\[redacted:phone\]/);
    const echoing = statement(ECHOING);
    expect(echoing.completion?.error).toEqual({ sqlstate: '22P02', message: got?.message });
    expect(leaked(JSON.stringify(echoing))).toEqual([]);
  });

  test('every trace read had its own grant, issued with the decision and revoked when it finished', () => {
    const reads = detail.statements.filter((s) => s.traceId !== null);
    expect(reads.map((s) => s.text)).toEqual([SIMPLE_READ, EXTENDED_READ, FAILING, ECHOING]);
    expect(detail.grants.map((g) => [g.grantId, g.statementId, g.traceId, g.subject, g.rule])).toEqual(
      reads.map((s) => [s.grantId, s.statementId, MINE, 'agent-a', 'agents-read-own-traces']),
    );
    for (const g of detail.grants) {
      expect(g.expiresAt - g.issuedAt).toBe(g.ttlMs);
      expect(g.revokedAt).toBeGreaterThanOrEqual(g.issuedAt);
    }
    expect(detail.grants.map((g) => g.revokeReason)).toEqual(['completed', 'completed', 'error', 'error']);
  });
});

describe('sessions replay', () => {
  let replay: string[];
  beforeAll(async () => {
    const run = await sessionsCli(storePath, 'replay', detail.session.sessionId);
    expect(run.code).toBe(0);
    replay = run.lines;
  });

  test('shows every row exactly as node-postgres received it', () => {
    for (const text of [SIMPLE_READ, EXTENDED_READ]) {
      expect(replay).toContain(text);
      const rows = received.get(text)?.rows ?? [];
      const footer = rows.length === 1 ? '(1 row)' : `(${rows.length} rows)`;
      expect(replay).toContain(footer);
      for (const row of rows) {
        // One table line per row: every cell of it, in order, between the separators
        // (psql shows NULL as nothing).
        const cells = row.map((v) => (v ?? '').trim());
        const line = replay.find((l) => l.split(' | ').map((c) => c.trim()).join('\u0000') === cells.join('\u0000'));
        expect(line, `row ${JSON.stringify(row)}`).toBeDefined();
      }
    }
  });

  test('shows the denial, the notice and the error the client got', () => {
    const denied = statement(DENIED);
    const at = replay.findIndex((l) => l.startsWith('-- [3] '));
    expect(replay.slice(at, at + 5)).toEqual([
      expect.stringContaining(`deny: ${denied.reason}`),
      `--     rule agents-read-own-traces, decision ${denied.decisionId}`,
      '--     refused: not forwarded to the database',
      DENIED,
      `ERROR:  42501: ${received.get(DENIED)?.error?.message}`,
    ]);
    expect(replay).toContain('WARNING:  there is no transaction in progress');
    expect(replay).toContain('ERROR:  22012: division by zero');
    expect(replay).toContain(`--     parameters: $1 = '${MINE}'`);
    expect(replay.at(-1)).toMatch(/^-- ended .*: client terminated$/);
  });

  test('holds no planted secret, although the upstream returned some for these reads', async () => {
    const upstream = new pg.Client(pgClientConfig());
    await upstream.connect();
    try {
      const raw = [
        ...(await upstream.query({ text: SIMPLE_READ, rowMode: 'array' })).rows,
        ...(await upstream.query({ text: EXTENDED_READ, values: [MINE], rowMode: 'array' })).rows,
      ];
      expect(leaked(JSON.stringify(raw)).length).toBeGreaterThan(0);
    } finally {
      await upstream.end();
    }
    expect(leaked(JSON.stringify([...received.values()]))).toEqual([]);
    expect(leaked(replay.join('\n'))).toEqual([]);
    expect(replay.join('\n')).not.toContain(token);
  });
});

describe('a client that goes away while its statement runs', () => {
  test('the statement is recorded as not completed, its grant revoked, the session ended', async () => {
    const client = await proxy.connect(token, { application_name: 'recording-vanished' });
    await using lock = await lockTraceSteps();
    const m = marker();
    const sql = `SELECT step FROM trace_steps WHERE trace_id = '${MINE}' /* ${m} */`;
    const outcome = client.query(sql).catch(() => undefined);
    await runningUpstream(m);
    // No Terminate: the socket just closes, as when an agent's process dies.
    (client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
    await outcome;
    await lock.release();

    const sessionId = await sessionIdByApplication(storePath, 'recording-vanished');
    const vanished = await endedSession(storePath, sessionId);
    expect(vanished.session.endReason).toBe('client disconnected');
    const st = vanished.statements.find((s) => s.text === sql);
    expect(st?.completion).toMatchObject({ rows: 0, error: { sqlstate: '08006', message: 'client disconnected' } });
    expect(vanished.grants.map((g) => [g.grantId, g.revokeReason])).toEqual([[st?.grantId, 'error']]);
    const replay = await sessionsCli(storePath, 'replay', sessionId);
    expect(replay.lines).toContain('--     did not complete: 08006: client disconnected');
  });
});

describe('the CLI on the store the proxy wrote', () => {
  test('sessions list filters by subject, trace and start time', async () => {
    const id = detail.session.sessionId;
    const listed = async (...args: string[]): Promise<boolean> => {
      const run = await sessionsCli(storePath, 'list', ...args);
      expect(run.code).toBe(0);
      return run.lines.some((l) => l.includes(id));
    };
    expect(await listed()).toBe(true);
    expect(await listed('--subject', 'agent-a')).toBe(true);
    expect(await listed('--subject', 'agent-b')).toBe(false);
    expect(await listed('--trace', MINE)).toBe(true);
    expect(await listed('--trace', OTHER)).toBe(false);
    expect(await listed('--since', '1h')).toBe(true);
    expect(await listed('--since', new Date(detail.session.startedAt + 1).toISOString())).toBe(false);
  });

  test('--config FILE finds the store through the proxy configuration, as an operator names it', async () => {
    const config = join(proxy.dir, 'tracegate.yaml');
    const listed = await runCli(runSessionsCommand, ['list', '--subject', 'agent-a', '--config', config]);
    expect(listed.code).toBe(0);
    expect(listed.lines.some((l) => l.includes(detail.session.sessionId))).toBe(true);
    expect((await runCli(runAuditCommand, ['verify', '--config', config])).code).toBe(0);
    expect((await runCli(runAuditCommand, ['verify', '--config', config, '--store', storePath])).lines[0]).toBe(
      'error: give --store PATH or --config FILE, not both',
    );
    const missing = await runCli(runSessionsCommand, ['list', '--config', join(proxy.dir, 'no-such.yaml')]);
    expect(missing).toMatchObject({ code: 2, lines: [expect.stringMatching(/no-such\.yaml.*cannot read/)] });
  });

  test('audit export --since: JSON lines, chained, the session in full, no token and no secret', async () => {
    const run = await auditCli(storePath, 'export', '--since', new Date(sessionStartedAfter).toISOString());
    expect(run.code).toBe(0);
    const lines = run.lines.map((l) => JSON.parse(l) as { seq: number; kind: string; atMs: number; sessionId: string | null; prevHash: string; hash: string });
    expect(lines.every((l) => l.atMs >= sessionStartedAfter)).toBe(true);
    for (let i = 1; i < lines.length; i++) {
      if (lines[i]?.seq === (lines[i - 1]?.seq ?? 0) + 1) expect(lines[i]?.prevHash).toBe(lines[i - 1]?.hash);
    }
    const kinds = new Set(lines.filter((l) => l.sessionId === detail.session.sessionId).map((l) => l.kind));
    expect([...kinds].sort()).toEqual(['grant-issue', 'grant-revoke', 'session-end', 'session-start', 'statement', 'statement-complete']);
    // Rows are exported as the DataRow bytes the client got, base64: searched decoded too.
    const rows = run.lines.flatMap(exportedRows);
    expect(rows.length).toBeGreaterThan(0);
    const text = [...run.lines, ...rows].join('\n');
    expect(text).not.toContain(token);
    expect(leaked(text)).toEqual([]);
  });

  test('audit prune --older-than keeps the rest verifiable while the proxy keeps writing', async () => {
    // A cut between the first session and a later one, with time to spare either side.
    await sleep(300);
    const cut = Date.now();
    await sleep(300);
    const client = await proxy.connect(token, { application_name: 'recording-after-prune' });
    await client.query('SELECT step FROM trace_steps WHERE trace_id = $1', [MINE]);
    const laterId = await sessionIdByApplication(storePath, 'recording-after-prune');
    const pruned = await auditCli(storePath, 'prune', '--older-than', `${Date.now() - cut}ms`);
    expect(pruned.code).toBe(0);
    expect(pruned.lines[0]).toMatch(/^pruned \d+ records; the chain continues from checkpoint seq \d+/);
    expect((await sessionsCli(storePath, 'show', detail.session.sessionId)).code).toBe(1);

    await client.query('SELECT count(*) FROM trace_steps WHERE trace_id = $1', [MINE]);
    await client.end();
    await endedSession(storePath, laterId);
    const verify = await auditCli(storePath, 'verify');
    expect(verify.code).toBe(0);
    expect(verify.lines[0]).toMatch(/^audit chain ok: \d+ records from seq [1-9]\d* to \d+/);
    expect(verify.lines[0]).not.toMatch(/from seq 1 to/);
    const shown = await sessionsCli(storePath, 'show', laterId);
    expect(shown.lines.filter((l) => /\ballow\b/.test(l))).toHaveLength(2);
  });
});
