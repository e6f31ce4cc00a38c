// Two tracegate instances on loopback sharing one Postgres store (SPEC section 11), as
// the README's "Running several instances" describes: each test file gets its own store
// database `tracegate_store_<random>` owned by its own login role (not a superuser), on
// the shared test Postgres, and drops both at the end.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { runAuditCommand } from '../../../src/cli/audit.js';
import { pgClientConfig, testEnv } from '../../helpers/env.js';
import { startTestProxy, type TestProxy, type TestProxyOptions } from '../../helpers/proxy.js';

export interface StoreDatabase extends AsyncDisposable {
  readonly database: string;
  /** postgres://role:password@host:port/database, for the config's store.postgres.url */
  readonly url: string;
  /** The `store:` block of a tracegate.yaml naming this store. */
  readonly yaml: string;
  /** A superuser connection to the store database, to look at what the instances wrote. */
  query<R extends pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<pg.QueryResult<R>>;
  drop(): Promise<void>;
}

export async function createStoreDatabase(): Promise<StoreDatabase> {
  const env = testEnv().pg;
  const name = `tracegate_store_${randomBytes(6).toString('hex')}`;
  const password = randomBytes(18).toString('base64url');
  const admin = new pg.Client(pgClientConfig('postgres'));
  await admin.connect();
  try {
    await admin.query(`CREATE ROLE ${name} LOGIN PASSWORD '${password}'`);
    await admin.query(`CREATE DATABASE ${name} OWNER ${name}`);
  } finally {
    await admin.end();
  }
  const url = `postgres://${name}:${password}@${env.host}:${env.port}/${name}`;
  const reader = new pg.Pool({ ...pgClientConfig(name), max: 2 });
  reader.on('error', () => undefined);
  let dropped = false;
  const drop = async (): Promise<void> => {
    if (dropped) return;
    dropped = true;
    await reader.end();
    const c = new pg.Client(pgClientConfig('postgres'));
    await c.connect();
    try {
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.query(`DROP ROLE IF EXISTS ${name}`);
    } finally {
      await c.end();
    }
  };
  return {
    database: name,
    url,
    yaml: `store: { postgres: { url: "${url}", schema: tracegate } }`,
    query: (sql, params) => reader.query(sql, params),
    drop,
    [Symbol.asyncDispose]: drop,
  };
}

/** An in-process instance on the shared store, with its admin API. */
export function startInstance(store: StoreDatabase, opts: TestProxyOptions = {}): Promise<TestProxy> {
  return startTestProxy({ admin: true, ...opts, extraYaml: `${opts.extraYaml ?? ''}\n${store.yaml}\n` });
}

export async function api(base: string, token: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(new URL(path, base), {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json().catch(() => null) };
}

/** `tracegate audit verify --config FILE`, as an operator runs it. */
export async function auditVerify(configFile: string): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const code = await runAuditCommand(['verify', '--config', configFile], (line) => lines.push(line));
  return { code, lines };
}

export async function eventually<T>(check: () => Promise<T | undefined>, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}
