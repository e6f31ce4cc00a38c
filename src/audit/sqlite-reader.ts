// The SQLite store's read side: session lists, one session's records, grant history and
// the SIEM export. Reads only; each query is prepared per call because these run at
// admin speed, not per statement.
import type Database from 'better-sqlite3';
import { GENESIS_HASH } from './chain.js';
import { RecordKind } from './records.js';
import { foldSession, type StoredRecord } from './session-view.js';
import type {
  ExportLine,
  GrantIssue,
  GrantQuery,
  GrantView,
  SessionDetail,
  SessionQuery,
  SessionStart,
  SessionSummary,
} from './store.js';

const DEFAULT_LIMIT = 100;
const EXPORT_PAGE = 1000;

interface RecordRow {
  seq: number;
  kind: string;
  at: number;
  session_id: string | null;
  ref: string | null;
  subject: string | null;
  trace_id: string | null;
  body: string;
  hash: string;
}

export function listSessions(db: Database.Database, query: SessionQuery): SessionSummary[] {
  const where = [`kind = '${RecordKind.SessionStart}'`];
  const params: (string | number)[] = [];
  if (query.subject !== undefined) {
    where.push('subject = ?');
    params.push(query.subject);
  }
  if (query.since !== undefined) {
    where.push('at >= ?');
    params.push(query.since);
  }
  if (query.traceId !== undefined) {
    where.push('session_id IN (SELECT session_id FROM records WHERE trace_id = ? AND session_id IS NOT NULL)');
    params.push(query.traceId);
  }
  params.push(query.limit ?? DEFAULT_LIMIT);
  const starts = db
    .prepare<(string | number)[], { body: string }>(
      `SELECT body FROM records WHERE ${where.join(' AND ')} ORDER BY at DESC, seq DESC LIMIT ?`,
    )
    .all(...params);

  const endOf = db.prepare<[string], { at: number; body: string }>(
    `SELECT at, body FROM records WHERE session_id = ? AND kind = '${RecordKind.SessionEnd}' ORDER BY seq DESC LIMIT 1`,
  );
  const countsOf = db.prepare<[string], { statements: number; denied: number | null }>(
    `SELECT count(*) AS statements, sum(json_extract(body, '$.decision') = 'deny') AS denied
     FROM records WHERE session_id = ? AND kind = '${RecordKind.Statement}'`,
  );
  const tracesOf = db.prepare<[string], { trace_id: string }>(
    `SELECT DISTINCT trace_id FROM records
     WHERE session_id = ? AND kind = '${RecordKind.Statement}' AND trace_id IS NOT NULL ORDER BY trace_id`,
  );
  return starts.map((row) => {
    const start = JSON.parse(row.body) as SessionStart;
    const end = endOf.get(start.sessionId);
    const counts = countsOf.get(start.sessionId);
    return {
      sessionId: start.sessionId,
      subject: start.subject,
      groups: start.groups,
      clientAddress: start.clientAddress,
      applicationName: start.applicationName,
      mode: start.mode,
      startedAt: start.at,
      endedAt: end ? end.at : null,
      endReason: end ? (JSON.parse(end.body) as { reason: string }).reason : null,
      statements: counts?.statements ?? 0,
      denied: counts?.denied ?? 0,
      traceIds: tracesOf.all(start.sessionId).map((t) => t.trace_id),
    };
  });
}

export function getSession(db: Database.Database, sessionId: string): SessionDetail | null {
  const rows = db
    .prepare<[string], RecordRow>('SELECT * FROM records WHERE session_id = ? ORDER BY seq')
    .all(sessionId);
  const records: StoredRecord[] = rows.map(toStored);
  // Approval steps taken by an approver may not name the session: fetch them by request.
  const approvalIds = new Set<string>();
  for (const r of records) {
    if (r.kind === RecordKind.Statement) {
      const id = (r.body as { approvalId: string | null }).approvalId;
      if (id !== null) approvalIds.add(id);
    }
  }
  if (approvalIds.size > 0) {
    const byRef = db.prepare<[string], RecordRow>(
      `SELECT * FROM records WHERE ref = ? AND kind = '${RecordKind.Approval}' ORDER BY seq`,
    );
    const seen = new Set(records.map((r) => r.seq));
    for (const id of approvalIds) {
      for (const row of byRef.all(id)) if (!seen.has(row.seq)) records.push(toStored(row));
    }
    records.sort((a, b) => a.seq - b.seq);
  }
  return foldSession(records);
}

