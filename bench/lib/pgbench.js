// Runs pgbench against one target and reads back what it measured: TPS from its summary,
// and per-transaction latencies (p50/p99) from its --log files when asked for them.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const PGBENCH = process.env.PGBENCH ?? '/usr/bin/pgbench';

export function percentileMs(sortedUs, p) {
  return sortedUs.length ? sortedUs[Math.min(sortedUs.length - 1, Math.floor((p / 100) * sortedUs.length))] / 1000 : NaN;
}

/** Several runs of one target as one: TPS over the total time, latencies pooled. */
export function combineRuns(runs) {
  const ok = runs.every((r) => r.ok);
  const tx = runs.reduce((a, r) => a + (r.transactions || 0), 0);
  const us = runs.flatMap((r) => r.latenciesUs ?? []).sort((a, b) => a - b);
  return {
    ok,
    problem: runs.find((r) => !r.ok)?.problem,
    errors: runs.flatMap((r) => r.errors),
    tps: runs.reduce((a, r) => a + (r.tps || 0), 0) / runs.length,
    transactions: tx,
    failed: runs.reduce((a, r) => a + (r.failed || 0), 0),
    latencyAvgMs: runs.reduce((a, r) => a + (r.latencyAvgMs || 0) * (r.transactions || 0), 0) / Math.max(1, tx),
    p50Ms: us.length ? percentileMs(us, 50) : NaN,
    p99Ms: us.length ? percentileMs(us, 99) : NaN,
    samples: us.length,
    rounds: runs.map((r) => r.tps),
  };
}

/**
 * target: { host, port, user, password, database }
 * opts: { script, clients, threads, seconds, connect (pgbench -C), latencies (write --log),
 *         vars: { name: value } passed with -D }
 */
export async function runPgbench(target, opts) {
  const logDir = opts.latencies ? mkdtempSync(join(tmpdir(), 'tracegate-bench-pgbench-')) : null;
  const args = [
    '-h', target.host, '-p', String(target.port), '-U', target.user,
    '-n', '-f', opts.script, '-M', 'extended',
    '-c', String(opts.clients), '-j', String(opts.threads), '-T', String(opts.seconds),
    ...Object.entries(opts.vars ?? {}).flatMap(([k, v]) => ['-D', `${k}=${v}`]),
    ...(opts.connect ? ['-C'] : []),
    ...(logDir ? ['--log', `--log-prefix=${join(logDir, 'tx')}`] : []),
    target.database,
  ];
  const env = {
    ...process.env,
    PGPASSWORD: target.password,
    // The same handshake for every target: no SSLRequest or GSSENCRequest round trip.
    PGSSLMODE: 'disable',
    PGGSSENCMODE: 'disable',
    PGAPPNAME: 'pgbench',
  };
  const { code, stdout, stderr } = await new Promise((resolve, reject) => {
    const child = spawn(PGBENCH, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    child.on('error', reject);
    child.on('close', (c) => resolve({ code: c, stdout: out, stderr: err }));
    opts.onStart?.(child.pid);
  });
  const num = (re) => {
    const m = re.exec(stdout);
    return m ? Number(m[1]) : NaN;
  };
  const result = {
    ok: code === 0,
    tps: num(/^tps = ([\d.]+)/m),
    transactions: num(/^number of transactions actually processed: (\d+)/m),
    failed: num(/^number of failed transactions: (\d+)/m),
    latencyAvgMs: num(/^latency average = ([\d.]+) ms/m),
    p50Ms: NaN,
    p99Ms: NaN,
    errors: [...new Set((stderr.match(/^.*(?:ERROR|FATAL|aborted).*$/gm) ?? []).map((l) => l.replace(/^client \d+ /, '')))].slice(0, 5),
    stdout,
  };
  if (logDir) {
    try {
      const us = [];
      for (const f of readdirSync(logDir)) {
        for (const line of readFileSync(join(logDir, f), 'utf8').split('\n')) {
          // client_id transaction_no time script_no time_epoch time_us  (time in µs)
          const t = line.split(' ')[2];
          if (t !== undefined && t !== '') us.push(Number(t));
        }
      }
      us.sort((a, b) => a - b);
      result.p50Ms = percentileMs(us, 50);
      result.p99Ms = percentileMs(us, 99);
      result.samples = us.length;
      result.latenciesUs = us;
    } finally {
      rmSync(logDir, { recursive: true, force: true });
    }
  }
  if (!result.ok || !(result.tps > 0)) {
    result.ok = false;
    result.problem = `pgbench exited ${code}: ${[...result.errors, stderr.trim().split('\n').slice(-3).join(' | ')].filter(Boolean).join(' | ')}`;
  }
  return result;
}
