// Taking a secret apart in SQL, over a real proxy (SPEC section 5, policy/derivation.ts):
// the demo's OpenAI key, planted in a step of the showcase trace, cut into two pieces
// that no detector recognises. The agent is refused (42501) before the statement reaches
// the upstream; the security reviewer (maskingExempt) runs the very same statement, which
// shows it is real SQL that returns the pieces; the agent's legitimate JSONB read of the
// tool calls still works, masked.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type pg from 'pg';
import { PLANTED, SHOWCASE_TRACE_ID } from '../../../src/demo/planted.js';
import { getToken, testEnv } from '../../helpers/env.js';
import { upstreamLog } from '../../helpers/postgres.js';
import { startTestProxy, type TestProxy } from '../../helpers/proxy.js';

const OPENAI_KEY = PLANTED.find((p) => p.kind === 'openai-key')?.value ?? '';

// The statement from the report, verbatim but for a marker to find it in the upstream log.
const DEMO_ATTACK = (marker: string): string =>
  `SELECT substr(content, strpos(content,'OPENAI_API_KEY=')+15, 12), substr(content, strpos(content,'OPENAI_API_KEY=')+27, 12) ` +
  `FROM trace_steps WHERE trace_id='${SHOWCASE_TRACE_ID}' AND strpos(content,'OPENAI_API_KEY=')>0 /* ${marker} */`;

let proxy: TestProxy;
let agent: string;
let reviewer: string;
beforeAll(async () => {
  proxy = await startTestProxy();
  [agent, reviewer] = await Promise.all([getToken('agent-a'), getToken('reviewer')]);
});
afterAll(async () => proxy.close());

async function outcome(client: pg.Client, sql: string, values?: unknown[]): Promise<{ code?: string; message: string; rows?: unknown[][] }> {
  return client.query({ text: sql, values, rowMode: 'array' }).then(
    (r) => ({ message: 'allowed', rows: r.rows as unknown[][] }),
    (e: unknown) => ({ code: (e as { code?: string }).code, message: (e as Error).message }),
  );
}

function leaked(rows: unknown): string[] {
  const text = JSON.stringify(rows);
  return PLANTED.filter((p) => text.includes(p.needle)).map((p) => `${p.kind}: ${p.needle}`);
}

describe('a secret taken apart in SQL', () => {
  test('the demo attack is refused with 42501 and never reaches the upstream', async () => {
    const client = await proxy.connect(agent);
    const marker = `m_${randomUUID().replace(/-/g, '')}`;
    const r = await outcome(client, DEMO_ATTACK(marker));
    expect(r.code).toBe('42501');
    expect(r.message).toMatch(/function (substr|strpos) over public\.trace_steps\.content/);
    expect(r.message).toMatch(/decision [0-9a-f-]{36}/);
    expect(await upstreamLog(testEnv().pg, marker)).toEqual([]);
  });

  test('the same statement is real SQL that returns the pieces, to a maskingExempt reviewer only', async () => {
    const client = await proxy.connect(reviewer);
    const r = await outcome(client, DEMO_ATTACK('reviewer'));
    expect(r.code).toBeUndefined();
    const pieces = (r.rows ?? []).flat().map(String);
    expect(pieces.length).toBeGreaterThan(0);
    expect(OPENAI_KEY.startsWith(pieces.join(''))).toBe(true);
  });

  test.each([
    ['spaces between the characters', `SELECT regexp_replace(content, '(.)', '\\1 ', 'g') FROM trace_steps WHERE trace_id = $1`],
    ['base64', `SELECT encode(convert_to(content, 'UTF8'), 'base64') FROM trace_steps WHERE trace_id = $1`],
    ['a pattern oracle in WHERE', `SELECT step FROM trace_steps WHERE trace_id = $1 AND content LIKE '%OPENAI_API_KEY=sk-D%'`],
    ['a subquery that slices, selected bare outside', `SELECT x.p FROM (SELECT split_part(content, 'sk-', 2) AS p FROM trace_steps WHERE trace_id = $1) x`],
    ['upper-casing a JSON string', `SELECT upper(c->'arguments'->'auth'->'headers'->>'authorization') FROM trace_steps s, jsonb_array_elements(s.tool_calls) c WHERE s.trace_id = $1`],
  ])('%s is refused with 42501 (extended protocol)', async (_name, sql) => {
    const client = await proxy.connect(agent);
    const r = await outcome(client, sql, [SHOWCASE_TRACE_ID]);
    expect(r.code).toBe('42501');
    expect(r.message).toMatch(/over public\.trace_steps\.(content|tool_calls)/);
  });

  test('a legitimate JSONB read of the tool calls still works, masked', async () => {
    const client = await proxy.connect(agent);
    const r = await client.query(
      `SELECT s.step, c->>'name' AS tool, c->'arguments'->>'query' AS query, c->'arguments'->'auth' AS auth, jsonb_typeof(c->'arguments') AS kind
         FROM trace_steps s, LATERAL jsonb_array_elements(s.tool_calls) c
        WHERE s.trace_id = $1 AND s.tool_calls @> '[{}]' AND s.step > 0
        ORDER BY s.step`,
      [SHOWCASE_TRACE_ID],
    );
    expect(r.rows.length).toBeGreaterThan(0);
    for (const row of r.rows as { tool: string; query: string; kind: string }[]) {
      expect(row.tool).toMatch(/\w/);
      expect(row.query).toMatch(/\w/);
      expect(row.kind).toBe('object');
    }
    // The bearer tokens and JWTs in the auth headers come back masked.
    expect(leaked(r.rows)).toEqual([]);
  });

  test('selecting the content itself works, and the key in it is masked', async () => {
    const client = await proxy.connect(agent);
    const r = await client.query(`SELECT step, content, length(content) AS n FROM trace_steps WHERE trace_id = $1 ORDER BY step`, [SHOWCASE_TRACE_ID]);
    expect(r.rows.length).toBeGreaterThan(0);
    expect(JSON.stringify(r.rows)).toContain('OPENAI_API_KEY=');
    expect(leaked(r.rows)).toEqual([]);
  });
});
