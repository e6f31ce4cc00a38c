// The LISTEN connection of an instance on a shared store is cut (the store restarted, a
// network blip, an operator's pg_terminate_backend): it reconnects by itself, runs the
// resync that catches up on whatever was notified meanwhile, and hears notifications
// again. Without this an instance would learn of revocations and approvals only by
// polling, seconds late.
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CHANNELS, channelName, PgListener } from '../../../src/store-pg/pg-listener.js';
import { pgClientConfig } from '../../helpers/env.js';
import { createStoreDatabase, eventually, type StoreDatabase } from './harness.js';

const SCHEMA = 'tracegate';
let store: StoreDatabase;

beforeAll(async () => {
  store = await createStoreDatabase();
});
afterAll(async () => store?.drop());

/** Ends the store's listening backends as a superuser would, and says how many. */
async function cutListeners(database: string): Promise<number> {
  const admin = new pg.Client(pgClientConfig('postgres'));
  await admin.connect();
  try {
    const r = await admin.query<{ ended: boolean }>(
      "SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity WHERE datname = $1 AND application_name = 'tracegate-listen'",
      [database],
    );
    return r.rows.filter((row) => row.ended).length;
  } finally {
    await admin.end();
  }
}

describe('the LISTEN connection', () => {
  test('reconnects after its backend is terminated, resyncs, and hears notifications again', async () => {
    const errors: string[] = [];
    const listener = new PgListener({ connection: { url: store.url }, schema: SCHEMA, onError: (_err, context) => errors.push(context) });
    const heard: string[] = [];
    let resyncs = 0;
    listener.on(CHANNELS.revocations, (payload) => heard.push(payload));
    listener.onResync(() => resyncs++);
    await listener.start();
    try {
      const channel = channelName(SCHEMA, CHANNELS.revocations);
      await store.query(`SELECT pg_notify($1, 'before')`, [channel]);
      await eventually(async () => (heard.includes('before') ? true : undefined), 'the first notification');
      expect(resyncs).toBe(1);

      expect(await cutListeners(store.database)).toBe(1);
      await eventually(async () => (resyncs === 2 && listener.isConnected ? true : undefined), 'the reconnect and its resync');
      expect(errors).toContain('the LISTEN connection to the store was lost; reconnecting');

      await store.query(`SELECT pg_notify($1, 'after')`, [channel]);
      await eventually(async () => (heard.includes('after') ? true : undefined), 'a notification after the reconnect');
      expect(heard).toEqual(['before', 'after']);
    } finally {
      await listener.close();
    }
    // Closed: no connection left listening, and none coming back after the backoff.
    await sleep(300);
    expect(await cutListeners(store.database)).toBe(0);
  });
});
