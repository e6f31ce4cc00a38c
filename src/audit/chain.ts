// The tamper-evidence chain. Every record's hash covers its predecessor's hash and a
// canonical encoding of everything stored for it, so altering, removing or inserting a
// record breaks the link at (or right after) that record:
//
//   header = JSON.stringify([seq, kind, at, sessionId, ref, subject, traceId])
//   hash   = hex( SHA-256( UTF-8( prevHash + header + body ) ) )
//
// Hashes are lowercase hex strings, stored as text. The concatenation is unambiguous:
// the previous hash is 64 characters and the header is a JSON
// array, which ends where its brackets balance. `body` is the record's canonical JSON
// (canonical-json.ts); stores keep it byte-exact (text, never a re-serialising type such
// as jsonb). The first record after genesis links to 64 zeros; after a prune, to the
// checkpoint (the last pruned record). One chain per store, in insertion order: `seq` is
// assigned inside the write transaction as the previous seq + 1, never reused.
import { hash } from 'node:crypto';
import type { BrokenLink, ChainHead } from './store.js';

export const GENESIS_HASH = '0'.repeat(64);

/** The columns a record is stored with; `body` is canonical JSON. */
export interface ChainRecord {
  readonly kind: string;
  readonly at: number;
  readonly sessionId: string | null;
  readonly ref: string | null;
  readonly subject: string | null;
  readonly traceId: string | null;
  readonly body: string;
}

export function linkHash(prevHash: string, seq: number, record: ChainRecord): string {
  const header = JSON.stringify([
    seq,
    record.kind,
    record.at,
    record.sessionId,
    record.ref,
    record.subject,
    record.traceId,
  ]);
  // One-shot hashing of one string: measurably cheaper than a Hash object per record.
  return hash('sha256', prevHash + header + record.body, 'hex');
}

/** The broken link a record stored at or before the chain's start is. */
export function outsideChain(row: { seq: number; kind: string }, from: ChainHead): BrokenLink {
  return {
    seq: row.seq,
    kind: row.kind,
    problem: 'sequence',
    expected: from.seq === 0 ? 'the first record at seq 1' : `no record at or before the checkpoint's seq ${from.seq}`,
    stored: `seq ${row.seq}`,
  };
}
