// Shared fixtures for the recording tests: the proxy's configuration file (for a proxy in
// this process with a captured logger, or one in a child process), the audit store a
// proxy wrote, the CLI commands run against it, and the planted-secret check.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { runAuditCommand } from '../../../src/cli/audit.js';
import { runSessionsCommand } from '../../../src/cli/sessions.js';
import { openSqliteStore } from '../../../src/audit/sqlite-store.js';
import type { SessionDetail } from '../../../src/audit/store.js';
import { PLANTED } from '../../../src/demo/planted.js';
import { pgClientConfig, testEnv } from '../../helpers/env.js';
import { DEFAULT_POLICY } from '../../helpers/proxy.js';

/** The store file a proxy configured without `store:` writes, beside its config file. */
export const STORE_FILE = 'tracegate-audit.db';

export const MASK_KEY = 'tracegate-test-mask-key-not-secret';

export interface ProxyDir extends Disposable {
  readonly dir: string;
  readonly configFile: string;
  readonly storePath: string;
}

/**
 * A directory with a tracegate.yaml for the shared test Postgres and issuer, as an
 * operator writes it: the upstream password in a file, the store at its default path,
 * logging at info (a child proxy's log line is how the test learns its port).
 */
export function proxyDir(): ProxyDir {
  const env = testEnv();
  const dir = mkdtempSync(join(tmpdir(), 'tracegate-recording-'));
  const passwordFile = join(dir, 'upstream-password');
  writeFileSync(passwordFile, `${env.pg.proxyPassword}\n`, { mode: 0o600 });
  const configFile = join(dir, 'tracegate.yaml');
  writeFileSync(
    configFile,
    `listen: { host: 127.0.0.1, port: 0 }
tls: { allowPlaintextOnLoopback: true }
upstream:
  host: ${env.pg.host}
  port: ${env.pg.port}
  database: ${env.pg.database}
  user: ${env.pg.proxyUser}
  passwordFile: ${passwordFile}
  tls: { mode: disable }
oidc:
  issuer: ${env.oidc.issuer}
  audience: ${env.oidc.audience}
  clockSkew: 0s
policy: ${DEFAULT_POLICY}
log: { level: info }
`,
  );
  return {
    dir,
    configFile,
    storePath: join(dir, STORE_FILE),
    [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface CliRun {
  readonly code: number;
  readonly lines: string[];
}

/** Runs a CLI command's module with `args`, as `tracegate` does, keeping its output. */
export async function runCli(command: typeof runSessionsCommand | typeof runAuditCommand, args: string[]): Promise<CliRun> {
  const lines: string[] = [];
  const code = await command(args, (line) => lines.push(line));
  return { code, lines };
}

/** `tracegate sessions ... --store FILE` */
export function sessionsCli(store: string, ...args: string[]): Promise<CliRun> {
  return runCli(runSessionsCommand, [...args, '--store', store]);
}

/** `tracegate audit ... --store FILE` */
export function auditCli(store: string, ...args: string[]): Promise<CliRun> {
  return runCli(runAuditCommand, [...args, '--store', store]);
}

/** One session as the store holds it now, read through a separate handle. */
export async function readSession(storePath: string, sessionId: string): Promise<SessionDetail | null> {
  const store = await openSqliteStore({ path: storePath, mustExist: true });
  try {
    return await store.getSession(sessionId);
  } finally {
    await store.close();
  }
}

/**
 * The id of the one session recorded with this application_name, once its start is in
 * the chain: the proxy journals it first and commits it within the writer's interval.
 */
export async function sessionIdByApplication(storePath: string, applicationName: string): Promise<string> {
  const matching = await eventually(async () => {
    const store = await openSqliteStore({ path: storePath, mustExist: true });
    try {
      const found = (await store.listSessions({ limit: 1000 })).filter((s) => s.applicationName === applicationName);
      return found.length === 0 ? undefined : found;
    } finally {
      await store.close();
    }
  }, `the session of ${applicationName}`);
  if (matching.length !== 1) throw new Error(`expected one session of ${applicationName}, found ${matching.length}`);
  return (matching[0] as { sessionId: string }).sessionId;
}

/**
 * Polls until `check` returns a value (not undefined): batched records (responses,
 * revocations, the session end) reach the store within the flush interval, not at once.
 */
export async function eventually<T>(check: () => Promise<T | undefined>, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** The session once its end is recorded, with everything batched before it. */
export async function endedSession(storePath: string, sessionId: string): Promise<SessionDetail> {
  return eventually(async () => {
    const detail = await readSession(storePath, sessionId);
    return detail?.session.endedAt === null ? undefined : (detail ?? undefined);
  }, `the end of session ${sessionId}`);
}

/** The planted secrets (by their needles) found in `text`. */
export function leaked(text: string): string[] {
  return PLANTED.filter((p) => text.includes(p.needle)).map((p) => `${p.kind}: ${p.needle}`);
}

/** The rows an export line's record holds (base64 DataRow bodies), as UTF-8 text. */
export function exportedRows(line: string): string[] {
  const { record } = JSON.parse(line) as { record: { events?: [string, unknown][] } };
  return (record.events ?? []).flatMap(([tag, arg]) => (tag === 'D' && typeof arg === 'string' ? [Buffer.from(arg, 'base64').toString('utf8')] : []));
}

/** A unique SQL comment, to find a statement in the upstream's log and in the store. */
export function marker(): string {
  return `rec_${randomUUID().replace(/-/g, '')}`;
}

/**
 * Holds an exclusive lock on trace_steps (a superuser transaction) until released, so a
 * proxied read of it waits upstream: "forwarded and still running" made observable.
 */
export async function lockTraceSteps(): Promise<AsyncDisposable & { release(): Promise<void> }> {
  const locker = new pg.Client(pgClientConfig());
  await locker.connect();
  await locker.query('BEGIN');
  await locker.query('LOCK TABLE trace_steps IN ACCESS EXCLUSIVE MODE');
  let released = false;
  const release = async (): Promise<void> => {
    if (released) return;
    released = true;
    await locker.query('ROLLBACK');
    await locker.end();
  };
  return { release, [Symbol.asyncDispose]: release };
}

/** Resolves once the upstream is running (waiting on the lock) a statement marked `m`. */
export async function runningUpstream(m: string): Promise<void> {
  // Not the locker's connection: inside its transaction, pg_stat_activity is one snapshot.
  const observer = new pg.Client(pgClientConfig());
  await observer.connect();
  try {
    await eventually(async () => {
      const r = await observer.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE pid <> pg_backend_pid() AND wait_event_type = 'Lock' AND position($1 in query) > 0`,
        [m],
      );
      return (r.rows[0]?.n ?? 0) > 0 ? true : undefined;
    }, `the upstream to run the statement marked ${m}`);
  } finally {
    await observer.end();
  }
}
