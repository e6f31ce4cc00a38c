// The SQLite store's schema, as an ordered list of migrations: PRAGMA user_version holds
// how many have been applied, and opening a store applies the rest in one transaction.
// Append only: an applied migration is never edited, a change is a new entry.
//
// One append-only table holds every record of the chain (chain.ts); the indexed columns
// are part of each record's hash, so an index cannot be made to lie without breaking it.
// Indexes are partial where a query only needs one kind: each index a record touches is
// another page written per commit on the decision path.
// `checkpoint` holds the last pruned record (seq and hash) that the chain continues from.
import type Database from 'better-sqlite3';

export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE records (
     seq INTEGER PRIMARY KEY,
     kind TEXT NOT NULL,
     at INTEGER NOT NULL,
     session_id TEXT,
     ref TEXT,
     subject TEXT,
     trace_id TEXT,
     body TEXT NOT NULL,
     hash TEXT NOT NULL
   );
   CREATE INDEX records_session ON records (session_id) WHERE session_id IS NOT NULL;
   CREATE INDEX records_revokes ON records (ref) WHERE kind = 'grant-revoke';
   CREATE INDEX records_approvals ON records (ref) WHERE kind = 'approval';
   CREATE INDEX records_trace ON records (trace_id) WHERE trace_id IS NOT NULL;
   CREATE INDEX records_subject ON records (subject, at) WHERE subject IS NOT NULL;
   CREATE INDEX records_session_starts ON records (at) WHERE kind = 'session-start';
   CREATE INDEX records_at ON records (at);
   CREATE TABLE checkpoint (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     seq INTEGER NOT NULL,
     hash TEXT NOT NULL,
     at INTEGER NOT NULL
   );`,
  // durable-journal.ts: every journal entry up to j is in the chain.
  `CREATE TABLE durable_applied (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     j INTEGER NOT NULL
   );
   INSERT INTO durable_applied (id, j) VALUES (1, 0);`,
];

export class SchemaTooNewError extends Error {
  constructor(found: number) {
    super(`audit store schema version ${found} is newer than this tracegate (${MIGRATIONS.length})`);
    this.name = 'SchemaTooNewError';
  }
}

export function migrate(db: Database.Database): void {
  if (version(db) === MIGRATIONS.length) return;
  // Checked again under the write lock: another process may have migrated meanwhile.
  db.transaction(() => {
    const current = version(db);
    if (current > MIGRATIONS.length) throw new SchemaTooNewError(current);
    for (let v = current; v < MIGRATIONS.length; v++) db.exec(MIGRATIONS[v] as string);
    db.pragma(`user_version = ${MIGRATIONS.length}`);
  }).immediate();
}

function version(db: Database.Database): number {
  const v = db.pragma('user_version', { simple: true }) as number;
  if (v > MIGRATIONS.length) throw new SchemaTooNewError(v);
  return v;
}
