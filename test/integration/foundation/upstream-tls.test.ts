// TLS toward the upstream: tracegate's own connection to Postgres uses TLS as configured
// (disable, require, verify-full), and verify-full refuses a server whose certificate
// does not chain to the configured CA. Runs against a private Postgres with ssl=on.
import { copyFileSync, chownSync, chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import pg from 'pg';
import pino from 'pino';
import { parseConfig } from '../../../src/config.js';
import { startProxy } from '../../../src/main.js';
import { getToken, testEnv } from '../../helpers/env.js';
import { loadDemoDatabase, startPostgres, superuserConfig, type RunningPostgres } from '../../helpers/postgres.js';
import { DEFAULT_POLICY } from '../../helpers/proxy.js';
import { makeTestCertificates, type TestCertificates } from '../../helpers/tls.js';

let server: RunningPostgres;
let certs: TestCertificates;
let otherCa: TestCertificates;
let proxyUser: string;
let proxyPassword: string;
let dir: string;

beforeAll(async () => {
  server = await startPostgres();
  ({ proxyUser, proxyPassword } = await loadDemoDatabase(server, { traces: 10 }));
  certs = makeTestCertificates();
  otherCa = makeTestCertificates();
  // The server reads its key as its own OS user, which must own it with mode 0600.
  const owner = statSync(server.dataDir);
  for (const [from, to] of [[certs.certFile, 'server.crt'], [certs.keyFile, 'server.key']] as const) {
    const target = join(server.dataDir, to);
    copyFileSync(from, target);
    chownSync(target, owner.uid, owner.gid);
    chmodSync(target, 0o600);
  }
  const admin = new pg.Client(superuserConfig(server));
  await admin.connect();
  await admin.query("ALTER SYSTEM SET ssl = on");
  await admin.query("ALTER SYSTEM SET ssl_cert_file = 'server.crt'");
  await admin.query("ALTER SYSTEM SET ssl_key_file = 'server.key'");
  await admin.query('SELECT pg_reload_conf()');
  await admin.end();
  dir = mkdtempSync(join(tmpdir(), 'tracegate-upstream-tls-'));
});

afterAll(async () => {
  await server?.stop();
  certs?.[Symbol.dispose]();
  otherCa?.[Symbol.dispose]();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function proxyWith(tlsYaml: string, name: string): Promise<Awaited<ReturnType<typeof startProxy>>> {
  const env = testEnv();
  const file = join(dir, `${name}.yaml`);
  const yaml = `
listen: { host: 127.0.0.1, port: 0 }
tls: { allowPlaintextOnLoopback: true }
upstream:
  host: 127.0.0.1
  port: ${server.port}
  database: tracegate_demo
  user: ${proxyUser}
  password: \${UPSTREAM_PASSWORD}
  tls: ${tlsYaml}
oidc: { issuer: ${env.oidc.issuer}, audience: ${env.oidc.audience} }
policy: ${DEFAULT_POLICY}
store: { sqlite: { path: ${name}.db } }
log: { level: silent }
`;
  writeFileSync(file, yaml);
  process.env['TRACEGATE_MASK_KEY'] ??= 'tracegate-test-mask-key-not-secret';
  const config = parseConfig(yaml, file, { ...process.env, UPSTREAM_PASSWORD: proxyPassword });
  return startProxy(config, { log: pino({ level: 'silent' }) });
}

/** Whether the proxy's upstream session for `app` runs over TLS, as the server sees it. */
async function upstreamUsesTls(app: string): Promise<boolean | undefined> {
  const admin = new pg.Client(superuserConfig(server));
  await admin.connect();
  try {
    const r = await admin.query('SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = $1', [app]);
    return r.rows[0]?.ssl as boolean | undefined;
  } finally {
    await admin.end();
  }
}

async function readThrough(port: number, app: string): Promise<{ rows?: number; code?: string; tls?: boolean | undefined }> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'agent-a', database: 'traces', password: await getToken('reviewer'), application_name: app });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    return { code: (err as { code?: string }).code };
  }
  try {
    const r = await client.query('SELECT trace_id FROM traces WHERE trace_id = $1', ['tr_000001']);
    return { rows: r.rowCount ?? 0, tls: await upstreamUsesTls(app) };
  } finally {
    await client.end();
  }
}

describe('upstream TLS', () => {
  test('verify-full with the right CA: TLS, verified', async () => {
    const proxy = await proxyWith(`{ mode: verify-full, ca: ${certs.caFile}, serverName: localhost }`, 'verify');
    try {
      expect(await readThrough(proxy.port, 'tls-verify-full')).toEqual({ rows: 1, tls: true });
    } finally {
      await proxy.close();
    }
  });

  test('verify-full refuses a server certificate from another CA (08001), nothing is sent', async () => {
    const proxy = await proxyWith(`{ mode: verify-full, ca: ${otherCa.caFile}, serverName: localhost }`, 'wrong-ca');
    try {
      expect(await readThrough(proxy.port, 'tls-wrong-ca')).toEqual({ code: '08001' });
    } finally {
      await proxy.close();
    }
  });

  test('require: TLS without verification; disable: plaintext', async () => {
    const required = await proxyWith('{ mode: require }', 'require');
    const disabled = await proxyWith('{ mode: disable }', 'disable');
    try {
      expect(await readThrough(required.port, 'tls-require')).toEqual({ rows: 1, tls: true });
      expect(await readThrough(disabled.port, 'tls-disable')).toEqual({ rows: 1, tls: false });
    } finally {
      await required.close();
      await disabled.close();
    }
  });
});
