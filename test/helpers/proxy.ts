// Starts a real tracegate in the test process, configured through the same YAML path
// an operator uses (parseConfig), in front of the shared test Postgres and issuer.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { parseConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { startProxy, type RunningProxy } from '../../src/main.js';
import { testEnv } from './env.js';

export const DEFAULT_POLICY = resolve(import.meta.dirname, '../../policies/default.yaml');

export interface TestProxyOptions {
  /** Extra top-level YAML appended to the generated config (e.g. a tls: block). */
  readonly extraYaml?: string;
  readonly policyFile?: string;
  readonly allowPlaintextOnLoopback?: boolean;
  readonly tls?: { readonly cert: string; readonly key: string };
  readonly mode?: 'enforce' | 'monitor';
  /** Start the admin server (API, page, metrics) on a free loopback port. */
  readonly admin?: boolean;
}

export interface TestProxy extends AsyncDisposable {
  readonly host: string;
  readonly port: number;
  readonly proxy: RunningProxy;
  readonly dir: string;
  /** The admin server's base URL (with `admin: true`). */
  readonly adminUrl: string | undefined;
  /** A node-postgres client config for this proxy with `token` as the password. */
  clientConfig(token: string, extra?: pg.ClientConfig): pg.ClientConfig;
  /**
   * Commits what the proxy's audit store has journaled (durable-journal.ts) to the SQLite
   * chain, for a test that reads the file through a handle of its own.
   */
  auditCommitted(): Promise<void>;
  /** A connected node-postgres client; closed with the proxy. */
  connect(token: string, extra?: pg.ClientConfig): Promise<pg.Client>;
  close(): Promise<void>;
}

export async function startTestProxy(opts: TestProxyOptions = {}): Promise<TestProxy> {
  const env = testEnv();
  const dir = mkdtempSync(join(tmpdir(), 'tracegate-test-'));
  const passwordFile = join(dir, 'upstream-password');
  writeFileSync(passwordFile, `${env.pg.proxyPassword}\n`, { mode: 0o600 });
  const yaml = `
listen: { host: 127.0.0.1, port: 0 }
tls:
  allowPlaintextOnLoopback: ${opts.allowPlaintextOnLoopback ?? true}
${opts.tls ? `  cert: ${opts.tls.cert}\n  key: ${opts.tls.key}` : ''}
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
policy: ${opts.policyFile ?? DEFAULT_POLICY}
mode: ${opts.mode ?? 'enforce'}
${opts.admin ? 'admin: { listen: { host: 127.0.0.1, port: 0 } }' : ''}
log: { level: ${process.env['TRACEGATE_TEST_LOG'] ?? 'silent'} }
${opts.extraYaml ?? ''}
`;
  const configFile = join(dir, 'tracegate.yaml');
  writeFileSync(configFile, yaml);
  // The policy's masking key comes from the environment, as in production.
  process.env['TRACEGATE_MASK_KEY'] ??= 'tracegate-test-mask-key-not-secret';
  const config = parseConfig(yaml, configFile);
  // The production logger, with its redaction, as `tracegate serve` builds it.
  const log = createLogger({ level: config.log.level });
  const proxy = await startProxy(config, { log });
  const clients = new Set<pg.Client>();
  const clientConfig = (token: string, extra: pg.ClientConfig = {}): pg.ClientConfig => ({
    host: '127.0.0.1',
    port: proxy.port,
    user: 'agent',
    database: 'traces',
    password: token,
    ...extra,
  });
  const close = async (): Promise<void> => {
    await Promise.allSettled([...clients].map((c) => c.end()));
    await proxy.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return {
    host: proxy.host,
    port: proxy.port,
    proxy,
    dir,
    adminUrl: proxy.admin?.url,
    clientConfig,
    auditCommitted: () => proxy.store.flush(),
    connect: async (token, extra) => {
      const client = new pg.Client(clientConfig(token, extra));
      client.on('error', () => undefined);
      await client.connect();
      clients.add(client);
      return client;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