export function grantHistory(db: Database.Database, query: GrantQuery): GrantView[] {
  const where = [`kind = '${RecordKind.GrantIssue}'`];
  const params: (string | number)[] = [];
  const filters: [keyof GrantQuery, string][] = [
    ['subject', 'subject = ?'],
    ['traceId', 'trace_id = ?'],
    ['sessionId', 'session_id = ?'],
    ['since', 'at >= ?'],
  ];
  for (const [key, clause] of filters) {
    const value = query[key];
    if (value !== undefined) {
      where.push(clause);
      params.push(value);
    }
  }
  params.push(query.limit ?? DEFAULT_LIMIT);
  const issues = db
    .prepare<(string | number)[], { body: string }>(
      `SELECT body FROM records WHERE ${where.join(' AND ')} ORDER BY seq DESC LIMIT ?`,
    )
    .all(...params);
  const revokeOf = db.prepare<[string], { body: string }>(
    `SELECT body FROM records WHERE ref = ? AND kind = '${RecordKind.GrantRevoke}' ORDER BY seq LIMIT 1`,
  );
  return issues.map((row) => {
    const issue = JSON.parse(row.body) as GrantIssue;
    const revoke = revokeOf.get(issue.grantId);
    const parsed = revoke ? (JSON.parse(revoke.body) as { at: number; reason: string }) : null;
    return { ...issue, revokedAt: parsed?.at ?? null, revokeReason: parsed?.reason ?? null };
  });
}

/**
 * Every record at or after `since`, in chain order, paged so that no statement stays
 * open across a yield (better-sqlite3 forbids other use of a connection mid-iteration).
 * `connection` is asked for the handle on each page, so a reopened handle is picked up.
 */
export async function* exportSince(connection: () => Database.Database, since: number): AsyncGenerator<ExportLine> {
  const db = connection();
  const first = db
    .prepare<[number], { seq: number }>('SELECT min(seq) AS seq FROM records WHERE at >= ?')
    .get(since);
  if (first === undefined || first.seq === null) return;
  let prev = previousHash(db, first.seq);
  let after = first.seq - 1;
  for (;;) {
    const page = connection()
      .prepare<[number, number, number], RecordRow>(
        'SELECT * FROM records WHERE seq > ? AND at >= ? ORDER BY seq LIMIT ?',
      )
      .all(after, since, EXPORT_PAGE);
    if (page.length === 0) return;
    for (const row of page) {
      // A record skipped by the `at` filter (written late in a batch) breaks adjacency:
      // its successor's prevHash is then looked up rather than carried.
      if (row.seq !== after + 1) prev = previousHash(connection(), row.seq);
      yield {
        seq: row.seq,
        kind: row.kind,
        at: new Date(row.at).toISOString(),
        atMs: row.at,
        sessionId: row.session_id,
        ref: row.ref,
        subject: row.subject,
        traceId: row.trace_id,
        prevHash: prev,
        hash: row.hash,
        record: JSON.parse(row.body) as unknown,
      };
      prev = row.hash;
      after = row.seq;
    }
  }
}

function previousHash(db: Database.Database, seq: number): string {
  const row =
    db.prepare<[number], { hash: string }>('SELECT hash FROM records WHERE seq = ?').get(seq - 1) ??
    db.prepare<[number], { hash: string }>('SELECT hash FROM checkpoint WHERE seq = ?').get(seq - 1);
  return row?.hash ?? GENESIS_HASH;
}

function toStored(row: RecordRow): StoredRecord {
  return { seq: row.seq, kind: row.kind, at: row.at, body: JSON.parse(row.body) as unknown };
}
