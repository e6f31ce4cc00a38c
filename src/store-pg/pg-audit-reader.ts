// The Postgres store's read side and chain verification: the same views as the SQLite
// reader (sqlite-reader.ts, sqlite-chain-audit.ts), over the same record layout. `s` is
// the quoted schema name (pg-schema.ts quoteSchema). Reads only.
import type pg from 'pg';
import { GENESIS_HASH, linkHash, outsideChain } from '../audit/chain.js';
import { RecordKind } from '../audit/records.js';
import { foldSession, type StoredRecord } from '../audit/session-view.js';
import type {
  BrokenLink,
  ChainHead,
  ExportLine,
  GrantIssue,
  GrantQuery,
  GrantView,
  SessionDetail,
  SessionQuery,
  SessionStart,
  SessionSummary,
  VerifyReport,
} from '../audit/store.js';

const DEFAULT_LIMIT = 100;
const PAGE = 2000;

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

export async function listSessions(pool: pg.Pool, s: string, query: SessionQuery): Promise<SessionSummary[]> {
  const where = [`kind = '${RecordKind.SessionStart}'`];
  const params: (string | number)[] = [];
  const param = (v: string | number): string => {
    params.push(v);
    return `$${params.length}`;
  };
  if (query.subject !== undefined) where.push(`subject = ${param(query.subject)}`);
  if (query.since !== undefined) where.push(`at >= ${param(query.since)}`);
  if (query.traceId !== undefined) {
    where.push(`session_id IN (SELECT session_id FROM ${s}.records WHERE trace_id = ${param(query.traceId)} AND session_id IS NOT NULL)`);
  }
  const limit = param(query.limit ?? DEFAULT_LIMIT);
  const starts = (
    await pool.query<{ body: string }>(`SELECT body FROM ${s}.records WHERE ${where.join(' AND ')} ORDER BY at DESC, seq DESC LIMIT ${limit}`, params)
  ).rows;
  const out: SessionSummary[] = [];
  for (const row of starts) {
    const start = JSON.parse(row.body) as SessionStart;
    const { rows } = await pool.query<{ end_at: number | null; end_body: string | null; statements: number; denied: number; traces: string[] | null }>(
      `SELECT
         (SELECT at FROM ${s}.records WHERE session_id = $1 AND kind = '${RecordKind.SessionEnd}' ORDER BY seq DESC LIMIT 1) AS end_at,
         (SELECT body FROM ${s}.records WHERE session_id = $1 AND kind = '${RecordKind.SessionEnd}' ORDER BY seq DESC LIMIT 1) AS end_body,
         (SELECT count(*)::int FROM ${s}.records WHERE session_id = $1 AND kind = '${RecordKind.Statement}') AS statements,
         (SELECT count(*)::int FROM ${s}.records WHERE session_id = $1 AND kind = '${RecordKind.Statement}'
            AND (body::jsonb ->> 'decision') = 'deny') AS denied,
         (SELECT array_agg(DISTINCT trace_id ORDER BY trace_id) FROM ${s}.records
            WHERE session_id = $1 AND kind = '${RecordKind.Statement}' AND trace_id IS NOT NULL) AS traces`,
      [start.sessionId],
    );
    const r = rows[0];
    out.push({
      sessionId: start.sessionId,
      subject: start.subject,
      groups: start.groups,
      clientAddress: start.clientAddress,
      applicationName: start.applicationName,
      mode: start.mode,
      startedAt: start.at,
      endedAt: r?.end_at ?? null,
      endReason: r?.end_body ? (JSON.parse(r.end_body) as { reason: string }).reason : null,
      statements: r?.statements ?? 0,
      denied: r?.denied ?? 0,
      traceIds: r?.traces ?? [],
    });
  }
  return out;
}

