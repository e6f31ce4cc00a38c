// Shared pieces of the client compatibility suite: the task a client program gets
// (where the proxy is, a token, a token about to expire, a fresh one), running a program
// and reading its JSON lines, and reading the proxy's own recording, which is the
// proxy-side evidence for what a client did (the formats its results were sent in, the
// denials, why its expired session ended).
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeJwt } from 'jose';
import { expect } from 'vitest';
import { openSqliteStore } from '../../../src/audit/sqlite-store.js';
import type { SessionDetail, StatementView } from '../../../src/audit/store.js';
import { WELL_KNOWN_TRACES } from '../../../src/demo/generate.js';
import { getToken } from '../../helpers/env.js';
import type { TestProxy } from '../../helpers/proxy.js';
import { REPO } from './results.js';

export const FIXTURES = join(REPO, 'test/compat-fixtures');
/** Debian's python3 (its python3-psycopg, -psycopg2, -asyncpg), never a pyenv shim. */
export const PYTHON = '/usr/bin/python3';
export const PGJDBC_JAR = '/usr/share/java/postgresql.jar';

export const MINE = WELL_KNOWN_TRACES.agentALow;
export const THEIRS = WELL_KNOWN_TRACES.agentBLow;
export const READ_SQL = 'SELECT trace_id, agent_id, user_email, risk, created_at, summary FROM traces WHERE trace_id = $1';
export const BULK_SQL = 'SELECT trace_id, user_email FROM traces';

/** Planted in tr_000001's row: what masking must take out, in any result format. */
export const PLANTED_IN_MINE = ['bob+billing@corp.example.org', '+1-415-555-0132', '5500 0000 0000 0004'];

/** A row of READ_SQL as a JavaScript driver returns it. */
export interface TraceRow {
  trace_id: string;
  user_email: string | null;
  created_at: Date;
  summary: string | null;
}

/** One row, the caller's own trace, with its email and the secrets planted in it masked. */
export function expectMasked(rows: readonly TraceRow[]): void {
  expect(rows).toHaveLength(1);
  const [row] = rows;
  expect(row?.trace_id).toBe(MINE);
  expect(row?.user_email).not.toContain('@');
  for (const planted of PLANTED_IN_MINE) expect(row?.summary ?? '').not.toContain(planted);
}

/** The error a statement was refused with (the driver's own error type); throws if it ran. */
export async function errorOf<E>(p: Promise<unknown>): Promise<E> {
  try {
    await p;
  } catch (err) {
    return err as E;
  }
  throw new Error('the statement was not refused');
}

export interface CompatTask {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly database: string;
  readonly token: string;
  /** Valid for a few seconds: the program logs in with it first and uses it last. */
  readonly expiringToken: string;
  /** Its `exp`, in epoch ms. */
  readonly expiringAt: number;
  readonly freshToken: string;
  readonly traceId: string;
  readonly otherTraceId: string;
  readonly applicationName: string;
}

export async function compatTask(proxy: TestProxy, opts: { expiresIn: number; applicationName: string }): Promise<CompatTask> {
  const [token, expiringToken, freshToken] = await Promise.all([
    getToken('agent-a'),
    getToken('agent-a', { expiresIn: opts.expiresIn }),
    getToken('agent-a'),
  ]);
  const exp = decodeJwt(expiringToken).exp;
  if (exp === undefined) throw new Error('the expiring token has no exp');
  return {
    host: '127.0.0.1',
    port: proxy.port,
    user: 'agent-a',
    database: 'traces',
    token,
    expiringToken,
    expiringAt: exp * 1000,
    freshToken,
    traceId: MINE,
    otherTraceId: THEIRS,
    applicationName: opts.applicationName,
  };
}

/** One line a compatibility program printed. */
export interface Line {
  readonly check: string;
  readonly ok: boolean;
  readonly detail: string;
  readonly errorClass?: string;
  readonly sqlstate?: string | null;
  readonly message?: string;
  readonly closed?: boolean;
  readonly version?: string;
  readonly rows?: readonly RowSummary[];
  readonly [key: string]: unknown;
}

export interface RowSummary {
  readonly traceId: string;
  readonly agentId: string;
  readonly email: string | null;
  readonly risk: string;
  readonly createdAtType: string;
  readonly createdAt: string;
  readonly summary: string | null;
}

