// Shared by the credential integration tests: the admin API over real HTTP, a Postgres
// login with a credential through node-postgres, and the credential events as the audit
// store committed them (read straight from its SQLite file, as an auditor would).
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { CredentialEvent } from '../../../src/audit/store.js';
import type { TestProxy } from '../../helpers/proxy.js';

export interface ApiAnswer {
  readonly status: number;
  readonly json: any;
  readonly headers: Headers;
}

export async function api(base: string, token: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<ApiAnswer> {
  const res = await fetch(new URL(path, base), {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json().catch(() => null), headers: res.headers };
}

export interface Issued {
  readonly id: string;
  readonly credential: string;
  readonly json: any;
}

/** POST /api/credentials, expecting 201. */
export async function issue(proxy: TestProxy, token: string, traceId: string, extra: Record<string, unknown> = {}): Promise<Issued> {
  const answer = await api(proxy.adminUrl as string, token, 'POST', '/api/credentials', { trace_id: traceId, reason: 'integration test', ...extra });
  if (answer.status !== 201) throw new Error(`expected 201, got ${answer.status}: ${JSON.stringify(answer.json)}`);
  return { id: answer.json.id, credential: answer.json.credential, json: answer.json };
}

/** A node-postgres config that logs in with the credential, its id as the user name. */
export function credentialConfig(proxy: TestProxy, issued: Pick<Issued, 'id' | 'credential'>): pg.ClientConfig {
  return proxy.clientConfig(issued.credential, { user: issued.id });
}

/** Connects, or resolves with the error the proxy refused the login with. */
export async function tryConnect(config: pg.ClientConfig): Promise<{ client: pg.Client } | { error: { code?: string; message: string } }> {
  const client = new pg.Client(config);
  client.on('error', () => undefined);
  try {
    await client.connect();
    return { client };
  } catch (err) {
    return { error: { code: (err as { code?: string }).code, message: (err as Error).message } };
  }
}

/** The query's error (code and message), or a failure if it succeeded. */
export async function queryError(client: pg.Client, sql: string, params: unknown[] = []): Promise<{ code?: string; message: string }> {
  try {
    await client.query(sql, params);
  } catch (err) {
    return { code: (err as { code?: string }).code, message: (err as Error).message };
  }
  throw new Error(`expected ${sql} to fail`);
}

/** The committed credential events of one credential, oldest first. */
export async function credentialEvents(proxy: TestProxy, credentialId: string): Promise<CredentialEvent[]> {
  await proxy.auditCommitted();
  const db = new Database(join(proxy.dir, 'tracegate-audit.db'), { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare("SELECT body FROM records WHERE kind = 'credential' AND ref = ? ORDER BY seq").all(credentialId) as { body: string }[];
    return rows.map((r) => JSON.parse(r.body) as CredentialEvent);
  } finally {
    db.close();
  }
}

/** Waits (briefly) for the events an asynchronous step records, e.g. the spend. */
export async function eventsEventually(proxy: TestProxy, credentialId: string, until: (types: string[]) => boolean): Promise<CredentialEvent[]> {
  let events = await credentialEvents(proxy, credentialId);
  for (let i = 0; i < 100 && !until(events.map((e) => e.type)); i++) {
    await sleep(30);
    events = await credentialEvents(proxy, credentialId);
  }
  return events;
}