export async function getSession(pool: pg.Pool, s: string, sessionId: string): Promise<SessionDetail | null> {
  const rows = (await pool.query<RecordRow>(`SELECT * FROM ${s}.records WHERE session_id = $1 ORDER BY seq`, [sessionId])).rows;
  const records: StoredRecord[] = rows.map(toStored);
  const approvalIds = new Set<string>();
  for (const r of records) {
    if (r.kind === RecordKind.Statement) {
      const id = (r.body as { approvalId: string | null }).approvalId;
      if (id !== null) approvalIds.add(id);
    }
  }
  if (approvalIds.size > 0) {
    const seen = new Set(records.map((r) => r.seq));
    const extra = (
      await pool.query<RecordRow>(`SELECT * FROM ${s}.records WHERE ref = ANY($1::text[]) AND kind = '${RecordKind.Approval}' ORDER BY seq`, [[...approvalIds]])
    ).rows;
    for (const row of extra) if (!seen.has(row.seq)) records.push(toStored(row));
    records.sort((a, b) => a.seq - b.seq);
  }
  return foldSession(records);
}

export async function grantHistory(pool: pg.Pool, s: string, query: GrantQuery): Promise<GrantView[]> {
  const where = [`kind = '${RecordKind.GrantIssue}'`];
  const params: (string | number)[] = [];
  const filters: [keyof GrantQuery, string][] = [
    ['subject', 'subject'],
    ['traceId', 'trace_id'],
    ['sessionId', 'session_id'],
  ];
  for (const [key, column] of filters) {
    const value = query[key];
    if (value !== undefined) {
      params.push(value);
      where.push(`${column} = $${params.length}`);
    }
  }
  if (query.since !== undefined) {
    params.push(query.since);
    where.push(`at >= $${params.length}`);
  }
  params.push(query.limit ?? DEFAULT_LIMIT);
  const issues = (
    await pool.query<{ body: string; revoke: string | null }>(
      `SELECT i.body, (SELECT r.body FROM ${s}.records r WHERE r.ref = i.ref AND r.kind = '${RecordKind.GrantRevoke}' ORDER BY r.seq LIMIT 1) AS revoke
       FROM ${s}.records i WHERE ${where.join(' AND ')} ORDER BY seq DESC LIMIT $${params.length}`,
      params,
    )
  ).rows;
  return issues.map((row) => {
    const issue = JSON.parse(row.body) as GrantIssue;
    const parsed = row.revoke ? (JSON.parse(row.revoke) as { at: number; reason: string }) : null;
    return { ...issue, revokedAt: parsed?.at ?? null, revokeReason: parsed?.reason ?? null };
  });
}

