// Everything an instance shares with the others through one Postgres store (SPEC
// section 11), opened together: the pool, the migrations, the LISTEN connection, and the
// shared implementations of the audit store, approvals, revocations, one-time
// credentials and quotas. main.ts picks this or the single-instance parts by config.
import type pg from 'pg';
import type { RevocationList } from '../revocation/revocations.js';
import { PgApprovalService } from './pg-approvals.js';
import { PgAuditStore } from './pg-audit-store.js';
import { PgCredentialStore } from './pg-credential-store.js';
import { PgListener } from './pg-listener.js';
import { openPool, type PgStoreConnection } from './pg-pool.js';
import { PgQuotaStore } from './pg-quota-store.js';
import { PgRevocationSync } from './pg-revocations.js';
import { migrate } from './pg-schema.js';

export const DEFAULT_PG_SCHEMA = 'tracegate';

export interface PgStoreConfig extends PgStoreConnection {
  /** Default `tracegate`. */
  readonly schema?: string;
}

export interface SharedStoreOptions {
  readonly config: PgStoreConfig;
  readonly revocations: RevocationList;
  readonly onError?: (err: unknown, context: string) => void;
  /** How often waiters and revocations are polled besides LISTEN/NOTIFY; default 2000 ms. */
  readonly pollMs?: number;
}

export interface SharedStore {
  readonly pool: pg.Pool;
  readonly audit: PgAuditStore;
  readonly approvals: PgApprovalService;
  readonly credentials: PgCredentialStore;
  readonly quotas: PgQuotaStore;
  readonly revocationSync: PgRevocationSync;
  readonly listener: PgListener;
  /** Stops listening and polling; the audit store is closed by its owner (main.ts) before this. */
  close(): Promise<void>;
}

export async function openSharedStore(opts: SharedStoreOptions): Promise<SharedStore> {
  const schema = opts.config.schema ?? DEFAULT_PG_SCHEMA;
  const pool = openPool(opts.config);
  try {
    await migrate(pool, schema);
    const listener = new PgListener({ connection: opts.config, schema, onError: opts.onError });
    const audit = new PgAuditStore({ pool, schema, onError: opts.onError });
    const approvals = new PgApprovalService({
      pool,
      schema,
      listener,
      recorder: audit,
      onError: opts.onError,
      pollMs: opts.pollMs,
      approverRevoked: (approver) => opts.revocations.isRevoked(approver) !== undefined,
    });
    const revocationSync = new PgRevocationSync({ pool, schema, listener, list: opts.revocations, onError: opts.onError, pollMs: opts.pollMs });
    // Handlers first, then LISTEN: nothing notified after start() resolves is missed.
    await revocationSync.start();
    await listener.start();
    return {
      pool,
      audit,
      approvals,
      credentials: new PgCredentialStore({ pool, schema }),
      quotas: new PgQuotaStore({ pool, schema }),
      revocationSync,
      listener,
      close: async () => {
        await revocationSync.settled();
        await revocationSync.close();
        await listener.close();
        await pool.end();
      },
    };
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw err;
  }
}

/** The audit store alone, for the CLI (`audit verify`, `sessions show` ...): no LISTEN. */
export async function openPgAuditStoreForCli(config: PgStoreConfig): Promise<PgAuditStore> {
  const schema = config.schema ?? DEFAULT_PG_SCHEMA;
  const pool = openPool({ ...config, poolSize: 2 }, 'tracegate-cli');
  try {
    await migrate(pool, schema);
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw err;
  }
  return new PgAuditStore({ pool, schema, ownsPool: true });
}
