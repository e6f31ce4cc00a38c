// Opening the shared store's connection pool. bigint columns (seq, epoch milliseconds)
// come back as JavaScript numbers: every value stored here is far below 2^53. The parser
// is set on this pool only, never globally, so the upstream lookups' pool is untouched.
import pg from 'pg';

export interface PgStoreConnection {
  /** A libpq connection URL: postgres://user:password@host:port/database?sslmode=... */
  readonly url: string;
  /** Default 10. */
  readonly poolSize?: number;
  /** How long a write waits for a connection before it fails (fail closed); default 5 s. */
  readonly connectTimeoutMs?: number;
}

const INT8_OID = 20;

const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === INT8_OID && format !== 'binary') return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format);
  }) as typeof pg.types.getTypeParser,
};

export function pgConfig(conn: PgStoreConnection, applicationName: string): pg.ClientConfig {
  return {
    connectionString: conn.url,
    application_name: applicationName,
    connectionTimeoutMillis: conn.connectTimeoutMs ?? 5_000,
    // A wedged store must not hold a statement forever: the session answers 58030.
    query_timeout: 15_000,
    types,
  };
}

export function openPool(conn: PgStoreConnection, applicationName = 'tracegate'): pg.Pool {
  const pool = new pg.Pool({ ...pgConfig(conn, applicationName), max: conn.poolSize ?? 10 });
  // An idle client's error (the server restarted) must not crash the proxy; the next
  // checkout gets a fresh connection.
  pool.on('error', () => undefined);
  return pool;
}
