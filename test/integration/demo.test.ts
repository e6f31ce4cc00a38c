// `tracegate demo` as a newcomer meets it: the real CLI (bin/tracegate.js over the
// compiled dist/) in a child process, on a free proxy port and its own state directory
// so it never meets a developer's running demo. It checks that the printed commands work
// as printed (the token command, then the psql line with the statements to try piped in
// as if typed), that the single-trace read comes back masked and the bulk read is
// refused with 42501, that Ctrl-C removes everything, and that a start after a crash
// (kill -9) or an abort during the start leaves nothing behind.

import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DEMO_TRY_STATEMENTS } from '../../src/demo/demo-instructions.js';
import { demoStateFile, type DemoState } from '../../src/demo/demo-state.js';
import { demoDataDir, stopStalePostgres } from '../../src/demo/embedded-postgres.js';
import { WELL_KNOWN_TRACES } from '../../src/demo/generate.js';
import { PLANTED } from '../../src/demo/planted.js';
import { commandLineOf } from '../../src/demo/process-check.js';

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin', 'tracegate.js');
const BUILT_CLI = join(ROOT, 'dist', 'src', 'cli.js');
// The ready line comes first and the instructions right after it; the last one printed:
const READY = /tracegate demo is ready[\s\S]*SELECT email, api_key FROM customers;/;

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** Compiles dist/ when it is missing or older than the sources (about 20 s). */
function ensureBuilt(): void {
  const sources = Math.max(newestMtime(join(ROOT, 'src')), newestMtime(join(ROOT, 'protocol')));
  if (existsSync(BUILT_CLI) && statSync(BUILT_CLI).mtimeMs >= sources) return;
  const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  // Type errors are the typecheck's to report; what matters here is that the JS exists.
  if (!existsSync(BUILT_CLI)) throw new Error(`build failed:\n${tsc.stdout}${tsc.stderr}`);
}

interface DemoProcess {
  readonly child: ChildProcessWithoutNullStreams;
  readonly output: () => string;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  exited(timeoutMs?: number): Promise<number | null>;
}

