// Loads the demo trace database: (re)creates the schema of schema.sql, the proxy's login
// role, and the generated traces, in one transaction on the given connection (which
// must be a superuser or a role that may create roles and tables). It must not grant
// the proxy role anything beyond SELECT on the three demo tables.

import { readFile } from 'node:fs/promises';
import type pg from 'pg';
import { generateDemoData } from './generate.js';
import { scramSha256Verifier } from './scram-verifier.js';

export interface LoadDemoOptions {
  readonly traces: number;
  readonly proxyRole: string;
  readonly proxyPassword: string;
}

// One jsonb parameter per chunk: the server unpacks it with jsonb_to_recordset, which is
// one round trip per few hundred rows and far below the 65,535 bind-parameter cap.
const CHUNK = 500;

async function schemaSql(): Promise<string> {
  // Beside this module in the source tree; from the compiled dist/src/demo/ the .sql file
  // is not copied by tsc, so fall back to the source file it was built from.
  const candidates = [new URL('./schema.sql', import.meta.url), new URL('../../../src/demo/schema.sql', import.meta.url)];
  for (const url of candidates) {
    try {
      return await readFile(url, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  throw new Error('demo schema.sql not found beside the demo module or in src/demo/');
}

async function insertChunked(client: pg.Client, rows: readonly object[], sql: string): Promise<void> {
  for (let i = 0; i < rows.length; i += CHUNK) {
    await client.query(sql, [JSON.stringify(rows.slice(i, i + CHUNK))]);
  }
}

async function ensureProxyRole(client: pg.Client, role: string, password: string): Promise<void> {
  const ident = client.escapeIdentifier(role);
  const verifier = client.escapeLiteral(scramSha256Verifier(password));
  const exists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
  const attributes = 'LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS';
  await client.query(`${exists.rowCount ? 'ALTER' : 'CREATE'} ROLE ${ident} ${attributes} PASSWORD ${verifier}`);
  const db = await client.query<{ db: string }>('SELECT current_database() AS db');
  await client.query(`GRANT CONNECT ON DATABASE ${client.escapeIdentifier(db.rows[0]?.db ?? '')} TO ${ident}`);
  await client.query(`GRANT USAGE ON SCHEMA public TO ${ident}`);
  // customers is granted on purpose: the proxy's policy, not the upstream grant, must be
  // what keeps agents out of it, and the integration tests prove exactly that.
  await client.query(`GRANT SELECT ON traces, trace_steps, customers TO ${ident}`);
}

export async function loadDemoSchema(client: pg.Client, opts: LoadDemoOptions): Promise<void> {
  const data = generateDemoData(opts.traces);
  const schema = await schemaSql();
  await client.query('BEGIN');
  try {
    await client.query('DROP TABLE IF EXISTS trace_steps, traces, customers CASCADE');
    await client.query(schema);
    await ensureProxyRole(client, opts.proxyRole, opts.proxyPassword);
    await insertChunked(
      client,
      data.traces,
      `INSERT INTO traces (trace_id, agent_id, user_email, risk, created_at, summary, body)
       SELECT trace_id, agent_id, user_email, risk, created_at, summary, body
       FROM jsonb_to_recordset($1::jsonb) AS r(trace_id text, agent_id text, user_email text,
         risk text, created_at timestamptz, summary text, body jsonb)`,
    );
    await insertChunked(
      client,
      data.steps,
      `INSERT INTO trace_steps (trace_id, step, role, content, tool_calls)
       SELECT trace_id, step, role, content, tool_calls
       FROM jsonb_to_recordset($1::jsonb) AS r(trace_id text, step int, role text, content text, tool_calls jsonb)`,
    );
    await insertChunked(
      client,
      data.customers,
      `INSERT INTO customers (id, email, api_key)
       SELECT id, email, api_key FROM jsonb_to_recordset($1::jsonb) AS r(id int, email text, api_key text)`,
    );
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
  await client.query('ANALYZE traces, trace_steps, customers');
}
