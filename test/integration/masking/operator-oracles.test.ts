// Operators and JSON over detector-scanned columns (policy/derivation.ts), siblings of
// derivation-bypass*.test.ts: agent-a reads its OWN trace (allowed) and must get no
// planted secret back, whole or in a piece a program can put back together, neither in
// rows nor in an error message. Each statement must either be denied by the policy
// (42501) or leave no piece of a planted secret in what the client receives.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { PLANTED, SHOWCASE_TRACE_ID } from '../../../src/demo/planted.js';
import { getToken } from '../../helpers/env.js';
import { startTestProxy, type TestProxy } from '../../helpers/proxy.js';

const TRACE = SHOWCASE_TRACE_ID;

let proxy: TestProxy;
let agent: string;
beforeAll(async () => {
  proxy = await startTestProxy();
  agent = await getToken('agent-a');
});
afterAll(async () => proxy.close());

/** The last 24 characters of each planted secret: a piece no detector recognises alone. */
function leakedTails(output: string): string[] {
  return PLANTED.filter((p) => p.needle.length > 24 && output.includes(p.needle.slice(-24))).map((p) => `${p.kind}: ...${p.needle.slice(-24)}`);
}

/** Runs `sql` as agent-a: denied by policy, or everything the client got (rows, or the error's fields). */
async function outcome(sql: string): Promise<{ denied: boolean; text: string }> {
  const client = await proxy.connect(agent);
  try {
    const r = await client.query({ text: sql, values: [TRACE], rowMode: 'array' });
    return { denied: false, text: JSON.stringify(r.rows) };
  } catch (err) {
    const e = err as Error & { code?: string; detail?: string; where?: string; hint?: string };
    if (e.code === '42501') return { denied: true, text: '' };
    return { denied: false, text: [e.message, e.detail, e.hint, e.where].filter(Boolean).join('\n') };
  } finally {
    await client.end();
  }
}

describe('a bare name cast to json/jsonb in the select list parses text as JSON', () => {
  // select-analyzer.ts takes `x::json` / `x::jsonb` as a whole select-list item over a
  // bare name for a whole-row form (WHOLE_ROW_CASTS) and records a use of x alone, so the
  // cast is never checked (derivation.ts castOf refuses json/jsonb over a scanned value:
  // the parse error quotes the input it stopped at). With x a subquery's ARRAY[content]::text,
  // the array's text {"... OPENAI_API_KEY=sk-DEMO...u1v2"} fails at its closing brace, and the
  // error's CONTEXT quotes the 47 characters before it: all of the key but 'sk-D', which no
  // detector recognises.
  const steps = [1, 2, 3, 4, 5, 6];
  test.each(steps)('jsonb, content of step %i', async (step) => {
    const { denied, text } = await outcome(
      `SELECT x::jsonb FROM (SELECT ARRAY[content]::text AS x FROM trace_steps WHERE trace_id = $1 AND step = ${step}) q`,
    );
    if (denied) return;
    expect(leakedTails(text)).toEqual([]);
  });
  test.each(steps)('json, content of step %i', async (step) => {
    const { denied, text } = await outcome(
      `SELECT x::json FROM (SELECT ARRAY[content]::text AS x FROM trace_steps WHERE trace_id = $1 AND step = ${step}) q`,
    );
    if (denied) return;
    expect(leakedTails(text)).toEqual([]);
  });
  test('jsonb, the summary', async () => {
    const { denied, text } = await outcome(`SELECT x::jsonb FROM (SELECT ARRAY[summary]::text AS x FROM traces WHERE trace_id = $1) q`);
    if (denied) return;
    expect(leakedTails(text)).toEqual([]);
  });
  test('a column itself', async () => {
    const { denied, text } = await outcome(`SELECT content::jsonb FROM trace_steps WHERE trace_id = $1 ORDER BY step`);
    if (denied) return;
    expect(leakedTails(text)).toEqual([]);
  });
});
