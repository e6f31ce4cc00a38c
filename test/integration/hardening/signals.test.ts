// Signals to a real `tracegate serve` process: SIGTERM drains (new connections are
// refused, idle sessions end with 57P01 at once, the statement in flight runs to its
// result and is recorded, then the process exits 0 with an intact audit chain), and
// SIGHUP reloads the policy atomically (a bad file is rejected with its error and the
// policy in force stays; a good one takes effect on the next statement).
//
// The child runs the current sources, not a possibly stale dist/: a tiny ESM loader
// transpiles each .ts module with the project's own TypeScript (transpileModule, as
// isolatedModules allows) and maps the `.js` import suffixes to the `.ts` files.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { WELL_KNOWN_TRACES } from '../../../src/demo/generate.js';
import { getToken, pgClientConfig } from '../../helpers/env.js';
import { DEFAULT_POLICY } from '../../helpers/proxy.js';
import { writeProxyConfig, type ProxyConfigFile } from './harness.js';

const ROOT = resolve(import.meta.dirname, '../../..');

// Transpiled modules are cached by path and mtime, so only the first child pays for it.
const LOADER = (cacheDir: string): string => `
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
let ts;
export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (err) {
    if (specifier.endsWith('.js') && context.parentURL?.startsWith('file:')) {
      const source = new URL(specifier.slice(0, -3) + '.ts', context.parentURL);
      if (existsSync(fileURLToPath(source))) return { url: source.href, shortCircuit: true };
    }
    throw err;
  }
}
export async function load(url, context, next) {
  if (!url.endsWith('.ts')) return next(url, context);
  const fileName = fileURLToPath(url);
  const cached = join(${JSON.stringify(cacheDir)}, createHash('sha256').update(fileName + statSync(fileName).mtimeMs).digest('hex') + '.js');
  if (existsSync(cached)) return { format: 'module', source: readFileSync(cached, 'utf8'), shortCircuit: true };
  ts ??= createRequire(${JSON.stringify(join(ROOT, 'package.json'))})('typescript');
  const compilerOptions = { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true };
  const { outputText } = ts.transpileModule(readFileSync(fileName, 'utf8'), { compilerOptions, fileName });
  writeFileSync(cached, outputText);
  return { format: 'module', source: outputText, shortCircuit: true };
}
`;

// What bin/tracegate.js does, with the CLI module taken from src/ instead of dist/.
const ENTRY = `
const { main } = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'src/cli.ts')).href)});
main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { console.error(err instanceof Error ? err.message : String(err)); process.exitCode = 1; },
);
`;

interface Serving {
  readonly child: ChildProcess;
  readonly port: number;
  readonly files: ProxyConfigFile;
  readonly policyFile: string;
  stderr(): string;
  exited: Promise<number | null>;
}

