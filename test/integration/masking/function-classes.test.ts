// Function classes in the derivation check (policy/derivation.ts RULES): a function the
// rule table calls 'carry' (the value reaches the masker whole, inside JSON at worst)
// may still compare the values it is given. agent-a reads its OWN trace (allowed); each
// statement must either be denied by the policy (42501) or come back with no planted
// secret recoverable from it.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { PLANTED, SHOWCASE_TRACE_ID } from '../../../src/demo/planted.js';
import { getToken } from '../../helpers/env.js';
import { startTestProxy, type TestProxy } from '../../helpers/proxy.js';
import { leaked, runAs, unreverse } from './harness.js';

const TRACE = SHOWCASE_TRACE_ID;

let proxy: TestProxy;
let agent: string;
beforeAll(async () => {
  proxy = await startTestProxy();
  agent = await getToken('agent-a');
});
afterAll(async () => proxy.close());

const returned = (sql: string): Promise<{ denied: boolean; values: string[] }> => runAs(proxy, agent, sql, [TRACE]);

describe('a jsonb object sorts its keys: a scanned key among keys of the statement\'s own is a range oracle', () => {
  // derivation.ts: jsonb_build_object, jsonb_object, jsonb_object_agg and jsonb_set/
  // jsonb_insert (whose path's last element becomes a key) are 'carry' functions: the
  // value reaches the masker whole, as a key. But jsonb stores an object's keys sorted
  // (shorter first, then byte by byte) and returns them in that order, and the masker
  // replaces a key's text, not its place: jsonb_build_object(V, 0, G, 1) lists 0 first
  // exactly when V sorts before the guess G of the same length. `$.*` reads the first
  // value; a recursive query runs the search itself, and one statement reads the value.
  // (jsonb_set replaces the guess's value when the guess is V itself: the last character
  // is then read one too low.)
  // G is the prefix so far, a character, and chr(1) up to V's length: G sorts first iff that character is at most V's next.
  const extract = (first: (v: string, g: string) => string, target: string, step: number): string => `
    WITH RECURSIVE r(p, n) AS (
      SELECT ''::text, 0
      UNION ALL
      SELECT r.p || chr(m.g), r.n + 1
        FROM r, LATERAL (
          SELECT max(g.g) AS g
            FROM generate_series(9, 126) AS g(g)
           WHERE (SELECT ${first(target, `rpad(r.p || chr(g.g), length(${target}), chr(1))`)}
                    FROM trace_steps s WHERE s.trace_id = $1 AND s.step = ${step})
        ) m
       WHERE m.g IS NOT NULL AND r.n < 1000
    )
    SELECT reverse(p) FROM r ORDER BY n DESC LIMIT 1`;
  const JWT = "s.tool_calls #>> '{0,arguments,auth,headers,authorization}'";

  test.each([
    ['jsonb_build_object over a tool call (service JWT)', extract((v, g) => `jsonb_path_query_first(jsonb_build_object(${v}, 0, ${g}, 1), '$.*') = '1'`, JWT, 2)],
    ['jsonb_build_object over trace_steps.content (OpenAI key)', extract((v, g) => `jsonb_path_query_first(jsonb_build_object(${v}, 0, ${g}, 1), '$.*') = '1'`, 's.content', 4)],
    ['jsonb_object over a tool call (service JWT)', extract((v, g) => `jsonb_path_query_first(jsonb_object(ARRAY[${v}, 'a', ${g}, 'b']), '$.*') = '"b"'`, JWT, 2)],
    ['jsonb_set with a scanned path (service JWT)', extract((v, g) => `jsonb_path_query_first(jsonb_set(jsonb_build_object(${g}, 1), ARRAY[${v}], '0'), '$.*') = '1'`, JWT, 2)],
    [
      'jsonb_object_agg over a UNION ALL (service JWT)',
      extract((v, g) => `(SELECT jsonb_path_query_first(jsonb_object_agg(x.k, x.o), '$.*') FROM (SELECT ${v} AS k, 0 AS o UNION ALL SELECT ${g}, 1) x) = '1'`, JWT, 2),
    ],
  ])('%s', async (_name, sql) => {
    const { denied, values } = await returned(sql);
    if (denied) return;
    expect(leaked(values.map(unreverse).join('\n'), true)).toEqual([]);
  });
});

describe('an encoding name is cut to 63 bytes: an error quotes the cut value', () => {
  // derivation.ts: length is a 'destroy' function at every argument, but length(bytea,
  // name)'s second argument is an encoding name: text becomes a `name`, which keeps its
  // first 63 bytes, and the error quotes them (`invalid encoding name "eyJhbGciOiJSUzI1
  // NiIsImtpZCI6ImRlbW8tMSJ9.eyJpc3MiOiJodHRwczovL2"`): a cut secret the detectors miss,
  // as a varchar(63) cast would return it (and that cast is refused).
  test.each([
    ['a tool call (service JWT)', "SELECT length('x'::bytea, tool_calls #>> '{0,arguments,auth,headers,authorization}') FROM trace_steps WHERE trace_id = $1 AND step = 2"],
    ['a tool call cast to bytea (service JWT)', "SELECT length((tool_calls #>> '{0,arguments,auth,headers,authorization}')::bytea, tool_calls #>> '{0,arguments,auth,headers,authorization}') FROM trace_steps WHERE trace_id = $1 AND step = 2"],
  ])('%s', async (_name, sql) => {
    const client = await proxy.connect(agent);
    try {
      const message = await client.query({ text: sql, values: [TRACE] }).then(
        () => '',
        (e: Error & { code?: string }) => (e.code === '42501' ? '' : e.message),
      );
      // Any 40 characters of a planted secret, in clear.
      const pieces = PLANTED.flatMap((p) => (p.value.length >= 40 ? [p.value.slice(0, 40)] : []));
      expect(pieces.filter((piece) => message.includes(piece))).toEqual([]);
    } finally {
      await client.end();
    }
  });
});
