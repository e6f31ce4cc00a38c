// Verifying and pruning the SQLite store's chain (chain.ts explains the link).
//
// Prune keeps what remains verifiable: it first appends a `prune` record announcing the
// checkpoint (the last record to delete: its seq and hash), then deletes up to it in
// short transactions, moving the `checkpoint` row along, so the proxy's writer never
// waits long for the lock. Verify starts from the checkpoint; the first remaining record
// links to its hash, so the checkpoint is signed by the link that follows it, and it
// must not lie beyond what the latest prune record announced (a forged checkpoint that
// hides more than was pruned is a broken link).
//
// A hash chain without a secret proves integrity relative to a trusted head: removing
// the newest records, or rewriting the whole chain, is visible only against a head hash
// kept elsewhere (the verify report's `head`, or the hashes in a SIEM's export).
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type Database from 'better-sqlite3';
import { GENESIS_HASH, linkHash, outsideChain } from './chain.js';
import { pruneRecord, RecordKind } from './records.js';
import type { SqliteConnection } from './sqlite-connection.js';
import type { BrokenLink, ChainHead, PruneReport, VerifyReport } from './store.js';

const VERIFY_PAGE = 2000;
const PRUNE_BATCH = 10_000;

interface ChainRow {
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

export async function verifyChain(connection: () => Database.Database): Promise<VerifyReport> {
  const checkpoint = readCheckpoint(connection());
  const from: ChainHead = checkpoint
    ? { seq: checkpoint.seq, hash: checkpoint.hash }
    : { seq: 0, hash: GENESIS_HASH };
  let prev = checkpoint?.hash ?? GENESIS_HASH;
  let expectedSeq = from.seq + 1;
  let checked = 0;
  let lastPrune: { seq: number; target: ChainHead } | null = null;

  const broken = (link: BrokenLink): VerifyReport => ({ ok: false, checked, from, broken: link });
  // The walk starts after the checkpoint; a row at or before it (inserted below the
  // chain, or at a pruned seq) is on no link, yet `sessions show` would list it.
  const below = connection()
    .prepare<[number], { seq: number; kind: string }>('SELECT seq, kind FROM records WHERE seq <= ? ORDER BY seq LIMIT 1')
    .get(from.seq);
  if (below) return broken(outsideChain(below, from));
  for (;;) {
    const page = connection()
      .prepare<[number, number], ChainRow>('SELECT * FROM records WHERE seq >= ? ORDER BY seq LIMIT ?')
      .all(expectedSeq, VERIFY_PAGE);
    if (page.length === 0) break;
    for (const row of page) {
      if (row.seq !== expectedSeq) {
        return broken({
          seq: row.seq,
          kind: row.kind,
          problem: 'sequence',
          expected: `seq ${expectedSeq}`,
          stored: `seq ${row.seq}`,
        });
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
      if (hash !== row.hash) {
        return broken({
          seq: row.seq,
          kind: row.kind,
          problem: 'hash',
          expected: hash,
          stored: String(row.hash),
        });
      }
      if (row.kind === RecordKind.Prune) {
        lastPrune = { seq: row.seq, target: (JSON.parse(row.body) as { checkpoint: ChainHead }).checkpoint };
      }
      prev = row.hash;
      expectedSeq++;
      checked++;
    }
    await yieldToLoop();
  }
  if (checkpoint) {
    const announced = lastPrune?.target ?? null;
    const cpHex = checkpoint.hash;
    const plausible =
      announced !== null &&
      (checkpoint.seq < announced.seq || (checkpoint.seq === announced.seq && cpHex === announced.hash));
    if (!plausible) {
      return broken({
        seq: checkpoint.seq,
        kind: 'checkpoint',
        problem: 'checkpoint',
        expected: announced ? `at most seq ${announced.seq} (${announced.hash})` : 'no checkpoint (no prune record)',
        stored: `seq ${checkpoint.seq} (${cpHex})`,
      });
    }
  }
  return { ok: true, checked, from, head: { seq: expectedSeq - 1, hash: prev } };
}

/** Deletes the chain's prefix of records older than `before`; see the module comment. */
export async function pruneChain(conn: () => SqliteConnection, before: number, now: number): Promise<PruneReport> {
  const announced = conn().db.transaction((): ChainHead | null => {
    const db = conn().db;
    const start = readCheckpoint(db)?.seq ?? 0;
    const firstKept = db
      .prepare<[number], { seq: number | null }>('SELECT min(seq) AS seq FROM records WHERE at >= ?')
      .get(before)?.seq;
    const tail = conn().tail();
    const target = firstKept === null || firstKept === undefined ? tail.seq : firstKept - 1;
    if (target <= start) return null;
    const row = db.prepare<[number], { hash: string }>('SELECT hash FROM records WHERE seq = ?').get(target);
    if (!row) return null;
    const head = { seq: target, hash: row.hash };
    conn().append([pruneRecord(now, head, target - start, before)]);
    return head;
  }).immediate();
  if (announced === null) return { pruned: 0, checkpoint: null };

  let pruned = 0;
  for (;;) {
    const step = conn().db.transaction((): number => {
      const db = conn().db;
      const start = readCheckpoint(db)?.seq ?? 0;
      const upTo = Math.min(announced.seq, start + PRUNE_BATCH);
      if (upTo <= start) return 0;
      const row = db.prepare<[number], { hash: string }>('SELECT hash FROM records WHERE seq = ?').get(upTo);
      if (!row) throw new Error(`audit prune: record ${upTo} is missing`);
      const deleted = db.prepare('DELETE FROM records WHERE seq <= ?').run(upTo).changes;
      db.prepare(
        `INSERT INTO checkpoint (id, seq, hash, at) VALUES (1, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, at = excluded.at`,
      ).run(upTo, row.hash, now);
      return deleted;
    }).immediate();
    if (step === 0) break;
    pruned += step;
    await yieldToLoop();
  }
  return { pruned, checkpoint: announced };
}

function readCheckpoint(db: Database.Database): { seq: number; hash: string } | undefined {
  return db.prepare<[], { seq: number; hash: string }>('SELECT seq, hash FROM checkpoint WHERE id = 1').get();
}