function startDemo(args: readonly string[]): DemoProcess {
  const child = spawn(process.execPath, [BIN, 'demo', ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' } });
  let text = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer): void => {
    text += chunk.toString('utf8');
    for (const l of listeners) l();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  let exitCode: number | null | undefined;
  child.on('exit', (code) => {
    exitCode = code;
    for (const l of listeners) l();
  });
  const until = <T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> =>
    new Promise((done, fail) => {
      const tick = (): void => {
        const value = check();
        if (value !== undefined) {
          listeners.delete(tick);
          clearTimeout(timer);
          done(value);
        }
      };
      const timer = setTimeout(() => {
        listeners.delete(tick);
        fail(new Error(`timed out waiting for ${what}; demo output so far:\n${text}`));
      }, timeoutMs);
      listeners.add(tick);
      tick();
    });
  return {
    child,
    output: () => text,
    waitFor: (pattern, timeoutMs = 90_000) =>
      until(
        () => {
          if (pattern.test(text)) return text;
          if (exitCode !== undefined) throw new Error(`demo exited (${exitCode}) before printing ${pattern}:\n${text}`);
          return undefined;
        },
        timeoutMs,
        String(pattern),
      ),
    exited: (timeoutMs = 30_000) => until(() => (exitCode === undefined ? undefined : { code: exitCode }), timeoutMs, 'exit').then((r) => r.code),
  };
}

function readState(stateDir: string): DemoState {
  return JSON.parse(readFileSync(demoStateFile(stateDir), 'utf8')) as DemoState;
}

function postmasterPid(postgresDir: string): number {
  return Number(readFileSync(join(demoDataDir(postgresDir), 'postmaster.pid'), 'utf8').split('\n')[0]);
}

function printedLine(output: string, prefix: string): string {
  const line = output.split('\n').map((l) => l.trim()).find((l) => l.startsWith(prefix));
  if (!line) throw new Error(`the demo printed no line starting with ${prefix}:\n${output}`);
  return line;
}

function sh(command: string, input = ''): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync('sh', ['-c', command], {
    cwd: ROOT,
    input,
    encoding: 'utf8',
    timeout: 60_000,
    // A developer's ~/.psqlrc must not change what psql prints.
    env: { ...process.env, PSQLRC: '/dev/null' },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function portAccepts(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}

const work = mkdtempSync(join(tmpdir(), 'tracegate-demo-test-'));
const stateDir = join(work, 'state');
const started: DemoProcess[] = [];

beforeAll(() => {
  ensureBuilt();
}, 120_000);

afterAll(async () => {
  for (const demo of started) demo.child.kill('SIGKILL');
  // Whatever a failed test left: the demo's own crash recovery knows where it is.
  if (existsSync(demoStateFile(stateDir))) {
    const state = readState(stateDir);
    await stopStalePostgres(demoDataDir(state.postgresDir));
    rmSync(state.postgresDir, { recursive: true, force: true });
  }
  rmSync(work, { recursive: true, force: true });
});

describe('tracegate demo', () => {
  const args = ['--port', '0', '--admin-port', '0', '--state-dir', stateDir];
  let demo: DemoProcess;
  let output: string;

  test('starts again after a crash, cleaning up what the crashed demo left running', async () => {
    const crashed = startDemo(args);
    started.push(crashed);
    await crashed.waitFor(READY);
    const stale = readState(stateDir);
    const stalePostmaster = postmasterPid(stale.postgresDir);
    crashed.child.kill('SIGKILL');
    await crashed.exited();
    expect(commandLineOf(stalePostmaster)).toBeDefined();

    demo = startDemo(args);
    started.push(demo);
    output = await demo.waitFor(READY);
    expect(output).toContain(`cleaned up after a demo that did not stop cleanly (pid ${stale.pid}, its PostgreSQL stopped)`);
    expect(commandLineOf(stalePostmaster)).toBeUndefined();
    expect(existsSync(stale.postgresDir)).toBe(false);
  }, 180_000);

  test('refuses a second demo on the same state directory while the first runs', async () => {
    const second = startDemo(args);
    started.push(second);
    expect(await second.exited()).toBe(1);
    expect(second.output()).toContain(`a tracegate demo is already running (pid ${readState(stateDir).pid}`);
    expect(existsSync(demoStateFile(stateDir))).toBe(true);
  }, 60_000);

  test('shows progress, then the commands to copy', () => {
    expect(output).toMatch(/starting PostgreSQL/);
    expect(output).toMatch(/loading 1,000 generated traces/);
    expect(output).toMatch(/starting the proxy/);
    for (const sql of Object.values(DEMO_TRY_STATEMENTS)) expect(output).toContain(sql);
    const state = readState(stateDir);
    expect(statSync(demoStateFile(stateDir)).mode & 0o777).toBe(0o600);
    expect(state.ready).toBe(true);
    expect(printedLine(output, 'PGPASSWORD=')).toContain(`port=${state.proxy?.port}`);
  });

  test('the printed token command prints a token, and only a token', () => {
    const token = sh(printedLine(output, 'npx tracegate token agent-a'));
    expect(token.status, token.stderr).toBe(0);
    expect(token.stdout.trim()).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
  }, 60_000);

  test('the printed psql line: a masked single-trace read, a refused bulk read', () => {
    const statements = [
      '\\set VERBOSITY verbose',
      DEMO_TRY_STATEMENTS.singleTrace,
      DEMO_TRY_STATEMENTS.singleTraceSteps,
      DEMO_TRY_STATEMENTS.bulkRead,
      DEMO_TRY_STATEMENTS.otherAgent,
      DEMO_TRY_STATEMENTS.customers,
    ].join('\n');
    const psql = sh(printedLine(output, 'PGPASSWORD='), `${statements}\n`);
    const seen = `${psql.stdout}\n${psql.stderr}`;
    expect(psql.stdout).toContain(WELL_KNOWN_TRACES.agentALow);
    expect(psql.stdout).toContain('(1 row)');
    expect(psql.stdout).toMatch(/\[redacted:[a-z-]+\]/);
    for (const p of PLANTED) expect(seen, `${p.kind} ${p.needle}`).not.toContain(p.needle);
    // The bulk read, another agent's trace and the customers table: three refusals.
    expect(psql.stderr.match(/ERROR:\s+42501/g), psql.stderr).toHaveLength(3);
    expect(seen).not.toContain('cust_live_');
  }, 60_000);

  test('the high-risk read waits, and the printed approval command lets it run once', async () => {
    const psql = spawn('sh', ['-c', printedLine(output, 'PGPASSWORD=')], { cwd: ROOT, env: { ...process.env, PSQLRC: '/dev/null' } });
    let stdout = '';
    let stderr = '';
    psql.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    const requestId = new Promise<string>((found) => {
      psql.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString('utf8');
        const id = /waiting for approval: request ([0-9a-f-]{36})/.exec(stderr)?.[1];
        if (id) found(id);
      });
    });
    const done = new Promise<number | null>((exit) => psql.on('exit', exit));
    psql.stdin.end(`${DEMO_TRY_STATEMENTS.highRisk}\n`);
    const id = await requestId;
    expect(stdout).not.toContain(WELL_KNOWN_TRACES.agentAHigh);
    const approve = sh(printedLine(output, 'TRACEGATE_ADMIN_TOKEN=').replace('REQUEST_ID', id));
    expect(approve.status, approve.stderr).toBe(0);
    expect(await done).toBe(0);
    expect(stdout).toContain(WELL_KNOWN_TRACES.agentAHigh);
    expect(stdout).toContain('(1 row)');
  }, 60_000);

  test('the agent example gets its own token with client_credentials and reads one trace', () => {
    const env = printedLine(output, 'npx tracegate token agent-a').replace('token agent-a', 'token agent-a --env');
    const agent = sh(`eval "$(${env})" && node examples/agent.mjs ${WELL_KNOWN_TRACES.agentALow}`);
    expect(agent.status, agent.stderr).toBe(0);
    expect(agent.stdout).toContain(`trace ${WELL_KNOWN_TRACES.agentALow}`);
    expect(agent.stdout).toMatch(/\[redacted:[a-z-]+\]/);
    for (const p of PLANTED) expect(agent.stdout, p.kind).not.toContain(p.needle);
  }, 60_000);

  test('Ctrl-C stops everything and removes what it created', async () => {
    const state = readState(stateDir);
    const postmaster = postmasterPid(state.postgresDir);
    const issuerPort = Number(new URL(state.issuer ?? '').port);
    demo.child.kill('SIGINT');
    expect(await demo.exited()).toBe(0);
    expect(demo.output()).toMatch(/stopped/);
    expect(existsSync(stateDir)).toBe(false);
    expect(existsSync(state.postgresDir)).toBe(false);
    expect(commandLineOf(postmaster)).toBeUndefined();
    expect(await portAccepts(state.proxy?.port ?? 0)).toBe(false);
    expect(await portAccepts(issuerPort)).toBe(false);
    const token = sh(`node ${BIN} token agent-a --state-dir ${stateDir}`);
    expect(token.status).toBe(1);
    expect(token.stderr).toContain('no tracegate demo is running');
  }, 60_000);

  test('Ctrl-C during the start aborts it and leaves nothing behind', async () => {
    const aborted = startDemo(args);
    started.push(aborted);
    await aborted.waitFor(/starting PostgreSQL/);
    const postgresDir = readState(stateDir).postgresDir;
    aborted.child.kill('SIGINT');
    expect(await aborted.exited()).toBe(130);
    expect(existsSync(stateDir)).toBe(false);
    expect(existsSync(postgresDir)).toBe(false);
  }, 60_000);
});
