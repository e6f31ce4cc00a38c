// Masking bypasses through the detector-scanned-column policy (policy/derivation.ts):
// agent-a reads its OWN trace (allowed) and gets planted secrets back in a form the
// detectors do not recognise but a program turns back into the secret (here: reversed
// text). Each statement must either be denied by the policy (42501) or come back with no
// planted secret recoverable from it.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SHOWCASE_TRACE_ID } from '../../../src/demo/planted.js';
import { getToken } from '../../helpers/env.js';
import { ownedTraceTable, type OwnedTable } from '../../helpers/owned-table.js';
import { startTestProxy, type TestProxy } from '../../helpers/proxy.js';
import { leaked, recoveredAs } from './harness.js';

const TRACE = SHOWCASE_TRACE_ID;

let proxy: TestProxy;
let agent: string;
beforeAll(async () => {
  proxy = await startTestProxy();
  agent = await getToken('agent-a');
});
afterAll(async () => proxy.close());

const recovered = (sql: string): Promise<{ denied: boolean; text: string }> => recoveredAs(proxy, agent, sql, [TRACE]);

describe('a scanned value used as a jsonb_set / jsonb_insert path becomes a JSON key', () => {
  // derivation.ts: jsonb_set/jsonb_insert carry only arguments 0 and 2; a scanned path
  // (argument 1) makes the result "destroyed" (level 1), after which any text function
  // (reverse, substr, translate ...) is allowed on it. But the last path element becomes
  // a key of the result, verbatim.
  test.each([
    ['trace_steps.content via jsonb_set', "SELECT reverse(jsonb_set('{}'::jsonb, ARRAY[content], '1')::text) FROM trace_steps WHERE trace_id = $1 ORDER BY step"],
    ['trace_steps.content via jsonb_insert', "SELECT reverse(jsonb_insert('{}'::jsonb, ARRAY[content], '1')::text) FROM trace_steps WHERE trace_id = $1 ORDER BY step"],
    ['traces.summary via jsonb_set_lax', "SELECT reverse(jsonb_set_lax('{}'::jsonb, ARRAY[summary], '1')::text) FROM traces WHERE trace_id = $1"],
    [
      'trace_steps.tool_calls (JWT) via jsonb_set',
      "SELECT reverse(jsonb_set('{}'::jsonb, ARRAY[tool_calls #>> '{0,arguments,auth,headers,authorization}'], '1')::text) FROM trace_steps WHERE trace_id = $1 AND tool_calls IS NOT NULL",
    ],
  ])('%s', async (_name, sql) => {
    const { denied, text } = await recovered(sql);
    if (!denied) expect(leaked(text)).toEqual([]);
  });
});

describe('to_char / jsonb minus results are taken for typed values: range oracles against chosen text', () => {
  // derivation.ts: a function of kind destroy/arith (to_char, md5, ...) and an ARITH_OPS
  // operator (jsonb - int) with no scanned input return CLEAN_TYPED, so `content >=
  // to_char(0, '"guess"')` passes the range check meant to refuse `content >= 'guess'`.
  // A recursive query runs the binary search itself: one statement reads a whole value.
  const extractText = (target: string): string => `
    WITH RECURSIVE r(p, n) AS (
      SELECT ''::text, 0
      UNION ALL
      SELECT r.p || chr(m.g), r.n + 1
        FROM r, LATERAL (
          SELECT max(g.g) AS g
            FROM trace_steps s, generate_series(9, 126) AS g(g)
           WHERE s.trace_id = $1 AND s.step = 4
             AND ${target} COLLATE "C" >= to_char(0, '"' || replace(replace(r.p || chr(g.g), '\\', '\\\\'), '"', '\\"') || '"') COLLATE "C"
        ) m
       WHERE m.g IS NOT NULL AND r.n < 1000
    )
    SELECT reverse(p) FROM r ORDER BY n DESC LIMIT 1`;

  test('to_char(0, quoted guess): trace_steps.content (OpenAI key) in one statement', async () => {
    const { denied, text } = await recovered(extractText('s.content'));
    if (!denied) expect(leaked(text)).toEqual([]);
  });

  test('to_char(s.step, quoted guess) is a scanned value "of the data", not mixed', async () => {
    const sql = extractText('s.content').replace("to_char(0, '\"'", "to_char(s.step, '\"'");
    expect(sql).toContain('to_char(s.step,');
    const { denied, text } = await recovered(sql);
    if (!denied) expect(leaked(text)).toEqual([]);
  });

  test('jsonb minus an element: trace_steps.tool_calls (service JWT) in one statement', async () => {
    const sql = `
      WITH RECURSIVE r(p, n) AS (
        SELECT ''::text, 0
        UNION ALL
        SELECT r.p || chr(m.g), r.n + 1
          FROM r, LATERAL (
            SELECT max(g.g) AS g
              FROM trace_steps s, generate_series(32, 126) AS g(g)
             WHERE s.trace_id = $1 AND s.step = 2
               AND jsonb_build_array(s.tool_calls #> '{0,arguments,auth,headers,authorization}')
                   >= (('[' || to_jsonb(r.p || chr(g.g))::text || ', 0]')::jsonb - 1)
          ) m
         WHERE m.g IS NOT NULL AND r.n < 1000
      )
      SELECT reverse(p) FROM r ORDER BY n DESC LIMIT 1`;
    const { denied, text } = await recovered(sql);
    if (!denied) expect(leaked(text)).toEqual([]);
  });
});

