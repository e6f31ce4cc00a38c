// The bench's PostgreSQL: the demo's throwaway cluster (src/demo/embedded-postgres.ts,
// compiled to dist/) with the demo schema and traces loaded (src/demo/seed.ts), then
// restarted once with max_connections raised, because the idle-connections measurement
// holds 1,000 client sessions and tracegate opens one upstream session per client.
import { spawn } from 'node:child_process';
import { readFileSync, readlinkSync, statSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { startDemoPostgres } from '../../dist/src/demo/embedded-postgres.js';
import { createDemoDatabase } from '../../dist/src/demo/demo-database.js';

export const MAX_CONNECTIONS = 1300;

function run(file, args, account) {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { ...(account ?? {}), stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${file} exited with ${code}: ${out.slice(-1500)}`))));
  });
}

/**
 * Starts the cluster and loads `traces` demo traces. Returns connection facts for the
 * superuser and for the proxy's own login role (tracegate_proxy), plus stop().
 */
export async function startBenchPostgres({ traces }) {
  const baseDir = await mkdtemp(join(tmpdir(), 'tracegate-bench-pg-'));
  const server = await startDemoPostgres(baseDir);
  try {
    const db = await createDemoDatabase(server, traces);
    const superuser = { host: server.host, port: server.port, user: server.superuser, password: server.superPassword, database: db.database };
    const client = new pg.Client(superuser);
    await client.connect();
    await client.query(`ALTER SYSTEM SET max_connections = ${MAX_CONNECTIONS}`);
    // The role's SCRAM verifier, for pgbouncer's userlist (pgbouncer.js says why).
    const verifier = await client.query('SELECT rolpassword FROM pg_authid WHERE rolname = $1', [db.proxyUser]);
    const { rows } = await client.query(
      `SELECT length(body::text) AS body, (SELECT count(*) FROM traces)::int AS traces FROM traces WHERE trace_id = 'tr_000001'`,
    );
    await client.end();

    // pg_ctl lives beside the running server binary; the cluster's owner runs it.
    const pid = Number(readFileSync(join(server.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    const binDir = dirname(readlinkSync(`/proc/${pid}/exe`));
    const owner = statSync(server.dataDir);
    const account = process.getuid?.() === 0 ? { uid: owner.uid, gid: owner.gid } : undefined;
    await run(join(binDir, 'pg_ctl'), ['restart', '-D', server.dataDir, '-m', 'fast', '-w', '-t', '60', '-l', join(baseDir, 'postgres.log')], account);
    return {
      ...server,
      baseDir,
      account,
      database: db.database,
      proxyUser: db.proxyUser,
      proxyPassword: db.proxyPassword,
      proxyVerifier: verifier.rows[0]?.rolpassword,
      traceBodyChars: rows[0]?.body,
      traces: rows[0]?.traces,
      postmasterPid: () => Number(readFileSync(join(server.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]),
    };
  } catch (err) {
    await server.stop().catch(() => undefined);
    throw err;
  }
}
