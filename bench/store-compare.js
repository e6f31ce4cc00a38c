#!/usr/bin/env node
// `node bench/store-compare.js` (after `npm run build`): the point-read throughput of one
// tracegate instance with the default SQLite store against the same instance with the
// shared Postgres store (SPEC section 11), in one run on one machine. It starts its own
// PostgreSQL with the demo traces (bench/lib/postgres.js), the dev OIDC issuer, a store
// database `tracegate_store` owned by its own role on that same server, then for each
// store: tracegate as a child process with bench/policy.yaml (policy, quota, grant,
// masking, recording all on), a short warm-up, and pgbench point reads of one trace
// (bench/point-read.sql, -M extended, 8 clients, 2 threads). Prints TPS, the average
// latency and the ratio.
//
// The store and the traces share one PostgreSQL server here (and the machine's CPUs),
// so the Postgres-store figure is a lower bound for a store on its own server.
// Environment: BENCH_SECONDS (default 15), BENCH_CLIENTS (default 8).
//
// `node bench/store-compare.js --recording` instead measures only the SQLite store's
// cost of recording point reads, in this process without Postgres: main-thread and
// process CPU per recorded statement, and the longest event-loop stalls. Environment:
// BENCH_STATEMENTS (default 20000), BENCH_CLIENTS (concurrent sessions, default 1 and 8).
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { PGBENCH, runPgbench } from './lib/pgbench.js';
import { ROOT, startTracegate } from './lib/tracegate.js';

if (process.argv.includes('--recording')) {
  await recordingBench();
  process.exit(0);
}
if (!existsSync(join(ROOT, 'dist', 'src', 'main.js'))) {
  console.error('store-compare: dist/ is missing; run `npm run build` first');
  process.exit(2);
}
if (!existsSync(PGBENCH)) {
  console.error(`store-compare: pgbench not found at ${PGBENCH}`);
  process.exit(2);
}
const { startBenchPostgres } = await import('./lib/postgres.js');
const { startDevIssuer, demoClients } = await import('../dist/src/demo/dev-issuer.js');

const SECONDS = Number(process.env.BENCH_SECONDS ?? 15);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 8);
const TRACE_ID = 'tr_000011';
const SCRIPT = join(ROOT, 'bench', 'point-read.sql');
const log = (m) => process.stderr.write(`store-compare: ${m}\n`);

const postgres = await startBenchPostgres({ traces: 1000 });
const issuer = await startDevIssuer({ audience: 'tracegate', clients: demoClients(), accessTokenTtl: 3600 });
const token = await issuer.token('agent-a');
const results = [];
try {
  const su = new pg.Client({ host: postgres.host, port: postgres.port, user: postgres.superuser, password: postgres.superPassword, database: 'postgres' });
  await su.connect();
  await su.query("CREATE ROLE tracegate_store LOGIN PASSWORD 'bench-store-password'");
  await su.query('CREATE DATABASE tracegate_store OWNER tracegate_store');
  await su.end();
  const stores = [
    ['sqlite', { sqlite: { path: 'audit.db' } }],
    ['postgres', { postgres: { url: `postgres://tracegate_store:bench-store-password@${postgres.host}:${postgres.port}/tracegate_store` } }],
  ];
  for (const [name, store] of stores) {
    log(`${name} store: starting tracegate`);
    const tg = await startTracegate(postgres, issuer, { store });
    const target = { host: '127.0.0.1', port: tg.port, user: 'agent-a', password: token, database: postgres.database };
    try {
      await runPgbench(target, { script: SCRIPT, vars: { tid: TRACE_ID }, clients: CLIENTS, threads: 2, seconds: 3 });
      log(`${name} store: ${SECONDS} s of point reads, ${CLIENTS} clients`);
      const r = await runPgbench(target, { script: SCRIPT, vars: { tid: TRACE_ID }, clients: CLIENTS, threads: 2, seconds: SECONDS });
      if (!r.ok) throw new Error(`pgbench failed: ${r.errors.join('; ')}`);
      results.push({ store: name, tps: r.tps, latencyAvgMs: r.latencyAvgMs, failed: r.failed });
    } finally {
      await tg.stop();
      rmSync(tg.dir, { recursive: true, force: true });
    }
  }
} finally {
  await issuer.close();
  await postgres.stop();
  rmSync(postgres.baseDir, { recursive: true, force: true });
}
const [sqlite, pgStore] = results;
console.log('store      TPS      avg latency');
for (const r of results) console.log(`${r.store.padEnd(9)} ${r.tps.toFixed(0).padStart(7)}   ${r.latencyAvgMs.toFixed(2)} ms`);
if (sqlite && pgStore) console.log(`postgres / sqlite: ${(pgStore.tps / sqlite.tps).toFixed(2)}`);

// ---- --recording ------------------------------------------------------------------

