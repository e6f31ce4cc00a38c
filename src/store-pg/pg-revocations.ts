// Revocations shared by every instance through the store. Each instance keeps its own
// RevocationList (revocation/revocations.ts) as the in-memory view the login path and
// the admin API read synchronously; this class keeps it in step with the `revocations`
// table:
//
//   revoke on A ── A's list (ends A's sessions at once) ── INSERT + NOTIFY (retried until stored)
//                                                                │
//   B: LISTEN tracegate_revocations ── SELECT by seq ── B's list.adopt ── ends B's sessions
//
// Missed notifications (B's LISTEN connection was down) are caught up by polling for
// rows with a seq above the last one seen, every `pollMs` and after each reconnect.
// At start the revocations still in force are loaded before the instance listens.
import type pg from 'pg';
import type { Revocation, RevocationList, RevocationTarget } from '../revocation/revocations.js';
import { CHANNELS, channelName, type PgListener } from './pg-listener.js';
import { quoteSchema } from './pg-schema.js';

export interface PgRevocationSyncOptions {
  readonly pool: pg.Pool;
  readonly schema: string;
  readonly listener: PgListener;
  readonly list: RevocationList;
  readonly now?: () => number;
  /** Default 2000. */
  readonly pollMs?: number;
  readonly onError?: (err: unknown, context: string) => void;
}

interface RevocationRow {
  seq: number;
  id: string;
  kind: RevocationTarget['kind'];
  target: string;
  reason: string;
  by_subject: string;
  at: number;
  until: number;
}

export class PgRevocationSync {
  private readonly s: string;
  private readonly channel: string;
  private readonly now: () => number;
  private lastSeq = 0;
  /** Ids this instance knows already (made here, or adopted): never applied twice. */
  private readonly known = new Set<string>();
  private readonly unpublished: Revocation[] = [];
  private publishing = false;
  private polling: Promise<void> | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private readonly stops: (() => void)[] = [];

  constructor(private readonly options: PgRevocationSyncOptions) {
    this.s = quoteSchema(options.schema);
    this.channel = channelName(options.schema, CHANNELS.revocations);
    this.now = options.now ?? Date.now;
  }

  async start(): Promise<void> {
    const { list, listener } = this.options;
    this.stops.push(
      list.subscribe((event) => {
        if (event.type !== 'revoked' || this.known.has(event.revocation.id)) return;
        // Made on this instance: in force here already, now for everyone else.
        this.known.add(event.revocation.id);
        this.unpublished.push(event.revocation);
        void this.publish();
      }),
      listener.on(CHANNELS.revocations, () => void this.poll()),
      listener.onResync(() => void this.poll()),
    );
    // Only what is still in force matters at start; history is in the audit trail. The
    // high-water mark is read first: anything stored after it is left to poll().
    this.lastSeq = (await this.options.pool.query<{ seq: number | null }>(`SELECT max(seq) AS seq FROM ${this.s}.revocations`)).rows[0]?.seq ?? 0;
    const rows = (
      await this.options.pool.query<RevocationRow>(`SELECT * FROM ${this.s}.revocations WHERE until > $1 AND seq <= $2 ORDER BY seq`, [this.now(), this.lastSeq])
    ).rows;
    for (const row of rows) this.adopt(row);
    this.pollTimer = setInterval(() => void this.poll(), this.options.pollMs ?? 2_000);
    this.pollTimer.unref();
  }

  /** Catches up with every revocation stored since the last one seen. */
  poll(): Promise<void> {
    if (this.polling) return this.polling.then(() => this.poll());
    this.polling = (async () => {
      try {
        const rows = (
          await this.options.pool.query<RevocationRow>(`SELECT * FROM ${this.s}.revocations WHERE seq > $1 ORDER BY seq`, [this.lastSeq])
        ).rows;
        for (const row of rows) {
          this.lastSeq = Math.max(this.lastSeq, row.seq);
          this.adopt(row);
        }
      } catch (err) {
        this.options.onError?.(err, 'polling the shared revocations');
      }
    })().finally(() => {
      this.polling = null;
    });
    return this.polling;
  }

  private adopt(row: RevocationRow): void {
    if (this.known.has(row.id)) return;
    this.known.add(row.id);
    const target: RevocationTarget =
      row.kind === 'subject' ? { kind: 'subject', subject: row.target } : row.kind === 'session' ? { kind: 'session', sessionId: row.target } : { kind: 'jti', jti: row.target };
    this.options.list.adopt({ id: row.id, target, reason: row.reason, by: row.by_subject, at: row.at, until: row.until });
  }

  /** Stores this instance's revocations in order; retried every 500 ms while the store is down. */
  private async publish(): Promise<void> {
    if (this.publishing) return;
    this.publishing = true;
    try {
      while (this.unpublished.length > 0) {
        const r = this.unpublished[0] as Revocation;
        try {
          await this.options.pool.query(
            `WITH ins AS (
               INSERT INTO ${this.s}.revocations (id, kind, target, reason, by_subject, at, until)
               VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING RETURNING seq)
             SELECT pg_notify($8, coalesce((SELECT seq::text FROM ins), ''))`,
            [r.id, r.target.kind, targetValue(r.target), r.reason, r.by, r.at, r.until, this.channel],
          );
          this.unpublished.shift();
        } catch (err) {
          this.options.onError?.(err, `revocation ${r.id} is in force here but not yet shared; retrying`);
          await new Promise((resolve) => setTimeout(resolve, 500).unref());
          if (this.pollTimer === null && this.stops.length === 0) return;
        }
      }
    } finally {
      this.publishing = false;
    }
  }

  /** Waits (at most `maxMs`) until every local revocation is stored (tests, shutdown). */
  async settled(maxMs = 2_000): Promise<boolean> {
    const until = Date.now() + maxMs;
    while (this.unpublished.length > 0 || this.publishing) {
      if (Date.now() >= until) return false;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return true;
  }

  async close(): Promise<void> {
    for (const stop of this.stops.splice(0)) stop();
    if (this.pollTimer !== null) clearInterval(this.pollTimer);
    this.pollTimer = null;
    await this.polling;
  }
}

function targetValue(target: RevocationTarget): string {
  switch (target.kind) {
    case 'subject':
      return target.subject;
    case 'session':
      return target.sessionId;
    case 'jti':
      return target.jti;
  }
}
