// Monitor mode for a safe rollout (issue 8, point 4): `mode: monitor` computes and records
// every decision but lets denied statements run. It warns at start, tells every client at
// login, shows in /metrics and in the recording. The conformance run: pgbench's own
// TPC-B-like script, writes included, through tracegate in monitor mode in front of a
// scratch database, processes as many transactions as directly, and every statement is
// recorded with the decision enforcement would have taken (decide() itself, recomputed).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionDetail, StatementView } from '../../../src/audit/store.js';
import { parseConfig } from '../../../src/config.js';
import type { Identity } from '../../../src/identity.js';
import { startProxy, type RunningProxy } from '../../../src/main.js';
import { decide } from '../../../src/policy/decide.js';
import { loadPolicyFile } from '../../../src/policy/load.js';
import { analyze } from '../../../src/sql/analyze.js';
import { getToken, pgClientConfig, testEnv } from '../../helpers/env.js';
import { DEFAULT_POLICY } from '../../helpers/proxy.js';
import { available, MINE, recording, REQUIRE_CLIENTS, runProgram, statementsOf, type Recording } from './harness.js';

const MONITOR_NOTICE = /tracegate is in MONITOR mode: policy decisions are recorded but not enforced/;

interface MonitorProxy {
  readonly proxy: RunningProxy;
  readonly dir: string;
  readonly logLines: readonly Record<string, unknown>[];
  /** What startProxy wrote to stderr. */
  readonly stderr: string;
  recording(): Promise<Recording>;
  close(): Promise<void>;
}

