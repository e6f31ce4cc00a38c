// Fixtures for the hardening tests: a tracegate configured through the operator's YAML
// path in front of any upstream and issuer (the shared ones by default, a private
// Postgres or issuer for fault tests), a counting TCP forwarder that shows whether the
// proxy opened an upstream connection at all, and pg_ctl control of a private Postgres
// (stop, start) for restart faults. Everything listens on loopback only.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readlink, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import pino from 'pino';
import { loadConfig } from '../../../src/config.js';
import { startProxy, type RunningProxy } from '../../../src/main.js';
import { testEnv } from '../../helpers/env.js';
import { DEFAULT_POLICY } from '../../helpers/proxy.js';
import type { RunningPostgres } from '../../helpers/postgres.js';

const run = promisify(execFile);

export interface UpstreamSpec {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  readonly password: string;
}

export interface ConfigOptions {
  readonly upstream?: UpstreamSpec;
  readonly issuer?: { readonly issuer: string; readonly audience: string };
  readonly policyFile?: string;
  /** YAML lines under `limits:` (e.g. `maxConnections: 5`). */
  readonly limits?: readonly string[];
  readonly connectTimeout?: string;
  readonly logLevel?: string;
}

export interface ProxyConfigFile {
  readonly dir: string;
  readonly configFile: string;
  readonly storeFile: string;
}

export function sharedUpstream(): UpstreamSpec {
  const { pg } = testEnv();
  return { host: pg.host, port: pg.port, database: pg.database, user: pg.proxyUser, password: pg.proxyPassword };
}

/** Writes a complete tracegate.yaml (and the upstream password file) into a fresh dir. */
export function writeProxyConfig(opts: ConfigOptions = {}): ProxyConfigFile {
  const env = testEnv();
  const upstream = opts.upstream ?? sharedUpstream();
  const issuer = opts.issuer ?? { issuer: env.oidc.issuer, audience: env.oidc.audience };
  const dir = mkdtempSync(join(tmpdir(), 'tracegate-hardening-'));
  const passwordFile = join(dir, 'upstream-password');
  writeFileSync(passwordFile, `${upstream.password}\n`, { mode: 0o600 });
  const storeFile = join(dir, 'audit.db');
  const limits = opts.limits ?? [];
  const yaml = [
    'listen: { host: 127.0.0.1, port: 0 }',
    'tls: { allowPlaintextOnLoopback: true }',
    'upstream:',
    `  host: ${upstream.host}`,
    `  port: ${upstream.port}`,
    `  database: ${upstream.database}`,
    `  user: ${upstream.user}`,
    `  passwordFile: ${passwordFile}`,
    '  tls: { mode: disable }',
    `  connectTimeout: ${opts.connectTimeout ?? '5s'}`,
    'oidc:',
    `  issuer: ${issuer.issuer}`,
    `  audience: ${issuer.audience}`,
    '  clockSkew: 0s',
    `policy: ${opts.policyFile ?? DEFAULT_POLICY}`,
    `store: { sqlite: { path: ${storeFile} } }`,
    `log: { level: ${opts.logLevel ?? process.env['TRACEGATE_TEST_LOG'] ?? 'silent'} }`,
    ...(limits.length ? ['limits:', ...limits.map((l) => `  ${l}`)] : []),
    '',
  ].join('\n');
  const configFile = join(dir, 'tracegate.yaml');
  writeFileSync(configFile, yaml);
  return { dir, configFile, storeFile };
}

export interface HardenedProxy extends AsyncDisposable {
  readonly proxy: RunningProxy;
  readonly port: number;
  readonly files: ProxyConfigFile;
  close(): Promise<void>;
}

/** Starts tracegate in this process from a config written by writeProxyConfig. */
export async function startHardenedProxy(opts: ConfigOptions = {}): Promise<HardenedProxy> {
  process.env['TRACEGATE_MASK_KEY'] ??= 'tracegate-test-mask-key-not-secret';
  const files = writeProxyConfig(opts);
  let proxy: RunningProxy;
  try {
    const config = loadConfig(files.configFile);
    proxy = await startProxy(config, { log: pino({ level: config.log.level }) });
  } catch (err) {
    rmSync(files.dir, { recursive: true, force: true });
    throw err;
  }
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await proxy.close();
    rmSync(files.dir, { recursive: true, force: true });
  };
  return { proxy, port: proxy.port, files, close, [Symbol.asyncDispose]: close };
}