let files: ProxyConfigFile;
let loader: string;
let entry: string;
let agentA: string;
let reviewer: string;
const children: ChildProcess[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  files = writeProxyConfig();
  dirs.push(files.dir);
  loader = join(files.dir, 'register.mjs');
  const cacheDir = join(files.dir, 'transpiled');
  mkdirSync(cacheDir);
  writeFileSync(join(files.dir, 'ts-loader.mjs'), LOADER(cacheDir));
  writeFileSync(loader, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(join(files.dir, 'ts-loader.mjs')).href)});\n`);
  entry = join(files.dir, 'tracegate.mjs');
  writeFileSync(entry, ENTRY);
  [agentA, reviewer] = await Promise.all([getToken('agent-a'), getToken('reviewer')]);
});
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tracegate(args: string[], env: Record<string, string> = {}): ChildProcess {
  const child = spawn(process.execPath, ['--import', pathToFileURL(loader).href, entry, ...args], {
    cwd: ROOT,
    env: { ...process.env, TRACEGATE_MASK_KEY: 'tracegate-test-mask-key-not-secret', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  return child;
}

/** Starts `tracegate serve` on its own config (and policy copy); resolves once it listens. */
async function serve(limits: string[] = []): Promise<Serving> {
  const policyFile = join(files.dir, `policy-${randomBytes(4).toString('hex')}.yaml`);
  copyFileSync(DEFAULT_POLICY, policyFile);
  const own = writeProxyConfig({ policyFile, limits, logLevel: 'info' });
  dirs.push(own.dir);
  const child = tracegate(['serve', '--config', own.configFile]);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer): void => {
      out += d.toString('utf8');
      for (const line of out.split('\n')) {
        if (!line.includes('"event":"listening"')) continue;
        child.stdout?.off('data', onData);
        child.stdout?.resume();
        resolve((JSON.parse(line) as { port: number }).port);
        return;
      }
    };
    child.stdout?.on('data', onData);
    void exited.then((code) => reject(new Error(`tracegate exited ${code} before listening: ${stderr}${out}`)));
  });
  return { child, port, files: own, policyFile, stderr: () => stderr, exited };
}

async function connect(port: number, token: string): Promise<{ client: pg.Client; errors: (Error & { code?: string })[] }> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'u', database: 'traces', password: token });
  const errors: (Error & { code?: string })[] = [];
  client.on('error', (e) => errors.push(e));
  await client.connect();
  return { client, errors };
}

async function until(check: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(50);
  }
}

describe('SIGTERM', () => {
  test('drains: refuses new connections, ends idle sessions, lets the statement in flight finish and be recorded, exits 0', async () => {
    const s = await serve(['drainTimeout: 30s']);
    const idle = await connect(s.port, agentA);
    const busy = await connect(s.port, reviewer);
    const marker = `drain_${randomBytes(6).toString('hex')}`;
    // A few seconds of upstream work on one trace.
    const inFlight = busy.client.query(
      `SELECT count(*)::int AS n /* ${marker} */ FROM trace_steps s, generate_series(1, 6000000) g WHERE s.trace_id = '${WELL_KNOWN_TRACES.agentALow}'`,
    );
    const admin = new pg.Client(pgClientConfig());
    await admin.connect();
    try {
      await until(async () => (await admin.query(`SELECT 1 FROM pg_stat_activity WHERE state = 'active' AND query LIKE $1 AND pid <> pg_backend_pid()`, [`%${marker}%`])).rowCount === 1, 10_000);
    } finally {
      await admin.end();
    }

    const signalled = performance.now();
    s.child.kill('SIGTERM');
    await until(() => idle.errors.length > 0, 5000);
    expect(idle.errors[0]?.code).toBe('57P01');
    expect(performance.now() - signalled).toBeLessThan(3000);
    // The listening socket is closed: a new client is refused by the kernel.
    const refused = await new Promise<string>((resolve) => {
      const socket = net.connect(s.port, '127.0.0.1', () => {
        socket.destroy();
        resolve('connected');
      });
      socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    });
    expect(refused).toBe('ECONNREFUSED');

    const result = await inFlight;
    expect(result.rows[0]?.n).toBeGreaterThan(0);
    await until(() => busy.errors.length > 0, 5000);
    expect(busy.errors[0]?.code).toBe('57P01');
    expect(await s.exited).toBe(0);

    // The drained statement is on record, complete, and the chain verifies.
    const db = new Database(s.files.storeFile, { readonly: true });
    try {
      const statement = db.prepare(`SELECT ref FROM records WHERE kind = 'statement' AND body LIKE ?`).get(`%${marker}%`) as { ref: string } | undefined;
      expect(statement).toBeDefined();
      const complete = db.prepare(`SELECT body FROM records WHERE kind = 'statement-complete' AND ref = ?`).get(statement?.ref) as { body: string } | undefined;
      expect(JSON.parse(complete?.body ?? '{}')).toMatchObject({ commandTag: 'SELECT 1', error: null, rows: 1 });
    } finally {
      db.close();
    }
    const verify = tracegate(['audit', 'verify', '--store', s.files.storeFile]);
    let out = '';
    verify.stdout?.on('data', (d: Buffer) => (out += d.toString('utf8')));
    expect(await new Promise((resolve) => verify.once('exit', resolve))).toBe(0);
    expect(out).toMatch(/^audit chain ok: \d+ records/);
  }, 120_000);

  test('at the drain deadline, a statement still running is cut off and the process still exits 0', async () => {
    const s = await serve(['drainTimeout: 1s']);
    const busy = await connect(s.port, reviewer);
    const inFlight = busy.client
      .query(`SELECT count(*) FROM trace_steps s, generate_series(1, 100000000) g WHERE s.trace_id = '${WELL_KNOWN_TRACES.agentALow}'`)
      .then(
        () => undefined,
        (e: unknown) => e as Error & { code?: string },
      );
    await sleep(500);
    const signalled = performance.now();
    s.child.kill('SIGTERM');
    const err = await inFlight;
    expect(err?.code).toBe('57P01');
    expect(await s.exited).toBe(0);
    expect(performance.now() - signalled).toBeLessThan(10_000);
  }, 120_000);
});

describe('SIGHUP', () => {
  test('a bad policy file is rejected with its error and the old policy stays; a good one takes effect', async () => {
    const s = await serve();
    const agent = await connect(s.port, agentA);
    const otherOwner = `SELECT trace_id FROM traces WHERE trace_id = '${WELL_KNOWN_TRACES.otherOwner}'`;
    await expect(agent.client.query(otherOwner)).rejects.toMatchObject({ code: '42501' });

    const original = readFileSync(s.policyFile, 'utf8');
    // Drops the agents' entitlement (which would let agent-a read any trace) but also
    // carries an unknown key: it must be refused as a whole.
    const withoutEntitlement = original.replace("    entitlement: { owner: { claim: sub } }   # traces.agent_id must equal the token's sub\n", '');
    expect(withoutEntitlement).not.toBe(original);
    writeFileSync(s.policyFile, withoutEntitlement.replace('grantTtl: 30s', 'grantTtl: 30s\n    grantTTL: 30s'));
    s.child.kill('SIGHUP');
    await until(() => s.stderr().includes('policy NOT reloaded'), 10_000);
    expect(s.stderr()).toMatch(/policy NOT reloaded, the previous one stays in force: \S+policy-[0-9a-f]+\.yaml:\d+: rules\.0\.grantTTL: unknown key/);
    await expect(agent.client.query(otherOwner)).rejects.toMatchObject({ code: '42501' });

    writeFileSync(s.policyFile, withoutEntitlement);
    s.child.kill('SIGHUP');
    await until(() => s.stderr().includes('policy reloaded from'), 10_000);
    const now = await agent.client.query(otherOwner);
    expect(now.rows).toEqual([{ trace_id: WELL_KNOWN_TRACES.otherOwner }]);

    await agent.client.end();
    s.child.kill('SIGTERM');
    expect(await s.exited).toBe(0);
  }, 120_000);
});