describe('casts to time/timetz quote the value lower-cased in their error', () => {
  // derivation.ts DESTROYING_CASTS counts time and timetz as casts "whose errors quote the
  // value whole". For a value the time parser reads as a time zone name (an IBAN, an AWS
  // key id, many API keys), Postgres answers `time zone "de89370400440532013000" not
  // recognized`: lower-cased, which the case-sensitive detectors miss, and upper() undoes
  // (IBANs and AWS key ids are upper-case). The demo's own traces keep such values only
  // in masked columns (traces.body) or prose, so agent-a's own trace in a table of this
  // test's (other test files share the demo tables) holds a tool call with them whole,
  // as an agent's tool arguments would.
  const TABLE = `tz_steps_${process.pid}`;
  const IBAN = 'DE89370400440532013000';
  const AWS = 'AKIAJ7Q3ZDEMO2XY4ZQW';
  let owned: OwnedTable | undefined;
  let own: TestProxy;
  beforeAll(async () => {
    owned = await ownedTraceTable(TABLE, 'trace_id text, step int, owner text, tool_calls jsonb, PRIMARY KEY (trace_id, step)', [['mine', 1, 'agent-a', JSON.stringify([{ name: 'wire', arguments: { iban: IBAN, aws_access_key_id: AWS } }])]]);
    own = owned.proxy;
  });
  afterAll(async () => owned?.close());

  test.each([
    ['iban as time', `SELECT (tool_calls #>> '{0,arguments,iban}')::time FROM ${TABLE} WHERE trace_id = $1`, IBAN],
    ['iban as timetz', `SELECT (tool_calls #>> '{0,arguments,iban}')::timetz FROM ${TABLE} WHERE trace_id = $1`, IBAN],
    ['aws key id as time', `SELECT (tool_calls #>> '{0,arguments,aws_access_key_id}')::time FROM ${TABLE} WHERE trace_id = $1`, AWS],
    ['aws key id as a date_part unit', `SELECT date_part(tool_calls #>> '{0,arguments,aws_access_key_id}', now()) FROM ${TABLE} WHERE trace_id = $1`, AWS],
    ['iban as a date_trunc unit', `SELECT date_trunc(tool_calls #>> '{0,arguments,iban}', now()) FROM ${TABLE} WHERE trace_id = $1`, IBAN],
  ])('%s', async (_name, sql, secret) => {
    // The step really holds the secret, and selecting it masks it.
    const client = await own.connect(agent);
    try {
      const plain = await client.query({ text: `SELECT tool_calls FROM ${TABLE} WHERE trace_id = $1`, values: ['mine'] });
      expect(plain.rows).toHaveLength(1);
      expect(JSON.stringify(plain.rows)).not.toContain(secret);
      const err = await client.query(sql, ['mine']).then(
        () => undefined,
        (e: unknown) => e as Error & { code?: string; detail?: string },
      );
      expect(err).toBeDefined();
      if (err?.code === '42501') return; // denied by policy: fine
      expect(`${err?.message} ${err?.detail ?? ''}`.toUpperCase()).not.toContain(secret);
    } finally {
      await client.end();
    }
  });
});
