// The shared integration environment is what every other test stands on: this proves it
// is what it claims. Real SCRAM-only Postgres with the demo data and planted secrets, a
// proxy role that CAN read customers (so only the proxy's policy keeps agents out), a
// statement log that sees what ran, and a dev issuer that issues real JWTs.

import { randomUUID } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import pg from 'pg';
import { describe, expect, test } from 'vitest';
import { DEMO_CUSTOMERS, WELL_KNOWN_TRACES } from '../../../src/demo/generate.js';
import { NEAR_MISSES, PLANTED, SHOWCASE_TRACE_ID } from '../../../src/demo/planted.js';
import { getToken, pgClientConfig, testEnv } from '../../helpers/env.js';
import { upstreamLog, upstreamStatements } from '../../helpers/postgres.js';

async function withClient<T>(config: pg.ClientConfig, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client(config);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

function proxyConfig(): pg.ClientConfig {
  const env = testEnv().pg;
  return { host: env.host, port: env.port, user: env.proxyUser, password: env.proxyPassword, database: env.database };
}

describe('upstream postgres', () => {
  test('holds 1,000 traces with owners, risks and several steps each', async () => {
    const stats = await withClient(pgClientConfig(), async (c) => (await c.query(`
      SELECT count(*)::int AS traces,
             count(*) FILTER (WHERE risk = 'high')::int AS high,
             count(*) FILTER (WHERE agent_id = 'agent-a')::int AS agent_a,
             (SELECT min(n) FROM (SELECT count(*) AS n FROM trace_steps GROUP BY trace_id) s)::int AS min_steps,
             avg(octet_length(body::text))::int AS avg_body
      FROM traces`)).rows[0]);
    expect(stats.traces).toBe(1000);
    expect(stats.high).toBeGreaterThan(50);
    expect(stats.agent_a).toBeGreaterThan(300);
    expect(stats.min_steps).toBeGreaterThanOrEqual(3);
    expect(stats.avg_body).toBeGreaterThan(1500);
  });

  test('well-known traces have the owners and risks tests rely on', async () => {
    const rows = await withClient(pgClientConfig(), async (c) =>
      (await c.query('SELECT trace_id, agent_id, risk FROM traces WHERE trace_id = ANY($1) ORDER BY trace_id', [Object.values(WELL_KNOWN_TRACES)])).rows);
    const byId = new Map(rows.map((r) => [r.trace_id, `${r.agent_id}/${r.risk}`]));
    expect(byId.get(WELL_KNOWN_TRACES.agentALow)).toBe('agent-a/low');
    expect(byId.get(WELL_KNOWN_TRACES.agentAHigh)).toBe('agent-a/high');
    expect(byId.get(WELL_KNOWN_TRACES.agentBLow)).toBe('agent-b/low');
    expect(byId.get(WELL_KNOWN_TRACES.agentBHigh)).toBe('agent-b/high');
  });

  test('the showcase trace carries every planted secret and near miss, deep in JSON too', async () => {
    const text = await withClient(pgClientConfig(), async (c) => {
      const t = await c.query('SELECT t::text AS row FROM traces t WHERE trace_id = $1', [SHOWCASE_TRACE_ID]);
      const s = await c.query('SELECT string_agg(s::text, E\'\\n\') AS rows FROM trace_steps s WHERE trace_id = $1', [SHOWCASE_TRACE_ID]);
      return `${t.rows[0].row}\n${s.rows[0].rows}`;
    });
    for (const p of PLANTED) expect(text, p.kind).toContain(p.needle);
    for (const m of NEAR_MISSES) expect(text, m.kind).toContain(m.value);
  });

  test('the proxy role logs in with SCRAM and can read all three tables, customers included', async () => {
    await withClient(proxyConfig(), async (c) => {
      const customers = await c.query('SELECT email, api_key FROM customers ORDER BY id');
      expect(customers.rows.map((r) => r.api_key)).toEqual(DEMO_CUSTOMERS.map((r) => r.api_key));
      await expect(c.query('INSERT INTO customers VALUES (99, $1, $2)', ['x@y.z', 'k'])).rejects.toThrow(/permission denied/);
      await expect(c.query('SELECT rolpassword FROM pg_authid')).rejects.toThrow(/permission denied/);
    });
    const stored = await withClient(pgClientConfig(), async (c) =>
      (await c.query('SELECT rolpassword, rolsuper FROM pg_authid WHERE rolname = $1', [testEnv().pg.proxyUser])).rows[0]);
    expect(stored.rolpassword).toMatch(/^SCRAM-SHA-256\$4096:/);
    expect(stored.rolsuper).toBe(false);
  });

  test('refuses a wrong password', async () => {
    await expect(withClient({ ...proxyConfig(), password: 'wrong' }, async () => undefined)).rejects.toThrow(/password authentication failed/);
  });

  test('the statement log shows what ran, and nothing that did not', async () => {
    const marker = `harness_${randomUUID().replaceAll('-', '')}`;
    await withClient(proxyConfig(), async (c) => {
      await c.query(`SELECT count(*) FROM traces /* ${marker} simple */`);
      await c.query(`SELECT count(*) FROM traces WHERE trace_id = $1 /* ${marker} extended */`, ['tr_000001']);
    });
    const ran = await upstreamStatements(testEnv().pg, marker);
    expect(ran).toEqual([
      `SELECT count(*) FROM traces /* ${marker} simple */`,
      `SELECT count(*) FROM traces WHERE trace_id = $1 /* ${marker} extended */`,
    ]);
    expect(await upstreamLog(testEnv().pg, `never_${marker}`)).toEqual([]);
  });
});

describe('dev issuer', () => {
  test('issues RFC 9068 JWT access tokens with groups over client_credentials', async () => {
    const { oidc } = testEnv();
    const token = await getToken('reviewer');
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'RS256', typ: 'at+jwt', kid: oidc.privateJwk.kid });
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({ iss: oidc.issuer, aud: oidc.audience, sub: 'reviewer', groups: ['security'] });
    expect(typeof claims.jti).toBe('string');
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBe(600);
    const short = decodeJwt(await getToken('admin', { expiresIn: 5 }));
    expect((short.exp ?? 0) - (short.iat ?? 0)).toBe(5);
    expect(short.groups).toEqual(['tracegate-admins', 'security']);
  });

  test('refuses a wrong client secret', async () => {
    const { oidc } = testEnv();
    const basic = Buffer.from('agent-a:not-the-secret').toString('base64');
    const res = await fetch(oidc.tokenEndpoint, {
      method: 'POST',
      headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    expect(res.status).toBe(401);
  });
});