export interface ProgramOutput {
  readonly lines: readonly Line[];
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number | null;
  /** The first line for a check (throws with the program's output when there is none). */
  line(check: string): Line;
  has(check: string): boolean;
}

export function runProgram(
  command: string,
  args: readonly string[],
  opts: { env: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number; input?: string },
): Promise<ProgramOutput> {
  return new Promise((resolve) => {
    const child = execFile(
      command,
      args,
      // No __pycache__ beside the Python fixtures.
      { env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', ...opts.env }, cwd: opts.cwd, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const lines: Line[] = [];
        for (const raw of stdout.split('\n')) {
          if (!raw.trim().startsWith('{')) continue;
          try {
            lines.push(JSON.parse(raw) as Line);
          } catch {
            // not one of ours
          }
        }
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : null) : 0;
        resolve({
          lines,
          stdout,
          stderr,
          code,
          has: (check) => lines.some((l) => l.check === check),
          line: (check) => {
            const found = lines.find((l) => l.check === check);
            if (!found) throw new Error(`the program printed no "${check}" line (exit ${String(code)}):\n${stdout.slice(-2000)}\n${stderr.slice(-2000)}`);
            return found;
          },
        });
      },
    );
    child.stdin?.end(opts.input ?? '');
  });
}

/** Whether `command args` runs and exits 0 (a client is installed). */
export function available(command: string, args: readonly string[]): boolean {
  try {
    execFileSync(command, args, { stdio: 'ignore', timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}

/** The version of an npm package in node_modules (some do not export package.json). */
export function packageVersion(name: string): string {
  return (JSON.parse(readFileSync(join(REPO, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
}

/** CI must run every client; elsewhere a missing client skips its file. */
export const REQUIRE_CLIENTS = Boolean(process.env['CI']);

// ---- the proxy's recording ----------------------------------------------------------

export interface Recording {
  /** Every session in the store, with statements; waits until `ready` holds (batched writes). */
  sessions(ready?: (all: readonly SessionDetail[]) => boolean, timeoutMs?: number): Promise<SessionDetail[]>;
  close(): Promise<void>;
}

export async function recording(proxy: Pick<TestProxy, 'dir'> & Partial<Pick<TestProxy, 'auditCommitted'>>): Promise<Recording> {
  const store = await openSqliteStore({ path: join(proxy.dir, 'tracegate-audit.db'), mustExist: true });
  const all = async (): Promise<SessionDetail[]> => {
    await proxy.auditCommitted?.();
    const list = await store.listSessions({ limit: 1000 });
    const details = await Promise.all(list.map((s) => store.getSession(s.sessionId)));
    return details.filter((d): d is SessionDetail => d !== null);
  };
  return {
    sessions: async (ready = () => true, timeoutMs = 5_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const got = await all();
        if (ready(got) || Date.now() > deadline) return got;
        await sleep(50);
      }
    },
    close: () => store.close(),
  };
}

export function statementsOf(sessions: readonly SessionDetail[]): StatementView[] {
  return sessions.flatMap((s) => s.statements);
}

/** The format codes of the RowDescriptions recorded for statements reading trace data. */
export function traceReadFormats(sessions: readonly SessionDetail[]): Set<number> {
  const formats = new Set<number>();
  for (const st of statementsOf(sessions)) {
    if (st.traceId === null) continue;
    for (const e of st.response) if (e.type === 'RowDescription') for (const f of e.fields) formats.add(f.format);
  }
  return formats;
}

/** Text of every recorded DataRow value of trace reads (binary values decoded as UTF-8). */
export function recordedValues(sessions: readonly SessionDetail[]): string[] {
  const out: string[] = [];
  for (const st of statementsOf(sessions)) {
    if (st.traceId === null) continue;
    for (const e of st.response) {
      if (e.type !== 'DataRow') continue;
      for (const v of e.values) if (v !== null) out.push(typeof v === 'string' ? v : Buffer.from(v).toString('utf8'));
    }
  }
  return out;
}

export function endedBecauseExpired(sessions: readonly SessionDetail[]): boolean {
  return sessions.some((s) => /token expired/.test(s.session.endReason ?? ''));
}

export function errorSummary(l: Line): string {
  const cls = l.errorClass?.replace(/^builtins\./, '') ?? 'error';
  return `${cls}${l.sqlstate ? ` (SQLSTATE ${l.sqlstate})` : ''}`;
}
