// Creates the demo's trace database on a fresh cluster: database tracegate_demo, the
// generated traces (seed.ts), and tracegate's own login role with a fresh password that
// only the proxy is given. Clients never see this credential; they bring tokens.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { DemoPostgres } from './embedded-postgres.js';
import { loadDemoSchema } from './seed.js';

export interface DemoDatabase {
  readonly database: string;
  readonly proxyUser: string;
  readonly proxyPassword: string;
}

const DATABASE = 'tracegate_demo';
const PROXY_ROLE = 'tracegate_proxy';

async function withClient<T>(server: DemoPostgres, database: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({
    host: server.host,
    port: server.port,
    user: server.superuser,
    password: server.superPassword,
    database,
  });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export async function createDemoDatabase(server: DemoPostgres, traces: number): Promise<DemoDatabase> {
  const proxyPassword = randomBytes(24).toString('base64url');
  await withClient(server, 'postgres', (c) => c.query(`CREATE DATABASE ${DATABASE} ENCODING 'UTF8' TEMPLATE template0`));
  await withClient(server, DATABASE, (c) => loadDemoSchema(c, { traces, proxyRole: PROXY_ROLE, proxyPassword }));
  return { database: DATABASE, proxyUser: PROXY_ROLE, proxyPassword };
}
