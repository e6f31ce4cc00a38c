// Queries tracegate runs on its own behalf with its own credential: the owner and risk
// of a trace (entitlement and approval, SPEC sections 3 and 4) and the catalog facts
// masking needs. They go through a small pool of their own, never through a client's
// session, so a client cannot observe or influence them. Results are cached briefly:
// ownership and risk change rarely, and a lookup per statement would double the load.
import { readFileSync } from 'node:fs';
import pg from 'pg';
import type { UpstreamTarget } from './pool.js';

export interface TraceFacts {
  readonly exists: boolean;
  readonly owner?: string | null;
  readonly risk?: string | null;
}

export interface TraceTableColumns {
  /** schema-qualified table, e.g. public.traces */
  readonly table: string;
  readonly key: string;
  readonly owner?: string | undefined;
  readonly risk?: string | undefined;
}

export type QueryFn = (sql: string, params: unknown[]) => Promise<Array<Record<string, unknown>>>;

export class UpstreamLookups {
  private pool: pg.Pool;
  private readonly cache = new Map<string, { facts: TraceFacts; until: number }>();

  constructor(
    private readonly target: UpstreamTarget,
    private readonly now: () => number,
    private readonly cacheMs = 5_000,
  ) {
    this.pool = this.makePool(sslOption(target));
  }

  readonly query: QueryFn = async (sql, params) => {
    try {
      return (await this.pool.query(sql, params)).rows as Array<Record<string, unknown>>;
    } catch (err) {
      // node-postgres has no sslmode=prefer: try TLS first, and only for `prefer` fall
      // back to plaintext when the server says it has no TLS at all.
      if (this.target.endpoint.tls.mode !== 'prefer' || !/does not support SSL/i.test(String(err))) throw err;
      const old = this.pool;
      this.pool = this.makePool(false);
      void old.end();
      return (await this.pool.query(sql, params)).rows as Array<Record<string, unknown>>;
    }
  };

  private makePool(ssl: pg.ClientConfig['ssl']): pg.Pool {
    const { endpoint } = this.target;
    const pool = new pg.Pool({
      host: endpoint.host,
      port: endpoint.port,
      database: this.target.database,
      user: this.target.user,
      // Asked at each new connection, so a rotated password file is followed.
      password: () => this.target.credential.current().password,
      ssl,
      // Every statement that needs entitlement or approval may wait on one of these
      // (answers are cached for a few seconds): enough for a busy proxy's misses.
      max: 10,
      idleTimeoutMillis: 30_000,
      connectionTimeoutMillis: endpoint.connectTimeoutMs,
      application_name: 'tracegate-lookups',
      options: '-c default_transaction_read_only=on -c search_path=pg_catalog -c statement_timeout=5000',
    });
    pool.on('error', () => undefined);
    return pool;
  }

  async trace(table: TraceTableColumns, traceId: string): Promise<TraceFacts> {
    // Keyed by the columns asked for too: a rule that needs only the owner caches facts
    // without the risk, and another rule's approval check must not be answered by them.
    const cacheKey = `${table.table}\0${table.key}\0${table.owner ?? ''}\0${table.risk ?? ''}\0${traceId}`;
    const hit = this.cache.get(cacheKey);
    const now = this.now();
    if (hit && hit.until > now) return hit.facts;
    const [schema, name] = splitQualified(table.table);
    const columns = [table.owner, table.risk].filter((c): c is string => c !== undefined);
    const select = columns.length ? columns.map(quoteIdent).join(', ') : '1';
    // Two rows at most: a key that is not unique may name rows that disagree, and then no
    // one row speaks for the trace (its read returns all of them).
    const rows = await this.query(
      `SELECT DISTINCT ${select} FROM ${quoteIdent(schema)}.${quoteIdent(name)} WHERE ${quoteIdent(table.key)} = $1 LIMIT 2`,
      [traceId],
    );
    const row = rows[0];
    const facts: TraceFacts = !row
      ? { exists: false }
      : rows.length > 1
        ? // Owned by nobody, of no known risk: an owner check fails, and so does a rule
          // whose approval needs the risk (entitlement.ts).
          { exists: true, owner: table.owner ? null : undefined, risk: undefined }
        : {
            exists: true,
            owner: table.owner ? stringOrNull(row[table.owner]) : undefined,
            risk: table.risk ? stringOrNull(row[table.risk]) : undefined,
          };
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(cacheKey, { facts, until: now + this.cacheMs });
    return facts;
  }

  /** Whether the upstream answers at all, for readiness. */
  async ping(): Promise<boolean> {
    try {
      await this.query('SELECT 1', []);
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

function sslOption(target: UpstreamTarget): pg.ClientConfig['ssl'] {
  switch (target.endpoint.tls.mode) {
    case 'disable':
      return false;
    case 'prefer':
    case 'require':
      return { rejectUnauthorized: false };
    case 'verify-full':
      return {
        rejectUnauthorized: true,
        servername: target.endpoint.tls.serverName,
        ca: target.endpoint.tls.ca ? readFileSync(target.endpoint.tls.ca, 'utf8') : undefined,
      };
  }
}

function splitQualified(table: string): [string, string] {
  const dot = table.indexOf('.');
  return dot < 0 ? ['public', table] : [table.slice(0, dot), table.slice(dot + 1)];
}

const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;

const stringOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));
