// One dedicated connection per instance that LISTENs on the store's channels and hands
// each notification's payload to its handler. A pooled connection cannot LISTEN (it goes
// back to the pool), hence the separate pg.Client.
//
// Notifications are a fast path, not the truth: NOTIFY is lost while this connection is
// down, so after every (re)connect `onResync` runs, and the users of this class also
// poll every few seconds (pg-revocations.ts, pg-approvals.ts). Reconnects back off from
// 100 ms to 5 s and never give up while the instance runs.
import pg from 'pg';
import { pgConfig, type PgStoreConnection } from './pg-pool.js';

export const CHANNELS = {
  revocations: 'tracegate_revocations',
  approvals: 'tracegate_approvals',
} as const;
export type Channel = (typeof CHANNELS)[keyof typeof CHANNELS];

export interface PgListenerOptions {
  readonly connection: PgStoreConnection;
  /** Channels are global to the database; the schema prefixes them so two stores in one database do not mix. */
  readonly schema: string;
  readonly onError?: (err: unknown, context: string) => void;
}

export function channelName(schema: string, channel: Channel): string {
  return schema === 'tracegate' ? channel : `${channel}_${schema}`;
}

export class PgListener {
  private client: pg.Client | null = null;
  private readonly handlers = new Map<string, Set<(payload: string) => void>>();
  private readonly resyncs = new Set<() => void>();
  private closed = false;
  private backoffMs = 100;
  private timer: NodeJS.Timeout | null = null;
  private connected = false;

  constructor(private readonly options: PgListenerOptions) {}

  get isConnected(): boolean {
    return this.connected;
  }

  on(channel: Channel, handler: (payload: string) => void): () => void {
    const name = channelName(this.options.schema, channel);
    let set = this.handlers.get(name);
    if (!set) {
      set = new Set();
      this.handlers.set(name, set);
    }
    set.add(handler);
    return () => set.delete(handler);
  }

  /** Runs after every (re)connect: catch up on whatever was notified while down. */
  onResync(fn: () => void): () => void {
    this.resyncs.add(fn);
    return () => this.resyncs.delete(fn);
  }

  /** Resolves once listening (the first attempt); later failures reconnect by themselves. */
  async start(): Promise<void> {
    await this.connect();
  }

  private async connect(): Promise<void> {
    const client = new pg.Client(pgConfig(this.options.connection, 'tracegate-listen'));
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client, new Error('the store connection ended')));
    client.on('notification', (msg) => {
      const set = this.handlers.get(msg.channel);
      if (!set) return;
      for (const handler of set) {
        try {
          handler(msg.payload ?? '');
        } catch (err) {
          this.options.onError?.(err, `handling a ${msg.channel} notification`);
        }
      }
    });
    try {
      await client.connect();
      for (const name of this.handlers.keys()) await client.query(`LISTEN ${name}`);
    } catch (err) {
      // Not this.client yet, so lost() ignores it: end it here, or each failed attempt
      // would leave a connection behind.
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
      throw err;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.connected = true;
    this.backoffMs = 100;
    for (const fn of this.resyncs) fn();
  }

  private lost(client: pg.Client, err: unknown): void {
    if (this.client !== client) return;
    this.client = null;
    this.connected = false;
    client.removeAllListeners('end');
    void client.end().catch(() => undefined);
    if (this.closed) return;
    this.options.onError?.(err, 'the LISTEN connection to the store was lost; reconnecting');
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.timer !== null || this.closed) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, 5_000);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connect().catch((err: unknown) => {
        this.options.onError?.(err, 'reconnecting the LISTEN connection failed');
        this.scheduleReconnect();
      });
    }, delay);
    this.timer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    const client = this.client;
    this.client = null;
    this.connected = false;
    if (client) {
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
    }
  }
}
