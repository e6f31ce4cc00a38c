// The CredentialStore (credentials/credential-store.ts) on the shared store: a credential
// issued through one instance can be redeemed through any other, and exactly once in all.
// Single use is one statement: `UPDATE ... SET state = 'redeemed' WHERE id = $1 AND
// state = 'issued' AND expires_at > $now RETURNING`, so of any number of logins racing
// on any number of instances, the row lock lets one through and the rest see the new
// state. The secret's hash is compared in this process (timingSafeEqual) before that
// update, so a wrong secret changes nothing and looks like an unknown id.
import type pg from 'pg';
import { secretMatches } from '../credentials/credential-secret.js';
import type { CredentialState, CredentialStore, RedeemResult, StoredCredential } from '../credentials/credential-store.js';
import type { CredentialBinding, Identity } from '../identity.js';
import { quoteSchema } from './pg-schema.js';

export interface PgCredentialStoreOptions {
  readonly pool: pg.Pool;
  readonly schema: string;
  /** How long a spent or expired credential stays recognisable; default 1 h. */
  readonly retainMs?: number;
}

interface CredentialRow {
  id: string;
  secret_hash: Buffer;
  holder: StoredHolder;
  trace_id: string;
  rule: string;
  approval_id: string | null;
  issued_at: number;
  expires_at: number;
  state: CredentialState;
}

/** The holder's identity as stored: no token, only what the Identity itself carries. */
interface StoredHolder {
  subject: string;
  groups: string[];
  claims: Record<string, unknown>;
  jti: string | null;
  expiresAt: number;
  tokenHash: string;
  credential: CredentialBinding | null;
}

export class PgCredentialStore implements CredentialStore {
  private readonly pool: pg.Pool;
  private readonly s: string;
  private readonly retainMs: number;

  constructor(options: PgCredentialStoreOptions) {
    this.pool = options.pool;
    this.s = quoteSchema(options.schema);
    this.retainMs = options.retainMs ?? 60 * 60 * 1000;
  }

  async add(c: StoredCredential): Promise<void> {
    const holder: StoredHolder = {
      subject: c.holder.subject,
      groups: [...c.holder.groups],
      claims: { ...c.holder.claims },
      jti: c.holder.jti ?? null,
      expiresAt: c.holder.expiresAt,
      tokenHash: c.holder.tokenHash,
      credential: c.holder.credential ?? null,
    };
    await this.pool.query(
      `INSERT INTO ${this.s}.credentials (id, secret_hash, holder, trace_id, rule, approval_id, issued_at, expires_at, state)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'issued')`,
      [c.id, c.secretHash, JSON.stringify(holder), c.traceId, c.rule, c.approvalId, c.issuedAt, c.expiresAt],
    );
  }

  async redeem(id: string, secret: string, now: number): Promise<RedeemResult> {
    const row = (await this.pool.query<CredentialRow>(`SELECT * FROM ${this.s}.credentials WHERE id = $1`, [id])).rows[0];
    if (!row || !secretMatches(row.secret_hash, secret)) return { outcome: 'unknown' };
    const credential = toCredential(row);
    const won = await this.pool.query(
      `UPDATE ${this.s}.credentials SET state = 'redeemed' WHERE id = $1 AND state = 'issued' AND expires_at > $2 RETURNING id`,
      [id, now],
    );
    if (won.rowCount === 1) return { outcome: 'redeemed', credential };
    // Lost: read the state that beat us (another login, here or on another instance).
    const state = (await this.pool.query<{ state: CredentialState }>(`SELECT state FROM ${this.s}.credentials WHERE id = $1`, [id])).rows[0]?.state;
    switch (state) {
      case 'redeemed':
        return { outcome: 'refused', why: 'in-use', credential };
      case 'spent':
        return { outcome: 'refused', why: 'spent', credential };
      default:
        // issued but past its expiry, expired, or swept away meanwhile
        return { outcome: 'refused', why: 'expired', credential };
    }
  }

  async spend(id: string, now: number): Promise<StoredCredential | null> {
    const row = (
      await this.pool.query<CredentialRow>(
        `UPDATE ${this.s}.credentials SET state = 'spent', settled_at = $2 WHERE id = $1 AND state = 'redeemed' RETURNING *`,
        [id, now],
      )
    ).rows[0];
    return row ? toCredential(row) : null;
  }

  async state(id: string): Promise<CredentialState | undefined> {
    return (await this.pool.query<{ state: CredentialState }>(`SELECT state FROM ${this.s}.credentials WHERE id = $1`, [id])).rows[0]?.state;
  }

  /** Each expired credential is returned to exactly one instance's sweep (UPDATE ... RETURNING). */
  async sweep(now: number): Promise<StoredCredential[]> {
    const rows = (
      await this.pool.query<CredentialRow>(
        `UPDATE ${this.s}.credentials SET state = 'expired', settled_at = $1 WHERE state = 'issued' AND expires_at <= $1 RETURNING *`,
        [now],
      )
    ).rows;
    await this.pool.query(`DELETE FROM ${this.s}.credentials WHERE settled_at IS NOT NULL AND settled_at < $1`, [now - this.retainMs]);
    return rows.map(toCredential);
  }
}

function toCredential(row: CredentialRow): StoredCredential {
  const h = row.holder;
  const holder: Identity = {
    subject: h.subject,
    groups: h.groups,
    claims: h.claims,
    jti: h.jti ?? undefined,
    expiresAt: h.expiresAt,
    tokenHash: h.tokenHash,
    ...(h.credential ? { credential: h.credential } : {}),
  };
  return {
    id: row.id,
    secretHash: row.secret_hash,
    holder,
    traceId: row.trace_id,
    rule: row.rule,
    approvalId: row.approval_id,
    issuedAt: row.issued_at,
    expiresAt: row.expires_at,
  };
}
