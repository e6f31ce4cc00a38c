#!/usr/bin/env node
// Load soak (issue 7, point 5): many concurrent client connections (1,000 by default)
// sending mixed legitimate and denied traffic through one tracegate for a while (10
// minutes by default), then the questions a soak answers: does memory grow, are grants
// left behind, was every statement recorded, does the audit chain verify. A manual
// benchmark, not a CI test.
//
// Run (builds dist/ first, as bench/run.js does):
//
//   npm run build && node --expose-gc bench/load-soak.js                    # 1,000 x 10 min
//   npm run build && node --expose-gc bench/load-soak.js --seconds 60       # a short run
//
// Options (or the environment variable in brackets):
//   --seconds N          how long the traffic runs (SOAK_SECONDS, default 600)
//   --connections N      concurrent client connections (SOAK_CONNECTIONS, default 1000)
//   --think-ms N         mean pause between a client's statements (SOAK_THINK_MS, 1000)
//   --sample-seconds N   memory sampling interval (SOAK_SAMPLE_SECONDS, default 10)
//   --json FILE          also write every figure as JSON (SOAK_JSON)
//   --keep               keep the proxy's directory (config, log, audit.db)
//
// What it starts: its own PostgreSQL with the demo schema and 1,000 traces
// (bench/lib/postgres.js, max_connections raised), the development OIDC issuer, and
// tracegate IN THIS PROCESS (startProxy from dist/), so that the soak can read
// RunningProxy.grants and the listener directly; the clients run in a forked child
// process (this file with --drive), so the memory figures are the proxy's own.
// Policy: policies/default.yaml with the quotas raised (a soak of three subjects would
// otherwise be mostly 53400 after a minute); everything else as shipped: pins,
// entitlement, approval for high-risk traces (agents never ask for their own high-risk
// traces, which would wait for an approver), masking and recording.
//
// Traffic per client: it logs in (agent-a, agent-b or the security reviewer, 4:4:2),
// then loops: a random pause, one statement, and every 20 to 200 statements a fresh
// connection (so logins, session records and session ends are part of the load).
// About 55% of the statements are legitimate (pinned reads of an entitled trace, simple
// and extended protocol, joins, housekeeping), 45% are denied (another owner's trace,
// unpinned scans, IN lists, the customers table, writes, COPY, SET ROLE, syntax errors).
//
// Report: memory (RSS, V8 heap after a forced GC when --expose-gc is given, external
// and array buffers) and live sessions / active grants every sample, and the growth over
// the second half of the run (the first is cache warm-up); statements sent
// (by outcome and SQLSTATE) against statement records in the audit store; grants still
// active after the clients have gone (must be none); `tracegate audit verify` on the
// store (must be ok).
import { fork, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SELF = fileURLToPath(import.meta.url);
const log = (line) => process.stderr.write(`soak: ${line}\n`);

if (process.argv[2] === '--drive') {
  process.once('message', (cfg) => {
    drive(cfg).then(
      (result) => process.send({ type: 'done', result }, () => process.exit(0)),
      (err) => process.send({ type: 'failed', error: err instanceof Error ? err.stack : String(err) }, () => process.exit(1)),
    );
  });
} else {
  await main();
}

// ---- the proxy side ------------------------------------------------------------------

async function main() {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string' },
      connections: { type: 'string' },
      'think-ms': { type: 'string' },
      'sample-seconds': { type: 'string' },
      json: { type: 'string' },
      keep: { type: 'boolean' },
    },
  });
  const num = (flag, env, fallback) => Number(values[flag] ?? process.env[env] ?? fallback);
  const opts = {
    seconds: num('seconds', 'SOAK_SECONDS', 600),
    connections: num('connections', 'SOAK_CONNECTIONS', 1000),
    thinkMs: num('think-ms', 'SOAK_THINK_MS', 1000),
    sampleSeconds: num('sample-seconds', 'SOAK_SAMPLE_SECONDS', 10),
    json: values.json ?? process.env.SOAK_JSON,
    keep: values.keep ?? false,
  };
  if (!existsSync(join(ROOT, 'dist', 'src', 'main.js'))) {
    log('dist/ is missing: run `npm run build` first');
    process.exit(2);
  }
  const { parseConfig } = await import('../dist/src/config.js');
  const { startProxy } = await import('../dist/src/main.js');
  const { startDevIssuer, demoClients } = await import('../dist/src/demo/dev-issuer.js');
  const { traceId, traceOwner, traceRisk } = await import('../dist/src/demo/generate.js');
  const { startBenchPostgres } = await import('./lib/postgres.js');
  const { default: pino } = await import('pino');
  const { default: Database } = await import('better-sqlite3');

  const cleanups = [];
  const cleanup = async () => {
    for (const fn of cleanups.splice(0).reverse()) await Promise.resolve().then(fn).catch((err) => log(`cleanup: ${err.message}`));
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));

  try {
    const TRACES = 1000;
    log(`starting PostgreSQL with ${TRACES} demo traces`);
    const postgres = await startBenchPostgres({ traces: TRACES });
    cleanups.push(async () => {
      await postgres.stop();
      rmSync(postgres.baseDir, { recursive: true, force: true });
    });
    const issuer = await startDevIssuer({ audience: 'tracegate', clients: demoClients() });
    cleanups.push(() => issuer.close());

    const dir = mkdtempSync(join(tmpdir(), 'tracegate-soak-'));
    cleanups.push(() => (opts.keep ? log(`kept ${dir}`) : rmSync(dir, { recursive: true, force: true })));
    const policy = readFileSync(join(ROOT, 'policies', 'default.yaml'), 'utf8')
      .replace('distinctTraces: { max: 50, window: 1h }', 'distinctTraces: { max: 1000000, window: 1h }')
      .replace('grantsPerMinute: 120', 'grantsPerMinute: 100000000')
      .replace('grantsPerMinute: 600', 'grantsPerMinute: 100000000');
    if ((policy.match(/100000000/g) ?? []).length !== 2) throw new Error('policies/default.yaml changed: update the quota rewrite in bench/load-soak.js');
    writeFileSync(join(dir, 'policy.yaml'), policy);
    writeFileSync(join(dir, 'upstream-password'), `${postgres.proxyPassword}\n`, { mode: 0o600 });
    const storeFile = join(dir, 'audit.db');
    const yaml = `
listen: { host: 127.0.0.1, port: 0 }
tls: { allowPlaintextOnLoopback: true }
upstream: { host: ${postgres.host}, port: ${postgres.port}, database: ${postgres.database}, user: ${postgres.proxyUser}, passwordFile: upstream-password, tls: { mode: disable } }
oidc: { issuer: ${issuer.issuer}, audience: ${issuer.audience} }
policy: policy.yaml
store: { sqlite: { path: audit.db } }
limits: { maxConnections: ${opts.connections + 200} }
log: { level: warn }
`;
    const configFile = join(dir, 'tracegate.yaml');
    writeFileSync(configFile, yaml);
    process.env.TRACEGATE_MASK_KEY ??= 'soak-mask-key-0123456789abcdef';
    const config = parseConfig(yaml, configFile);
    const proxy = await startProxy(config, { log: pino({ level: 'warn' }, pino.destination(join(dir, 'tracegate.log'))) });
    let closed = false;
    cleanups.push(() => (closed ? undefined : proxy.close()));
    log(`tracegate on 127.0.0.1:${proxy.port}, store ${storeFile}`);

    // Tokens outlive the run: a session whose token expires is ended by design.
    const ttl = opts.seconds + 600;
    const tokens = {
      'agent-a': await issuer.token('agent-a', { expiresIn: ttl }),
      'agent-b': await issuer.token('agent-b', { expiresIn: ttl }),
      reviewer: await issuer.token('reviewer', { expiresIn: ttl }),
    };
    // Agents read their own low/medium traces (a high-risk one would wait for an
    // approver) and are denied everyone else's.
    const traces = { 'agent-a': [], 'agent-b': [], notA: [], notB: [], all: [] };
    for (let n = 1; n <= TRACES; n++) {
      const id = traceId(n);
      const owner = traceOwner(n);
      traces.all.push(id);
      if ((owner === 'agent-a' || owner === 'agent-b') && traceRisk(n) !== 'high') traces[owner].push(id);
      if (owner !== 'agent-a') traces.notA.push(id);
      if (owner !== 'agent-b') traces.notB.push(id);
    }

    const samples = [];
    const started = Date.now();
    const sample = (phase) => {
      globalThis.gc?.();
      const m = process.memoryUsage();
      const s = {
        t: Math.round((Date.now() - started) / 1000),
        phase,
        rssMB: mb(m.rss),
        heapMB: mb(m.heapUsed),
        externalMB: mb(m.external),
        arrayBuffersMB: mb(m.arrayBuffers),
        sessions: proxy.listener.sessions().length,
        grants: proxy.grants.active().length,
      };
      samples.push(s);
      log(`t=${String(s.t).padStart(4)}s ${phase.padEnd(8)} rss ${s.rssMB} MB  heap ${s.heapMB} MB  external ${s.externalMB} MB  buffers ${s.arrayBuffersMB} MB  sessions ${s.sessions}  grants ${s.grants}`);
    };
    sample('idle');

    log(`${opts.connections} clients for ${opts.seconds} s, mean think time ${opts.thinkMs} ms`);
    const driver = fork(SELF, ['--drive'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const finished = new Promise((resolvePromise, reject) => {
      driver.on('message', (m) => {
        if (m.type === 'done') resolvePromise(m.result);
        else if (m.type === 'failed') reject(new Error(`driver failed: ${m.error}`));
        else if (m.type === 'progress') log(`clients: ${m.connected} connected, ${m.sent} statements sent`);
      });
      driver.once('exit', (code) => code !== 0 && reject(new Error(`driver exited ${code}`)));
    });
    driver.send({ port: proxy.port, tokens, traces, seconds: opts.seconds, connections: opts.connections, thinkMs: opts.thinkMs });
    const timer = setInterval(() => sample('load'), opts.sampleSeconds * 1000);
    const traffic = await finished;
    clearInterval(timer);

    // The clients are gone: nothing may still be held.
    await new Promise((r) => setTimeout(r, 2000));
    sample('after');
    const stuck = proxy.grants.active();
    const sessionsLeft = proxy.listener.sessions().length;
    await proxy.close();
    closed = true;

    const db = new Database(storeFile, { readonly: true });
    const byKind = Object.fromEntries(db.prepare('SELECT kind, count(*) AS n FROM records GROUP BY kind').all().map((r) => [r.kind, r.n]));
    const decisions = Object.fromEntries(
      db
        .prepare(`SELECT json_extract(body, '$.decision') AS outcome, count(*) AS n FROM records WHERE kind = 'statement' GROUP BY 1`)
        .all()
        .map((r) => [r.outcome ?? 'unknown', r.n]),
    );
    db.close();
    const verify = spawnSync(process.execPath, [join(ROOT, 'bin', 'tracegate.js'), 'audit', 'verify', '--store', storeFile], { encoding: 'utf8' });

    // Growth is judged over the second half of the run, up to the last sample taken
    // while the clients were still sending: in the first minute or two the bounded
    // caches (the 4,096-entry analysis cache, owner/risk lookups, quota windows) fill up,
    // which is warm-up, not a leak.
    const load = samples.filter((s) => s.phase === 'load' && s.t <= opts.seconds);
    const warm = load.find((s) => s.t >= opts.seconds / 2);
    const last = load.at(-1);
    const report = {
      options: { ...opts, json: undefined },
      machine: { cores: (readFileSync('/proc/cpuinfo', 'utf8').match(/^processor\s*:/gm) ?? []).length, loadavg: readFileSync('/proc/loadavg', 'utf8').trim() },
      traffic,
      statementsPerSecond: Math.round(traffic.sent / opts.seconds),
      maxSessions: Math.max(...samples.map((s) => s.sessions)),
      memory: {
        samples,
        warm,
        last,
        heapGrowthMB: warm && last ? round(last.heapMB - warm.heapMB) : null,
        rssGrowthMB: warm && last ? round(last.rssMB - warm.rssMB) : null,
        gcForced: typeof globalThis.gc === 'function',
      },
      stuckGrants: stuck.length,
      sessionsLeft,
      recorded: { byKind, statementDecisions: decisions, statements: byKind.statement ?? 0, sent: traffic.sent, missing: traffic.sent - (byKind.statement ?? 0) },
      auditVerify: { exitCode: verify.status, output: (verify.stdout + verify.stderr).trim() },
    };
    printReport(report);
    if (opts.json) writeFileSync(opts.json, JSON.stringify(report, null, 2));
    const ok = report.stuckGrants === 0 && report.sessionsLeft === 0 && report.recorded.missing === 0 && verify.status === 0 && traffic.unexpected.length === 0;
    process.exitCode = ok ? 0 : 1;
  } finally {
    await cleanup();
  }
}

function mb(bytes) {
  return round(bytes / 1024 / 1024);
}

function round(x) {
  return Math.round(x * 10) / 10;
}

function printReport(r) {
  const t = r.traffic;
  const lines = [
    '',
    `load soak: ${r.options.connections} connections, ${r.options.seconds} s, ${r.machine.cores} cores (load ${r.machine.loadavg})`,
    `  connections held      max ${r.maxSessions} live sessions; ${t.logins} logins (${t.reconnects} reconnects), ${t.loginFailures} failed logins ${JSON.stringify(t.loginFailureCodes)}`,
    `  statements sent       ${t.sent} (${r.statementsPerSecond}/s): ${t.ok} ok, ${t.sent - t.ok} errors ${JSON.stringify(t.byCode)}`,
    `                        legit ${t.legit} (${t.legitOk} ok), denied-by-design ${t.denied} (${t.deniedRefused} refused)`,
    `  statements recorded   ${r.recorded.statements} (sent - recorded = ${r.recorded.missing}); decisions ${JSON.stringify(r.recorded.statementDecisions)}`,
    ...(t.unexpected.length ? [`  UNEXPECTED            legitimate statements that failed: ${t.unexpected.join(' | ')}`] : []),
    `  audit records         ${JSON.stringify(r.recorded.byKind)}`,
    `  memory (t=${r.memory.warm?.t}s -> t=${r.memory.last?.t}s, ${r.memory.warm?.sessions} -> ${r.memory.last?.sessions} sessions) heap ${r.memory.warm?.heapMB} -> ${r.memory.last?.heapMB} MB (${signed(r.memory.heapGrowthMB)}), rss ${r.memory.warm?.rssMB} -> ${r.memory.last?.rssMB} MB (${signed(r.memory.rssGrowthMB)})${r.memory.gcForced ? '' : ' [run with --expose-gc for heap after GC]'}`,
    `  stuck grants          ${r.stuckGrants} (sessions left ${r.sessionsLeft})`,
    `  audit verify          exit ${r.auditVerify.exitCode}: ${r.auditVerify.output}`,
    '',
  ];
  process.stdout.write(lines.join('\n'));
}

function signed(x) {
  return x === null ? 'n/a' : `${x >= 0 ? '+' : ''}${x} MB`;
}

// ---- the client side (forked child) --------------------------------------------------

async function drive(cfg) {
  const { default: pg } = await import('pg');
  const deadline = Date.now() + cfg.seconds * 1000;
  const counts = {
    sent: 0,
    ok: 0,
    byCode: {},
    legit: 0,
    legitOk: 0,
    denied: 0,
    deniedRefused: 0,
    logins: 0,
    reconnects: 0,
    loginFailures: 0,
    loginFailureCodes: {},
    unexpected: [],
  };
  let connected = 0;
  const pick = (list) => list[Math.floor(Math.random() * list.length)];
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const roles = ['agent-a', 'agent-a', 'agent-a', 'agent-a', 'agent-b', 'agent-b', 'agent-b', 'agent-b', 'reviewer', 'reviewer'];

  /** One statement: { text, values (extended protocol) or undefined (simple), legit }. */
  const statement = (role) => {
    const own = role === 'reviewer' ? pick(cfg.traces.all) : pick(cfg.traces[role]);
    const r = Math.random();
    if (r < 0.55) {
      const legit = [
        () => [`SELECT trace_id, agent_id, risk, summary FROM traces WHERE trace_id = '${own}'`],
        () => ['SELECT trace_id, user_email, created_at, body FROM traces WHERE trace_id = $1', [own]],
        () => ['SELECT step, role, content FROM trace_steps WHERE trace_id = $1 ORDER BY step', [own]],
        () => ['SELECT t.risk, count(s.step) AS steps FROM traces t JOIN trace_steps s ON s.trace_id = t.trace_id WHERE t.trace_id = $1 GROUP BY t.risk', [own]],
        () => ['SELECT 1'],
        () => ['SHOW application_name'],
      ];
      const [text, values] = pick(legit)();
      return { text, values, legit: true };
    }
    // Agents: another owner's trace (not entitled). The reviewer may read any trace, so
    // its counterpart is an unpinned read.
    const other = role === 'reviewer' ? pick(cfg.traces.all) : pick(role === 'agent-a' ? cfg.traces.notA : cfg.traces.notB);
    const denied = [
      () => (role === 'reviewer' ? ['SELECT trace_id, summary FROM traces WHERE trace_id <> $1', [other]] : ['SELECT trace_id, summary FROM traces WHERE trace_id = $1', [other]]),
      () => ['SELECT count(*) FROM traces'],
      () => [`SELECT trace_id FROM traces WHERE trace_id IN ('${own}', '${other}')`],
      () => ['SELECT email, api_key FROM customers'],
      () => [`UPDATE traces SET risk = 'low' WHERE trace_id = '${own}'`],
      () => ['COPY traces TO STDOUT'],
      () => ['SET ROLE postgres'],
      () => [`SELECT * FROM traces WHERE trace_id = '${own}' OR true`],
      () => ['SELEC trace_id FROM traces'],
    ];
    const [text, values] = pick(denied)();
    return { text, values, legit: false };
  };

  const connect = async (role) => {
    for (;;) {
      const client = new pg.Client({ host: '127.0.0.1', port: cfg.port, user: role, database: 'traces', password: cfg.tokens[role], application_name: 'soak' });
      client.on('error', () => undefined);
      try {
        await client.connect();
        counts.logins++;
        return client;
      } catch (err) {
        counts.loginFailures++;
        const code = err.code ?? err.message;
        counts.loginFailureCodes[code] = (counts.loginFailureCodes[code] ?? 0) + 1;
        if (Date.now() > deadline) return undefined;
        await sleep(500 + Math.random() * 1000);
      }
    }
  };

  const worker = async (i) => {
    const role = roles[i % roles.length];
    // Spread the first logins over the first few seconds rather than one storm.
    await sleep(Math.random() * Math.min(10_000, cfg.seconds * 100));
    let first = true;
    while (Date.now() < deadline) {
      const client = await connect(role);
      if (!client) return;
      if (!first) counts.reconnects++;
      first = false;
      connected++;
      const life = 20 + Math.floor(Math.random() * 180);
      let broken = false;
      for (let n = 0; n < life && Date.now() < deadline && !broken; n++) {
        await sleep(Math.random() * 2 * cfg.thinkMs);
        if (Date.now() >= deadline) break;
        const { text, values, legit } = statement(role);
        counts.sent++;
        if (legit) counts.legit++;
        else counts.denied++;
        try {
          await client.query(text, values);
          counts.ok++;
          if (legit) counts.legitOk++;
        } catch (err) {
          const code = err.code ?? 'no-code';
          counts.byCode[code] = (counts.byCode[code] ?? 0) + 1;
          if (!legit) counts.deniedRefused++;
          // A legitimate statement must work; a denied one must be refused with an error,
          // not break the session.
          if ((legit || !err.code) && counts.unexpected.length < 20) counts.unexpected.push(`${code} ${err.message} <- ${text}`);
          if (!err.code || err.severity === 'FATAL') broken = true;
        }
      }
      connected--;
      await client.end().catch(() => undefined);
    }
  };
  const progress = setInterval(() => process.send({ type: 'progress', connected, sent: counts.sent }), 15_000);
  await Promise.all(Array.from({ length: cfg.connections }, (_, i) => worker(i)));
  clearInterval(progress);
  return counts;
}
