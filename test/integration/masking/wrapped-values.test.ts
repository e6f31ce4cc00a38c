// Secrets inside values the policy lets through whole come back masked however they are
// wrapped: arrays, records, JSON, and nestings of them, in text and binary formats. A
// table of this file's own (owned by agent-a) holds the secrets; each shape is read
// through the proxy as agent-a and must not carry a secret in clear. The bare value is
// read too, as the baseline the wrapped forms are compared with.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { getToken } from '../../helpers/env.js';
import { ownedTraceTable, type OwnedTable } from '../../helpers/owned-table.js';
import type { TestProxy } from '../../helpers/proxy.js';

const TABLE = `wrapped_values_${process.pid}`;
const AWS = 'AKIAIOSFODNN7EXAMPLE';
const OPENAI = 'sk-' + 'Zq9'.repeat(15); // sk- + 45: 48 characters
const CARD = '4111111111111111';
const EMAIL = 'kestrel.quartz@example.com';
const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJrZXN0cmVsIn0.c2lnbmF0dXJlLXF1YXJ0ei1rZXN0cmVs';
/** What must never come back (a JSON \u escape spells "A" of the AWS key id in a json column). */
const SECRETS = [AWS, AWS.slice(1), OPENAI.slice(3), CARD, EMAIL, JWT.slice(4)];

// content: a text with a secret beside quotes, backslashes, commas, braces and spaces;
// doc: json as written, escapes kept (\u0041 for the A of AKIA, \/ in a path);
// docb: jsonb.
const ROWS: Array<[string, string, string, string]> = [
  ['w1', `a "quoted" ${OPENAI} \\ back, {brace} (${EMAIL})`, `{"k": "\\u0041KIAIOSFODNN7EXAMPLE", "p": "a\\/b"}`, `{"k": "${AWS}"}`],
  ['w2', `"${CARD}"\\`, `["\\u0073k-${'Zq9'.repeat(15)}", "${JWT}"]`, `["x\\"y ${JWT}"]`],
  ['w3', `${AWS}`, `"\\u0041KIAIOSFODNN7EXAMPLE"`, `"${EMAIL}"`],
  // A JSON "\n" right before a secret: doubled by each level of quoting ("\\n"), its
  // letter must not be read as the secret's first character.
  ['w4', `line\\nsk-x`, `{"log": "line\\n${OPENAI}\\t${AWS}\\r${JWT}"}`, `{"log": "line\\n${OPENAI}\\n${AWS}\\n${CARD}"}`],
];

let owned: OwnedTable | undefined;
let proxy: TestProxy;
let agent: string;

beforeAll(async () => {
  owned = await ownedTraceTable(
    TABLE,
    'trace_id text PRIMARY KEY, owner text, content text, doc json, docb jsonb',
    ROWS.map(([id, content, doc, docb]) => [id, 'agent-a', content, doc, docb]),
  );
  proxy = owned.proxy;
  agent = await getToken('agent-a');
});
afterAll(async () => owned?.close());

/** The rows as JSON text (binary values as latin1), or the SQLSTATE of a refusal. */
async function outcome(sql: string, binary: boolean): Promise<string> {
  const client = await proxy.connect(agent);
  try {
    const raw = { getTypeParser: () => (v: unknown) => v };
    const q = binary ? { text: sql, rowMode: 'array' as const, binary: true, queryMode: 'extended' as const, types: raw } : { text: sql, rowMode: 'array' as const, types: raw };
    const { rows } = await client.query(q);
    return JSON.stringify(rows.map((r: unknown[]) => r.map((v) => (Buffer.isBuffer(v) ? v.toString('latin1') : v))));
  } catch (err) {
    return `error ${(err as { code?: string }).code} ${(err as Error).message}`;
  } finally {
    await client.end();
  }
}

const W = `FROM ${TABLE} t WHERE trace_id = $$ID$$`;
const SHAPES = [
  'SELECT content', 'SELECT doc', 'SELECT docb',
  'SELECT ARRAY[content]', 'SELECT ARRAY[content, content]', 'SELECT ARRAY[[content], [content]]',
  "SELECT '[0:0]={x}'::text[] || ARRAY[content]",
  'SELECT ARRAY[doc]', 'SELECT ARRAY[docb]', 'SELECT ARRAY[doc::text]',
  'SELECT ROW(content)', "SELECT ROW(content, '', NULL::text, 'a,(b)')", 'SELECT ROW(doc)', 'SELECT ROW(docb)',
  'SELECT ROW(ARRAY[content])', 'SELECT ROW(ARRAY[doc])', 'SELECT ROW(ARRAY[docb])',
  'SELECT ROW(ROW(content))', 'SELECT ROW(ROW(doc))', 'SELECT ROW(ROW(ROW(doc)))',
  'SELECT ARRAY[ROW(doc)]', 'SELECT ARRAY[ROW(ARRAY[doc])]', 'SELECT ROW(ARRAY[ROW(doc)])',
  'SELECT to_json(content)', 'SELECT to_jsonb(content)', 'SELECT json_build_array(content, doc)',
  'SELECT to_json(ARRAY[doc])', 'SELECT ARRAY[to_json(content)]', 'SELECT ROW(to_json(content))',
  'SELECT ROW(ARRAY[to_json(content)])',
  'SELECT ROW(doc)::text', 'SELECT ARRAY[doc]::text', 'SELECT to_json(ROW(doc)::text)', 'SELECT ARRAY[ROW(doc)::text]',
  'SELECT t', 'SELECT ROW(t)', 'SELECT array_agg(t)',
];

describe.each([false, true])('binary %s', (binary) => {
  for (const shape of SHAPES) {
    for (const [id] of ROWS) {
      const sql = `${shape} ${W.replace('$$ID$$', `'${id}'`)}`;
      test(sql, async () => {
        const out = await outcome(sql, binary);
        for (const s of SECRETS) expect(out, out).not.toContain(s);
      });
    }
  }
});