/** A tracegate in monitor mode in front of `database`, configured as an operator would. */
async function startMonitorProxy(opts: { database: string; readOnly: boolean; logLevel: 'info' | 'silent' }): Promise<MonitorProxy> {
  const env = testEnv();
  const dir = mkdtempSync(join(tmpdir(), 'tracegate-monitor-'));
  const passwordFile = join(dir, 'upstream-password');
  writeFileSync(passwordFile, `${env.pg.proxyPassword}\n`, { mode: 0o600 });
  const yaml = `listen: { host: 127.0.0.1, port: 0 }
tls: { allowPlaintextOnLoopback: true }
upstream:
  host: ${env.pg.host}
  port: ${env.pg.port}
  database: ${opts.database}
  user: ${env.pg.proxyUser}
  passwordFile: ${passwordFile}
  tls: { mode: disable }
  readOnly: ${opts.readOnly}
oidc: { issuer: ${env.oidc.issuer}, audience: ${env.oidc.audience}, clockSkew: 0s }
policy: ${DEFAULT_POLICY}
mode: monitor
admin: { listen: { host: 127.0.0.1, port: 0 } }
log: { level: ${opts.logLevel} }
`;
  const configFile = join(dir, 'tracegate.yaml');
  writeFileSync(configFile, yaml);
  process.env['TRACEGATE_MASK_KEY'] ??= 'tracegate-test-mask-key-not-secret';
  const logLines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) logLines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  let stderr = '';
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += chunk.toString();
    return true;
  }) as typeof process.stderr.write;
  let proxy: RunningProxy;
  try {
    proxy = await startProxy(parseConfig(yaml, configFile), { log: pino({ level: opts.logLevel }, sink) });
  } finally {
    process.stderr.write = write;
  }
  return {
    proxy,
    dir,
    logLines,
    stderr,
    recording: () => recording({ dir }),
    close: async () => {
      await proxy.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const DEMO = (): string => testEnv().pg.database;

describe('monitor mode', () => {
  let m: MonitorProxy;
  let token: string;
  beforeAll(async () => {
    m = await startMonitorProxy({ database: DEMO(), readOnly: true, logLevel: 'info' });
    token = await getToken('agent-a');
  });
  afterAll(async () => m?.close());

  it('warns at start, in the log and, when the log is turned down, on stderr', async () => {
    expect(m.logLines).toContainEqual(expect.objectContaining({ level: 40, event: 'mode.monitor', msg: expect.stringMatching(/MONITOR MODE: .*NOT enforced/) }));
    const quiet = await startMonitorProxy({ database: DEMO(), readOnly: true, logLevel: 'silent' });
    try {
      expect(quiet.stderr).toMatch(/tracegate: WARNING: MONITOR MODE: decisions are recorded but NOT enforced/);
    } finally {
      await quiet.close();
    }
  });

  it('tells every client at login with a NoticeResponse', async () => {
    const client = new pg.Client({ host: '127.0.0.1', port: m.proxy.port, user: 'agent-a', database: 'traces', password: token });
    const notices: { severity?: string; code?: string; message: string }[] = [];
    client.on('notice', (n) => notices.push({ severity: n.severity, code: n.code, message: n.message ?? '' }));
    await client.connect();
    try {
      await client.query('SELECT 1');
      expect(notices).toContainEqual(expect.objectContaining({ severity: 'WARNING', code: '01000', message: expect.stringMatching(MONITOR_NOTICE) }));
    } finally {
      await client.end();
    }
  });

  it('lets a denied statement run, records it as denied and not enforced, and counts it in /metrics', async () => {
    const client = new pg.Client({ host: '127.0.0.1', port: m.proxy.port, user: 'agent-a', database: 'traces', password: token });
    client.on('notice', () => undefined);
    await client.connect();
    let sessionRows: number;
    try {
      const { rows } = await client.query<{ n: string }>('SELECT count(*) AS n FROM traces');
      sessionRows = Number(rows[0]?.n);
      expect(sessionRows).toBeGreaterThan(1);
      // Allowed statements run as in enforce mode, masked.
      const mine = await client.query<{ user_email: string }>('SELECT user_email FROM traces WHERE trace_id = $1', [MINE]);
      expect(mine.rows[0]?.user_email).not.toContain('@');
    } finally {
      await client.end();
    }
    const metrics = await (await fetch(`${m.proxy.admin?.url}/metrics`)).text();
    expect(metrics).toMatch(/^tracegate_mode\{mode="monitor"\} 1$/m);
    expect(metrics).toMatch(/^tracegate_statements_total\{decision="deny",category="denied"\} [1-9]/m);
    const rec = await m.recording();
    let sessions: SessionDetail[];
    try {
      sessions = await rec.sessions((all) => all.length >= 2 && all.every((s) => s.session.endedAt !== null));
    } finally {
      await rec.close();
    }
    for (const s of sessions) expect(s.session.mode).toBe('monitor');
    const ran = statementsOf(sessions).find((s) => s.text === 'SELECT count(*) AS n FROM traces');
    expect(ran).toMatchObject({ decision: 'deny', enforced: false, sqlstate: null, reason: expect.stringMatching(/read without pinning trace_id/) });
    expect(ran?.completion).toMatchObject({ rows: 1, error: null });
  });
});

const pgbenchReady = available('pgbench', ['--version']);
if (!pgbenchReady && REQUIRE_CLIENTS) throw new Error('pgbench is not installed: apt-get install postgresql-contrib');

describe.runIf(pgbenchReady)('conformance: pgbench\'s built-in TPC-B-like run through monitor mode', () => {
  const CLIENTS = 2;
  const TRANSACTIONS = 25;
  const scratch = `tracegate_pgbench_${randomBytes(4).toString('hex')}`;
  let m: MonitorProxy;
  const superuser = (database: string): Promise<pg.Client> => {
    const c = new pg.Client(pgClientConfig(database));
    return c.connect().then(() => c);
  };

  function pgbench(args: readonly string[], how: 'direct' | 'proxy', password: string) {
    const env = testEnv();
    const conninfo =
      how === 'direct'
        ? `host=${env.pg.host} port=${env.pg.port} user=${env.pg.superuser} dbname=${scratch} sslmode=disable`
        : `host=127.0.0.1 port=${m.proxy.port} user=agent-a dbname=${scratch} sslmode=disable application_name=conformance`;
    return runProgram('pgbench', [...args, conninfo], { env: { PGPASSWORD: password }, timeoutMs: 120_000 });
  }

  beforeAll(async () => {
    const env = testEnv();
    const admin = await superuser('postgres');
    try {
      await admin.query(`CREATE DATABASE ${scratch}`);
    } finally {
      await admin.end();
    }
    // pgbench -i directly, as the database's owner: COPY FROM STDIN is not relayed.
    const init = await pgbench(['-i', '-s', '1', '-q'], 'direct', env.pg.superPassword);
    expect(init.code, init.stderr).toBe(0);
    // What pgbench's run needs of the proxy's own role, and nothing more.
    const db = await superuser(scratch);
    try {
      await db.query(`GRANT CONNECT ON DATABASE ${scratch} TO ${env.pg.proxyUser}`);
      await db.query(`GRANT USAGE ON SCHEMA public TO ${env.pg.proxyUser}`);
      await db.query(`GRANT SELECT, INSERT, UPDATE, TRUNCATE ON pgbench_accounts, pgbench_branches, pgbench_tellers, pgbench_history TO ${env.pg.proxyUser}`);
    } finally {
      await db.end();
    }
    // Writes are the point of this run: the read-only pin is turned off explicitly.
    m = await startMonitorProxy({ database: scratch, readOnly: false, logLevel: 'silent' });
  }, 120_000);

  afterAll(async () => {
    await m?.close();
    const admin = await superuser('postgres');
    try {
      await admin.query(`DROP DATABASE IF EXISTS ${scratch} WITH (FORCE)`);
    } finally {
      await admin.end();
    }
  });

  it('processes the same number of transactions as directly, and every statement is recorded with the decision enforcement would have taken', async () => {
    const env = testEnv();
    const expected = `number of transactions actually processed: ${CLIENTS * TRANSACTIONS}/${CLIENTS * TRANSACTIONS}`;
    const direct = await pgbench(['-c', String(CLIENTS), '-t', String(TRANSACTIONS)], 'direct', env.pg.superPassword);
    expect(direct.stdout, direct.stderr).toContain(expected);

    const token = await getToken('agent-a');
    const proxied = await pgbench(['-c', String(CLIENTS), '-t', String(TRANSACTIONS)], 'proxy', token);
    expect(proxied.stdout, proxied.stderr).toContain(expected);
    expect(proxied.stdout).toMatch(/number of failed transactions: 0 /);

    // The writes happened: pgbench truncated the history, then each transaction added a row.
    const db = await superuser(scratch);
    try {
      const { rows } = await db.query<{ n: string }>('SELECT count(*) AS n FROM pgbench_history');
      expect(Number(rows[0]?.n)).toBe(CLIENTS * TRANSACTIONS);
    } finally {
      await db.end();
    }

    const rec = await m.recording();
    let sessions: SessionDetail[];
    try {
      sessions = await rec.sessions((all) => all.length >= CLIENTS + 1 && all.every((s) => s.session.endedAt !== null), 10_000);
    } finally {
      await rec.close();
    }
    for (const s of sessions) expect(s.session.mode).toBe('monitor');
    const statements = statementsOf(sessions);

    // Each of the script's seven statements, once per transaction, all of them run.
    const count = (re: RegExp): StatementView[] => statements.filter((s) => re.test(s.text));
    const script: [RegExp, 'allow' | 'deny'][] = [
      [/^BEGIN;?$/, 'allow'],
      [/^UPDATE pgbench_accounts SET abalance/, 'deny'],
      [/^SELECT abalance FROM pgbench_accounts/, 'deny'],
      [/^UPDATE pgbench_tellers/, 'deny'],
      [/^UPDATE pgbench_branches/, 'deny'],
      [/^INSERT INTO pgbench_history/, 'deny'],
      [/^END;?$/, 'allow'],
    ];
    for (const [re, decision] of script) {
      const found = count(re);
      expect(found.length, String(re)).toBe(CLIENTS * TRANSACTIONS);
      for (const s of found) {
        expect(s).toMatchObject({ decision, enforced: decision === 'allow', sqlstate: null });
        expect(s.completion?.error ?? null).toBeNull();
      }
    }
    // pgbench's own set-up statements too (the scale lookup, vacuum, truncate).
    expect(count(/^select count\(\*\) from pgbench_branches/i)).toHaveLength(1);
    expect(count(/^truncate pgbench_history/i)).toHaveLength(1);

    // The recorded decision is the one enforcement would have taken: decide() again.
    const policy = loadPolicyFile(DEFAULT_POLICY, { searchPath: 'public' });
    const identity: Identity = { subject: 'agent-a', groups: ['ai-agents'], claims: { sub: 'agent-a' }, jti: undefined, expiresAt: Number.POSITIVE_INFINITY, tokenHash: 'x' };
    for (const s of statements) {
      const d = decide(policy, identity, analyze(s.text), s.parameters, Date.now());
      expect({ text: s.text, decision: d.outcome === 'deny' ? 'deny' : 'allow' }).toEqual({ text: s.text, decision: s.decision });
      if (d.outcome === 'deny') expect(s.reason).toBe(d.reason);
    }
  }, 120_000);
});
