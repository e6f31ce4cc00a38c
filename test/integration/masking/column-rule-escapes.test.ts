// Column rules hold however a ruled value leaves, with values no detector recognises.
// The trace here is agent-a's own (allowed to read), inserted for this file: its
// user_email is no email and its body's $.credentials and $.user.email hold a username,
// a password and a mailbox name, none of which a detector matches. So whatever comes
// back unmasked here came back because a column rule was lost on the way.
//
// A subquery's or WITH query's `*` (or `t.*`) carries a ruled table's whole row; packed
// into the subquery's row (to_jsonb(x), json_agg(x), row_to_json(q)) its columns take
// the names of the subquery's column aliases (x(a, b, c ...)), so the JSON keys the
// masker applies the rules by (user_email, body) are gone.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { getToken, pgClientConfig } from '../../helpers/env.js';
import { startTestProxy, type TestProxy } from '../../helpers/proxy.js';

const MINE = 'tr_900001';
const USER_EMAIL = 'Mailbox-Kestrel-Quartz-9';
const USERNAME = 'svc-deployer-kestrel';
const PASSWORD = 'Tr0ub4dor-Horse-Battery';
const MAILBOX = 'Zq-User-Mailbox-Kestrel';
const BODY = { user: { email: MAILBOX, name: 'x' }, credentials: { username: USERNAME, password: PASSWORD }, model: 'demo-llm-2' };
/** What must never come back: the user_email beyond its last four characters, and the ruled body values. */
const SECRETS = [USER_EMAIL.slice(0, -4), USERNAME, PASSWORD, MAILBOX];

let proxy: TestProxy;
let agent: string;

async function superuser(sql: string, params: unknown[]): Promise<void> {
  const db = new pg.Client(pgClientConfig());
  await db.connect();
  try {
    await db.query(sql, params);
  } finally {
    await db.end();
  }
}

beforeAll(async () => {
  await superuser('DELETE FROM traces WHERE trace_id = $1', [MINE]);
  await superuser(
    `INSERT INTO traces (trace_id, agent_id, user_email, risk, created_at, summary, body) VALUES ($1, 'agent-a', $2, 'low', '2025-01-01T00:00:00Z', 'column rule escapes', $3)`,
    [MINE, USER_EMAIL, JSON.stringify(BODY)],
  );
  proxy = await startTestProxy();
  agent = await getToken('agent-a');
});
afterAll(async () => {
  await proxy?.close();
  await superuser('DELETE FROM traces WHERE trace_id = $1', [MINE]);
});

/** The rows as JSON text (binary values as latin1), or the SQLSTATE of the refusal. */
async function outcome(sql: string, binary = false): Promise<string> {
  const client = await proxy.connect(agent);
  try {
    const raw = { getTypeParser: () => (v: unknown) => v };
    const q = binary ? { text: sql, rowMode: 'array' as const, binary: true, queryMode: 'extended' as const, types: raw } : { text: sql, rowMode: 'array' as const, types: raw };
    const { rows } = await client.query(q);
    return JSON.stringify(rows.map((r: unknown[]) => r.map((v) => (Buffer.isBuffer(v) ? v.toString('latin1') : v))));
  } catch (err) {
    return `error ${(err as { code?: string }).code}`;
  } finally {
    await client.end();
  }
}

function expectMasked(out: string): void {
  for (const s of SECRETS) expect(out).not.toContain(s);
  if (out.startsWith('error')) expect(out).toBe('error 42501');
}

describe('column rules of a whole row packed in a subquery or WITH query row', () => {
  const cases = [
    `SELECT to_jsonb(x) FROM (SELECT * FROM traces WHERE trace_id = '${MINE}') x(a, b, c, d, e, f, g)`,
    `SELECT to_jsonb(x) FROM (SELECT t.* FROM traces t WHERE t.trace_id = '${MINE}') x(a, b, c, d, e, f, g)`,
    `SELECT json_agg(x) FROM (SELECT * FROM traces WHERE trace_id = '${MINE}') x(a, b, c, d, e, f, g)`,
    `SELECT to_jsonb(x.*) FROM (SELECT * FROM traces WHERE trace_id = '${MINE}') x(a, b, c, d, e, f, g)`,
    `SELECT jsonb_agg(x.*) FROM (SELECT * FROM traces WHERE trace_id = '${MINE}') x(a, b, c, d, e, f, g)`,
    `WITH q(a, b, c, d, e, f, g) AS (SELECT * FROM traces WHERE trace_id = '${MINE}') SELECT row_to_json(q) FROM q`,
    `SELECT to_jsonb(y) FROM (SELECT x.* FROM (SELECT * FROM traces WHERE trace_id = '${MINE}') x(a, b, c, d, e, f, g)) y`,
    `SELECT x.j FROM (SELECT to_json(y) AS j FROM (SELECT * FROM traces WHERE trace_id = '${MINE}') y(a, b, c, d, e, f, g)) x`,
  ];
  test.each(cases)('text format: %s', async (sql) => expectMasked(await outcome(sql)));
  test.each(cases)('binary format: %s', async (sql) => expectMasked(await outcome(sql, true)));
});

describe('the ruled values themselves', () => {
  test('come back masked as bare columns and whole rows', async () => {
    const bare = await outcome(`SELECT user_email, body FROM traces WHERE trace_id = '${MINE}'`);
    expect(bare).toContain(`****${USER_EMAIL.slice(-4)}`);
    expect(bare).toContain('[redacted]');
    expectMasked(bare);
    expectMasked(await outcome(`SELECT to_jsonb(t) FROM traces t WHERE t.trace_id = '${MINE}'`));
    expectMasked(await outcome(`SELECT t FROM traces t WHERE t.trace_id = '${MINE}'`, true));
    // Expanded, the aliased columns keep their origin (RowDescription), and their rules.
    const expanded = await outcome(`SELECT x.* FROM (SELECT * FROM traces WHERE trace_id = '${MINE}') x(a, b, c, d, e, f, g)`);
    expect(expanded).toContain('[redacted]');
    expectMasked(expanded);
  });
});
