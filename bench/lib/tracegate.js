// tracegate as a child process (`node bin/tracegate.js serve --config FILE`), so that its
// CPU time and memory are its own and can be read from /proc. The generated config is
// the demo's shape: plaintext on loopback, no upstream TLS, the SQLite store in a temp
// dir, log level warn, and the bench policy (bench/policy.yaml).
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { freePort, waitForPort } from './net.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BENCH_POLICY = join(ROOT, 'bench', 'policy.yaml');

/**
 * Starts a proxy. `pg` from startBenchPostgres, `issuer` a DevIssuer.
 * options.nodeArgs: extra node flags (e.g. --cpu-prof); options.maxConnections; options.store
 * (the config's `store:` block, SQLite in the proxy's directory by default).
 */
export async function startTracegate(pg, issuer, options = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'tracegate-bench-proxy-'));
  const port = await freePort();
  writeFileSync(join(dir, 'upstream-password'), `${pg.proxyPassword}\n`, { mode: 0o600 });
  const config = {
    listen: { host: '127.0.0.1', port },
    tls: { allowPlaintextOnLoopback: true },
    upstream: {
      host: pg.host,
      port: pg.port,
      database: pg.database,
      user: pg.proxyUser,
      passwordFile: 'upstream-password',
      tls: { mode: 'disable' },
    },
    oidc: { issuer: issuer.issuer, audience: issuer.audience },
    policy: options.policy ?? BENCH_POLICY,
    store: options.store ?? { sqlite: { path: 'audit.db' } },
    limits: { maxConnections: options.maxConnections ?? 5000 },
    log: { level: 'warn' },
  };
  const configFile = join(dir, 'tracegate.yaml');
  writeFileSync(configFile, `# written by bench/run.js\n${YAML.stringify(config)}`, { mode: 0o600 });
  const logFile = join(dir, 'tracegate.log');
  const logFd = openSync(logFile, 'a');
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), join(ROOT, 'bin', 'tracegate.js'), 'serve', '--config', configFile], {
    cwd: dir,
    env: { ...process.env, TRACEGATE_MASK_KEY: options.maskKey ?? 'bench-mask-key-0123456789abcdef' },
    stdio: ['ignore', logFd, logFd],
  });
  closeSync(logFd);
  const exited = new Promise((res) => child.once('exit', (code, signal) => res(code ?? signal)));
  try {
    await waitForPort(port, 30_000, exited);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`tracegate did not start: ${err.message}\n${readFileSync(logFile, 'utf8').slice(-2000)}`);
  }
  return {
    port,
    pid: child.pid,
    dir,
    logFile,
    log: () => readFileSync(logFile, 'utf8'),
    /** SIGTERM (a clean shutdown writes --cpu-prof output), SIGKILL after `graceMs`. */
    stop: async (graceMs = 10_000) => {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
    alive: () => child.exitCode === null && child.signalCode === null,
  };
}