async function recordingBench() {
  const { openSqliteStore } = await import('../dist/src/audit/sqlite-store.js');
  // Grant ids as the registry makes them: where they sort decides which index pages a
  // revocation writes.
  const { grantId: newGrantId } = await import('../dist/src/grants/grant-registry.js');
  const { monitorEventLoopDelay } = await import('node:perf_hooks');
  const statements = Number(process.env.BENCH_STATEMENTS ?? 20_000);
  const clientCounts = process.env.BENCH_CLIENTS ? [Number(process.env.BENCH_CLIENTS)] : [1, 8];
  // The bench row (bench/point-read.sql on tr_000011) as the client sees it, masked.
  const body = JSON.stringify({ steps: Array.from({ length: 24 }, (_, i) => ({ step: i, tool: 'search', content: `step ${i} `.repeat(8) })) }).slice(0, 2173);
  const values = ['tr_000011', 'agent-a', 'u***@example.com', 'low', '2025-01-05 10:11:12.123+00', 'Refund request for order 1234, customer asked twice', body];
  const fields = values.map((v) => Buffer.from(v, 'utf8'));
  const names = ['trace_id', 'agent_id', 'user_email', 'risk', 'created_at', 'summary', 'body'];
  const description = names.map((name, i) => ({ name, tableOid: 16400, columnNumber: i + 1, typeOid: 25, typeSize: -1, typeModifier: -1, format: 0 }));
  const mainCpuMs = () => {
    const f = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
  };
  console.log('clients  statements  main-thread CPU µs/stmt  process CPU µs/stmt  wall µs/stmt  event-loop delay p99 / max ms  decision recorded p50 / p99 / max ms  bytes/stmt');
  for (const clients of clientCounts) {
    const dir = mkdtempSync(join(tmpdir(), 'tracegate-recording-bench-'));
    const store = await openSqliteStore({ path: join(dir, 'audit.db') });
    let n = 0;
    const waits = [];
    const session = async (c) => {
      const sessionId = `s-${clients}-${c}`;
      await store.recordSessionStart({ sessionId, at: Date.now(), subject: 'agent-a', groups: ['ai-agents'], tokenJti: 'jti', tokenHash: 'ab'.repeat(32), clientAddress: '127.0.0.1:5000', applicationName: 'pgbench', tls: null, mode: 'enforce' });
      while (n < statements) {
        const i = n++;
        const statementId = `st-${clients}-${i}`;
        const at = Date.now();
        const grantId = newGrantId(at);
        const asked = performance.now();
        await store.recordDecision(
          { statementId, sessionId, at, text: 'SELECT trace_id, agent_id, user_email, risk, created_at, summary, body FROM traces WHERE trace_id = $1', parameters: ['tr_000011'], decision: 'allow', enforced: true, rule: 'agents-read-own', reason: 'single trace tr_000011', sqlstate: null, decisionId: statementId, grantId, traceId: 'tr_000011', approvalId: null },
          { grantId, sessionId, statementId, subject: 'agent-a', traceId: 'tr_000011', rule: 'agents-read-own', fingerprint: '0123456789abcdef', issuedAt: at, expiresAt: at + 30_000, ttlMs: 30_000 },
        );
        waits.push(performance.now() - asked);
        const rec = store.openResponse({ sessionId, statementId });
        rec.add({ type: 'RowDescription', fields: description });
        rec.add({ type: 'DataRow', fields });
        rec.add({ type: 'CommandComplete', tag: 'SELECT 1' });
        store.recordGrantRevoked({ grantId, sessionId, at, reason: 'completed' });
        rec.end({ at, rows: 1, bytes: 2400, durationMs: 0.2, commandTag: 'SELECT 1', error: null });
        // pgbench's round trip: the next statement arrives on a later event-loop turn.
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    const cpu0 = process.cpuUsage();
    const main0 = mainCpuMs();
    const t0 = performance.now();
    await Promise.all(Array.from({ length: clients }, (_, c) => session(c)));
    await store.close();
    const wallMs = performance.now() - t0;
    const main = mainCpuMs() - main0;
    const cpu = process.cpuUsage(cpu0);
    delay.disable();
    let bytes = 0;
    for (const f of ['audit.db', 'audit.db-wal']) if (existsSync(join(dir, f))) bytes += readFileSync(join(dir, f)).length;
    rmSync(dir, { recursive: true, force: true });
    const per = (ms) => ((ms * 1000) / statements).toFixed(1).padStart(8);
    waits.sort((a, b) => a - b);
    const at = (q) => (waits[Math.min(waits.length - 1, Math.floor(q * waits.length))] ?? 0).toFixed(2);
    console.log(
      `${String(clients).padStart(7)}  ${String(statements).padStart(10)}  ${per(main).padStart(23)}  ${per((cpu.user + cpu.system) / 1000).padStart(19)}  ${per(wallMs).padStart(12)}  ${`${(delay.percentile(99) / 1e6).toFixed(1)} / ${(delay.max / 1e6).toFixed(1)}`.padStart(29)}  ${`${at(0.5)} / ${at(0.99)} / ${at(1)}`.padStart(36)}  ${String(Math.round(bytes / statements)).padStart(10)}`,
    );
  }
}
