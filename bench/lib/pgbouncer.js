// pgbouncer (Debian's package) in transaction mode in front of the bench's Postgres: the
// reference point for "a proxy done in C". It authenticates clients with SCRAM, like
// Postgres itself does, and logs in upstream as the same role tracegate uses. The
// userlist holds the role's SCRAM verifier as Postgres stores it, not the password, as
// a production setup would, so pgbouncer checks a client's proof without key stretching
// of its own (a plaintext userlist makes it run PBKDF2 on every client login); its
// server logins, rare with a pool, use the password in [databases].
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from './net.js';

const CANDIDATES = ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer', '/usr/local/bin/pgbouncer'];

export function findPgbouncer() {
  for (const p of CANDIDATES) if (existsSync(p)) return p;
  const which = spawnSync('sh', ['-c', 'command -v pgbouncer'], { encoding: 'utf8' });
  return which.status === 0 && which.stdout.trim() ? which.stdout.trim() : null;
}

export function pgbouncerVersion(bin) {
  const out = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  return /PgBouncer\s+(\S+)/.exec(out.stdout ?? '')?.[1] ?? '?';
}

/** Starts pgbouncer; `pg` is what startBenchPostgres returned. */
export async function startPgbouncer(bin, pg) {
  const dir = mkdtempSync(join(tmpdir(), 'tracegate-bench-pgbouncer-'));
  const port = await freePort();
  const quote = (s) => `"${s.replace(/"/g, '""')}"`;
  const secret = pg.proxyVerifier?.startsWith('SCRAM-SHA-256$') ? pg.proxyVerifier : pg.proxyPassword;
  writeFileSync(join(dir, 'userlist.txt'), `${quote(pg.proxyUser)} ${quote(secret)}\n`, { mode: 0o600 });
  writeFileSync(
    join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `${pg.database} = host=${pg.host} port=${pg.port} dbname=${pg.database} user=${pg.proxyUser} password=${pg.proxyPassword}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = scram-sha-256',
      `auth_file = ${join(dir, 'userlist.txt')}`,
      'pool_mode = transaction',
      'max_client_conn = 2000',
      'default_pool_size = 16',
      'ignore_startup_parameters = extra_float_digits',
      `logfile = ${join(dir, 'pgbouncer.log')}`,
      `pidfile = ${join(dir, 'pgbouncer.pid')}`,
      'log_connections = 0',
      'log_disconnections = 0',
      'log_pooler_errors = 1',
      'server_tls_sslmode = disable',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  // pgbouncer will not run as root: it runs as the account that owns the cluster.
  if (pg.account) {
    chmodSync(dir, 0o755);
    for (const f of ['', 'userlist.txt', 'pgbouncer.ini']) chownSync(join(dir, f), pg.account.uid, pg.account.gid);
  }
  const child = spawn(bin, [join(dir, 'pgbouncer.ini')], { ...(pg.account ?? {}), stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    await waitForPort(port, 10_000, exited);
  } catch (err) {
    child.kill('SIGKILL');
    const log = existsSync(join(dir, 'pgbouncer.log')) ? readFileSync(join(dir, 'pgbouncer.log'), 'utf8') : '';
    throw new Error(`pgbouncer did not start: ${err.message}\n${stderr}${log.slice(-1500)}`);
  }
  return {
    port,
    pid: child.pid,
    dir,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGINT');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}