export async function* exportSince(pool: pg.Pool, s: string, since: number): AsyncGenerator<ExportLine> {
  const first = (await pool.query<{ seq: number | null }>(`SELECT min(seq) AS seq FROM ${s}.records WHERE at >= $1`, [since])).rows[0]?.seq ?? null;
  if (first === null) return;
  let prev = await previousHash(pool, s, first);
  let after = first - 1;
  for (;;) {
    const page = (await pool.query<RecordRow>(`SELECT * FROM ${s}.records WHERE seq > $1 AND at >= $2 ORDER BY seq LIMIT $3`, [after, since, PAGE])).rows;
    if (page.length === 0) return;
    for (const row of page) {
      if (row.seq !== after + 1) prev = await previousHash(pool, s, row.seq);
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

async function previousHash(pool: pg.Pool, s: string, seq: number): Promise<string> {
  const row =
    (await pool.query<{ hash: string }>(`SELECT hash FROM ${s}.records WHERE seq = $1`, [seq - 1])).rows[0] ??
    (await pool.query<{ hash: string }>(`SELECT hash FROM ${s}.checkpoint WHERE seq = $1`, [seq - 1])).rows[0];
  return row?.hash ?? GENESIS_HASH;
}

/**
 * Walks the one chain from the checkpoint (or genesis) to the head row read at the start
 * (records appended meanwhile are left for the next run), then checks that the head row
 * names the last record: a chain whose newest records were deleted ends early.
 */
export async function verifyChain(pool: pg.Pool, s: string): Promise<VerifyReport> {
  const checkpoint = (await pool.query<{ seq: number; hash: string }>(`SELECT seq, hash FROM ${s}.checkpoint WHERE id = 1`)).rows[0];
  const headRow = (await pool.query<{ seq: number; hash: string }>(`SELECT seq, hash FROM ${s}.chain_head WHERE id = 1`)).rows[0] ?? { seq: 0, hash: GENESIS_HASH };
  const from: ChainHead = checkpoint ? { seq: checkpoint.seq, hash: checkpoint.hash } : { seq: 0, hash: GENESIS_HASH };
  let prev = from.hash;
  let expectedSeq = from.seq + 1;
  let checked = 0;
  let lastPrune: { seq: number; target: ChainHead } | null = null;
  const broken = (link: BrokenLink): VerifyReport => ({ ok: false, checked, from, broken: link });
  // A row at or before the checkpoint is on no link, yet the session views would list it.
  const below = (await pool.query<{ seq: number; kind: string }>(`SELECT seq, kind FROM ${s}.records WHERE seq <= $1 ORDER BY seq LIMIT 1`, [from.seq])).rows[0];
  if (below) return broken(outsideChain(below, from));
  while (expectedSeq <= headRow.seq) {
    const page = (
      await pool.query<RecordRow>(`SELECT * FROM ${s}.records WHERE seq >= $1 AND seq <= $2 ORDER BY seq LIMIT $3`, [expectedSeq, headRow.seq, PAGE])
    ).rows;
    if (page.length === 0) break;
    for (const row of page) {
      if (row.seq !== expectedSeq) {
        return broken({ seq: row.seq, kind: row.kind, problem: 'sequence', expected: `seq ${expectedSeq}`, stored: `seq ${row.seq}` });
      }
      const hash = linkHash(prev, row.seq, {
        kind: row.kind,
        at: row.at,
        sessionId: row.session_id,
        ref: row.ref,
        subject: row.subject,
        traceId: row.trace_id,
        body: row.body,
      });
      if (hash !== row.hash) return broken({ seq: row.seq, kind: row.kind, problem: 'hash', expected: hash, stored: row.hash });
      if (row.kind === RecordKind.Prune) lastPrune = { seq: row.seq, target: (JSON.parse(row.body) as { checkpoint: ChainHead }).checkpoint };
      prev = row.hash;
      expectedSeq++;
      checked++;
    }
  }
  const last: ChainHead = { seq: expectedSeq - 1, hash: prev };
  // A row above the head is on no link either (with no head row, every row is above it).
  // Head and rows read in one statement (one snapshot): a record appended meanwhile moved
  // the head in the same transaction.
  const above = (
    await pool.query<{ seq: number; kind: string }>(
      `SELECT seq, kind FROM ${s}.records WHERE seq > coalesce((SELECT seq FROM ${s}.chain_head WHERE id = 1), 0) ORDER BY seq LIMIT 1`,
    )
  ).rows[0];
  if (above) {
    return broken({ seq: above.seq, kind: above.kind, problem: 'sequence', expected: `no record after the head row's seq`, stored: `seq ${above.seq}` });
  }
  if (last.seq !== headRow.seq || last.hash !== headRow.hash) {
    return broken({
      seq: Math.min(last.seq + 1, headRow.seq),
      kind: 'head',
      problem: 'sequence',
      expected: `the chain to end at the head row's seq ${headRow.seq} (${headRow.hash})`,
      stored: `the records end at seq ${last.seq} (${last.hash})`,
    });
  }
  if (checkpoint) {
    const announced = lastPrune?.target ?? null;
    const plausible =
      announced !== null && (checkpoint.seq < announced.seq || (checkpoint.seq === announced.seq && checkpoint.hash === announced.hash));
    if (!plausible) {
      return broken({
        seq: checkpoint.seq,
        kind: 'checkpoint',
        problem: 'checkpoint',
        expected: announced ? `at most seq ${announced.seq} (${announced.hash})` : 'no checkpoint (no prune record)',
        stored: `seq ${checkpoint.seq} (${checkpoint.hash})`,
      });
    }
  }
  return { ok: true, checked, from, head: last };
}

function toStored(row: RecordRow): StoredRecord {
  return { seq: row.seq, kind: row.kind, at: row.at, body: JSON.parse(row.body) as unknown };
}
