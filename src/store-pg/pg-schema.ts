// The Postgres store's schema (SPEC section 11), as an ordered list of migrations in its
// own schema (default `tracegate`). `schema_version` holds how many have been applied;
// opening the store applies the rest in one transaction under an advisory lock, so two
// instances starting together cannot both migrate. Append only: an applied migration is
// never edited, a change is a new entry.
//
// What lives here, shared by every instance:
// - records + checkpoint + chain_head: the audit chain (chain.ts), ONE chain for all
//   instances. chain_head is a single row locked FOR UPDATE by every append, so seq and
//   the link to the previous hash are assigned in one global order (pg-chain-writer.ts).
//   `body` is text, never jsonb: the hash covers its exact bytes.
// - revocations: every admin revocation; `seq` lets an instance poll for what it missed.
// - approvals + approval_votes: approval requests and their votes; state changes are
//   made with row locks, and announced on NOTIFY tracegate_approvals.
// - credentials: one-time credentials (the secret's hash and the single-use state).
// - quota_traces + quota_grants, and quota_check(): anti-enumeration counters, checked
//   and counted atomically in one call under a per (rule, subject) advisory lock.
import type pg from 'pg';

/** Migrations take `${schema}` as the quoted schema name. */
const MIGRATIONS: readonly ((schema: string) => string)[] = [
  (s) => `
    CREATE TABLE ${s}.records (
      seq bigint PRIMARY KEY,
      kind text NOT NULL,
      at bigint NOT NULL,
      session_id text,
      ref text,
      subject text,
      trace_id text,
      body text NOT NULL,
      hash text NOT NULL
    );
    CREATE INDEX records_session ON ${s}.records (session_id) WHERE session_id IS NOT NULL;
    CREATE INDEX records_revokes ON ${s}.records (ref) WHERE kind = 'grant-revoke';
    CREATE INDEX records_approvals ON ${s}.records (ref) WHERE kind = 'approval';
    CREATE INDEX records_trace ON ${s}.records (trace_id) WHERE trace_id IS NOT NULL;
    CREATE INDEX records_subject ON ${s}.records (subject, at) WHERE subject IS NOT NULL;
    CREATE INDEX records_session_starts ON ${s}.records (at) WHERE kind = 'session-start';
    CREATE INDEX records_at ON ${s}.records (at);
    CREATE TABLE ${s}.checkpoint (
      id int PRIMARY KEY CHECK (id = 1),
      seq bigint NOT NULL,
      hash text NOT NULL,
      at bigint NOT NULL
    );
    CREATE TABLE ${s}.chain_head (
      id int PRIMARY KEY CHECK (id = 1),
      seq bigint NOT NULL,
      hash text NOT NULL
    );
    INSERT INTO ${s}.chain_head (id, seq, hash) VALUES (1, 0, repeat('0', 64));

    CREATE TABLE ${s}.revocations (
      seq bigserial PRIMARY KEY,
      id text NOT NULL UNIQUE,
      kind text NOT NULL CHECK (kind IN ('subject', 'session', 'jti')),
      target text NOT NULL,
      reason text NOT NULL,
      by_subject text NOT NULL,
      at bigint NOT NULL,
      until bigint NOT NULL
    );
    CREATE INDEX revocations_until ON ${s}.revocations (until);

    CREATE TABLE ${s}.approvals (
      id text PRIMARY KEY,
      state text NOT NULL CHECK (state IN ('pending', 'approved', 'denied', 'timed-out', 'withdrawn')),
      session_id text NOT NULL,
      statement_id text,
      requester_subject text NOT NULL,
      requester_groups text[] NOT NULL,
      trace_id text NOT NULL,
      rule text NOT NULL,
      statement text NOT NULL,
      reason text,
      approver_groups text[] NOT NULL,
      quorum int NOT NULL,
      requested_at bigint NOT NULL,
      expires_at bigint NOT NULL,
      decided_at bigint,
      outcome jsonb
    );
    CREATE INDEX approvals_pending ON ${s}.approvals (requested_at) WHERE state = 'pending';
    CREATE TABLE ${s}.approval_votes (
      approval_id text NOT NULL REFERENCES ${s}.approvals (id) ON DELETE CASCADE,
      by_subject text NOT NULL,
      at bigint NOT NULL,
      reason text,
      PRIMARY KEY (approval_id, by_subject)
    );

    CREATE TABLE ${s}.credentials (
      id text PRIMARY KEY,
      secret_hash bytea NOT NULL,
      holder jsonb NOT NULL,
      trace_id text NOT NULL,
      rule text NOT NULL,
      approval_id text,
      issued_at bigint NOT NULL,
      expires_at bigint NOT NULL,
      state text NOT NULL CHECK (state IN ('issued', 'redeemed', 'spent', 'expired')),
      settled_at bigint
    );
    CREATE INDEX credentials_issued ON ${s}.credentials (expires_at) WHERE state = 'issued';
    CREATE INDEX credentials_settled ON ${s}.credentials (settled_at) WHERE settled_at IS NOT NULL;

    CREATE TABLE ${s}.quota_traces (
      rule text NOT NULL,
      subject text NOT NULL,
      trace_id text NOT NULL,
      last_at bigint NOT NULL,
      PRIMARY KEY (rule, subject, trace_id)
    );
    CREATE TABLE ${s}.quota_grants (
      rule text NOT NULL,
      subject text NOT NULL,
      at bigint NOT NULL
    );
    CREATE INDEX quota_grants_key ON ${s}.quota_grants (rule, subject, at);

    -- One call, one transaction: both quotas checked and, when both have room, counted.
    -- The advisory lock serialises calls for one (rule, subject) across every instance,
    -- so two instances racing for the last slot cannot both take it.
    -- Returns (ok, problem, retry_after_ms); problem is 'grants' or 'traces' when refused.
    CREATE FUNCTION ${s}.quota_check(p_rule text, p_subject text, p_trace text, p_now bigint,
                                     p_max_traces int, p_window_ms bigint, p_per_minute int,
                                     OUT ok boolean, OUT problem text, OUT retry_after_ms bigint)
    LANGUAGE plpgsql AS $fn$
    DECLARE
      n int;
      oldest bigint;
      has_trace boolean;
    BEGIN
      PERFORM pg_advisory_xact_lock(hashtextextended('tracegate.quota' || length(p_rule) || ':' || p_rule || p_subject, 0));
      DELETE FROM ${s}.quota_grants WHERE rule = p_rule AND subject = p_subject AND at <= p_now - 60000;
      IF p_per_minute IS NOT NULL THEN
        SELECT count(*), min(at) INTO n, oldest FROM ${s}.quota_grants WHERE rule = p_rule AND subject = p_subject;
        IF n >= p_per_minute THEN
          ok := false; problem := 'grants'; retry_after_ms := greatest(0, coalesce(oldest, p_now) + 60000 - p_now);
          RETURN;
        END IF;
      END IF;
      IF p_max_traces IS NOT NULL THEN
        DELETE FROM ${s}.quota_traces WHERE rule = p_rule AND subject = p_subject AND last_at <= p_now - p_window_ms;
        SELECT count(*), min(last_at), coalesce(bool_or(trace_id = p_trace), false) INTO n, oldest, has_trace
          FROM ${s}.quota_traces WHERE rule = p_rule AND subject = p_subject;
        IF NOT has_trace AND n >= p_max_traces THEN
          ok := false; problem := 'traces'; retry_after_ms := greatest(0, coalesce(oldest, p_now) + p_window_ms - p_now);
          RETURN;
        END IF;
        INSERT INTO ${s}.quota_traces (rule, subject, trace_id, last_at) VALUES (p_rule, p_subject, p_trace, p_now)
          ON CONFLICT (rule, subject, trace_id) DO UPDATE SET last_at = excluded.last_at;
      END IF;
      INSERT INTO ${s}.quota_grants (rule, subject, at) VALUES (p_rule, p_subject, p_now);
      ok := true; problem := NULL; retry_after_ms := 0;
    END
    $fn$;
  `,
  // One round trip per group commit instead of five: the writer sends the records with
  // the head it believes in (its last commit); the function locks the head row, and
  // appends only if the head is still that one. Otherwise (another instance appended
  // meanwhile) it appends nothing and returns the real head, and the writer re-links
  // its records to it and tries again.
  (s) => `
    CREATE FUNCTION ${s}.append_records(p_prev_seq bigint, p_prev_hash text, p_seq bigint[], p_kind text[], p_at bigint[],
                                        p_session text[], p_ref text[], p_subject text[], p_trace text[], p_body text[], p_hash text[],
                                        OUT ok boolean, OUT head_seq bigint, OUT head_hash text)
    LANGUAGE plpgsql AS $fn$
    DECLARE
      n int := cardinality(p_seq);
    BEGIN
      SELECT seq, hash INTO head_seq, head_hash FROM ${s}.chain_head WHERE id = 1 FOR UPDATE;
      IF head_seq IS DISTINCT FROM p_prev_seq OR head_hash IS DISTINCT FROM p_prev_hash THEN
        ok := false;
        RETURN;
      END IF;
      INSERT INTO ${s}.records (seq, kind, at, session_id, ref, subject, trace_id, body, hash)
        SELECT * FROM unnest(p_seq, p_kind, p_at, p_session, p_ref, p_subject, p_trace, p_body, p_hash);
      head_seq := p_seq[n];
      head_hash := p_hash[n];
      UPDATE ${s}.chain_head SET seq = head_seq, hash = head_hash WHERE id = 1;
      ok := true;
    END
    $fn$;
  `,
  // Quotas counted on the store's clock, not each caller's: an instance whose clock ran
  // ahead expired the other instances' entries early (a grant a minute ago looked two
  // minutes old), so together they let through more than one instance would. The
  // previous version's seven-argument form stays, for its instances still running in a
  // rolling upgrade, and counts on the store's clock as well: their p_now goes unused.
  (s) => `
    CREATE FUNCTION ${s}.quota_check(p_rule text, p_subject text, p_trace text,
                                     p_max_traces int, p_window_ms bigint, p_per_minute int,
                                     OUT ok boolean, OUT problem text, OUT retry_after_ms bigint)
    LANGUAGE plpgsql AS $fn$
    DECLARE
      n int;
      oldest bigint;
      has_trace boolean;
      now_ms bigint;
    BEGIN
      PERFORM pg_advisory_xact_lock(hashtextextended('tracegate.quota' || length(p_rule) || ':' || p_rule || p_subject, 0));
      -- Read after the lock: a call that waited for it counts from when it got it.
      now_ms := (extract(epoch FROM clock_timestamp()) * 1000)::bigint;
      DELETE FROM ${s}.quota_grants WHERE rule = p_rule AND subject = p_subject AND at <= now_ms - 60000;
      IF p_per_minute IS NOT NULL THEN
        SELECT count(*), min(at) INTO n, oldest FROM ${s}.quota_grants WHERE rule = p_rule AND subject = p_subject;
        IF n >= p_per_minute THEN
          ok := false; problem := 'grants'; retry_after_ms := greatest(0, coalesce(oldest, now_ms) + 60000 - now_ms);
          RETURN;
        END IF;
      END IF;
      IF p_max_traces IS NOT NULL THEN
        DELETE FROM ${s}.quota_traces WHERE rule = p_rule AND subject = p_subject AND last_at <= now_ms - p_window_ms;
        SELECT count(*), min(last_at), coalesce(bool_or(trace_id = p_trace), false) INTO n, oldest, has_trace
          FROM ${s}.quota_traces WHERE rule = p_rule AND subject = p_subject;
        IF NOT has_trace AND n >= p_max_traces THEN
          ok := false; problem := 'traces'; retry_after_ms := greatest(0, coalesce(oldest, now_ms) + p_window_ms - now_ms);
          RETURN;
        END IF;
        INSERT INTO ${s}.quota_traces (rule, subject, trace_id, last_at) VALUES (p_rule, p_subject, p_trace, now_ms)
          ON CONFLICT (rule, subject, trace_id) DO UPDATE SET last_at = excluded.last_at;
      END IF;
      INSERT INTO ${s}.quota_grants (rule, subject, at) VALUES (p_rule, p_subject, now_ms);
      ok := true; problem := NULL; retry_after_ms := 0;
    END
    $fn$;
    CREATE OR REPLACE FUNCTION ${s}.quota_check(p_rule text, p_subject text, p_trace text, p_now bigint,
                                                p_max_traces int, p_window_ms bigint, p_per_minute int,
                                                OUT ok boolean, OUT problem text, OUT retry_after_ms bigint)
    LANGUAGE sql AS $fn$
      SELECT * FROM ${s}.quota_check(p_rule, p_subject, p_trace, p_max_traces, p_window_ms, p_per_minute)
    $fn$;
  `,
  // The jti of the token an approval was cast with: a vote stops counting once that token
  // is revoked, as it does once its subject is. NULL for votes cast before this column.
  (s) => `ALTER TABLE ${s}.approval_votes ADD COLUMN jti text;`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export class PgSchemaTooNewError extends Error {
  constructor(found: number) {
    super(`store schema version ${found} is newer than this tracegate (${SCHEMA_VERSION})`);
    this.name = 'PgSchemaTooNewError';
  }
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** The schema name, checked and quoted for SQL text (it cannot be a bind parameter). */
export function quoteSchema(schema: string): string {
  if (!SCHEMA_NAME.test(schema)) throw new RangeError(`store schema must be a lower-case identifier, got ${JSON.stringify(schema)}`);
  return `"${schema}"`;
}

/** Creates the schema if needed and applies the migrations not applied yet. */
export async function migrate(pool: pg.Pool, schema: string): Promise<void> {
  const s = quoteSchema(schema);
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    // Any constant shared by all instances: migrations run one at a time.
    await client.query("SELECT pg_advisory_xact_lock(hashtextextended('tracegate.migrate.' || $1, 0))", [schema]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${s}.schema_version (id int PRIMARY KEY CHECK (id = 1), version int NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const row = (await client.query<{ version: number }>(`SELECT version FROM ${s}.schema_version WHERE id = 1`)).rows[0];
    const current = row?.version ?? 0;
    if (current > SCHEMA_VERSION) throw new PgSchemaTooNewError(current);
    for (let v = current; v < SCHEMA_VERSION; v++) await client.query((MIGRATIONS[v] as (schema: string) => string)(s));
    await client.query(
      `INSERT INTO ${s}.schema_version (id, version) VALUES (1, $1)
       ON CONFLICT (id) DO UPDATE SET version = excluded.version, applied_at = now()`,
      [SCHEMA_VERSION],
    );
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