/**
 * A byte-for-byte TCP forwarder to `target` that counts the connections made through
 * it and notes the application_name of each one's StartupMessage: put between tracegate
 * and Postgres, it shows whether (and for which client) tracegate dialled the upstream
 * at all; a login that must be refused before that never does. CancelRequests (which
 * tracegate sends on a connection of their own, with a backend key only a logged-in
 * session holds) are counted apart.
 */
export interface Forwarder extends AsyncDisposable {
  readonly port: number;
  readonly connections: number;
  readonly cancelRequests: number;
  /** application_name of each StartupMessage ('' when there was none). */
  readonly applicationNames: readonly string[];
  /** Per connection, each chunk tracegate's writes arrived in, in order. */
  readonly received: readonly (readonly Buffer[])[];
  close(): Promise<void>;
}

const CANCEL_REQUEST_CODE = 80_877_102;

export async function startForwarder(target: { host: string; port: number }): Promise<Forwarder> {
  const sockets = new Set<net.Socket>();
  const applicationNames: string[] = [];
  const received: Buffer[][] = [];
  let connections = 0;
  let cancelRequests = 0;
  const server = net.createServer((inbound) => {
    connections++;
    const chunks: Buffer[] = [];
    received.push(chunks);
    inbound.on('data', (chunk: Buffer) => chunks.push(chunk));
    let head = Buffer.alloc(0);
    const sniff = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      if (head.length < 4 || head.length < head.readInt32BE(0)) return;
      inbound.off('data', sniff);
      if (head.readInt32BE(4) === CANCEL_REQUEST_CODE) {
        cancelRequests++;
        return;
      }
      const fields = head.subarray(8, head.readInt32BE(0)).toString('utf8').split('\0');
      const at = fields.indexOf('application_name');
      applicationNames.push(at >= 0 && at % 2 === 0 ? (fields[at + 1] ?? '') : '');
    };
    inbound.on('data', sniff);
    const outbound = net.connect(target.port, target.host);
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        sockets.delete(s);
        inbound.destroy();
        outbound.destroy();
      });
    }
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const close = async (): Promise<void> => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return {
    port,
    get connections() {
      return connections;
    },
    get cancelRequests() {
      return cancelRequests;
    },
    applicationNames,
    received,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * pg_ctl for a private server from startPostgres, whichever engine started it: the
 * binary sits next to the running postmaster's executable, and runs as the account
 * that owns the data directory (Postgres refuses to run as root).
 */
export async function pgCtlFor(server: RunningPostgres): Promise<(args: readonly string[]) => Promise<void>> {
  const pid = Number(readFileSync(join(server.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const bin = dirname(await readlink(`/proc/${pid}/exe`));
  const { uid, gid } = statSync(server.dataDir);
  // Inside the data directory: the server's account can write there, maybe nowhere else.
  const log = join(server.dataDir, 'restart.log');
  return async (args) => {
    await run(join(bin, 'pg_ctl'), [...args, '-D', server.dataDir, '-l', log, '-w', '-t', '60'], {
      uid,
      gid,
      env: { ...process.env, LC_ALL: 'C', LANG: 'C' },
    });
  };
}

/**
 * Stops a private server whose postmaster may no longer be the one its engine started
 * (after a pg_ctl restart the embedded engine's own stop would wait forever), then
 * removes its files.
 */
export async function stopPrivatePostgres(server: RunningPostgres, pgCtl: (args: readonly string[]) => Promise<void>): Promise<void> {
  await pgCtl(['stop', '-m', 'immediate']).catch(() => undefined);
  await rm(dirname(server.dataDir), { recursive: true, force: true });
}

/** Bytes the process holds outside the V8 heap (Buffers): where relayed data would pile up. */
export function bufferMemory(): number {
  const m = process.memoryUsage();
  return m.arrayBuffers;
}

/**
 * A proxy with the default policy but the reviewers' per-statement limits raised (rows,
 * bytes), so that only flow control stands between a result of hundreds of MB and the
 * proxy's memory. The policy file goes into `dir`.
 */
export async function startRaisedLimitsProxy(dir: string): Promise<HardenedProxy> {
  const reviewersLimits = 'limits: { maxRows: 10000, maxBytes: 64MB }';
  const policy = readFileSync(DEFAULT_POLICY, 'utf8');
  if (!policy.includes(reviewersLimits)) throw new Error(`policies/default.yaml no longer has "${reviewersLimits}": update startRaisedLimitsProxy`);
  const policyFile = join(dir, 'policy.yaml');
  writeFileSync(policyFile, policy.replace(reviewersLimits, 'limits: { maxRows: 1000000, maxBytes: 1GB }'));
  return startHardenedProxy({ policyFile });
}
