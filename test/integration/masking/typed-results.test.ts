// Values the policy takes for typed (a number, a timestamp ...) while Postgres returns
// text of the statement's own: a range comparison of a scanned value against one is an
// oracle (policy/derivation.ts). agent-a reads its OWN trace (allowed); each statement
// must be denied by the policy (42501) or come back with no planted secret recoverable.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SHOWCASE_TRACE_ID } from '../../../src/demo/planted.js';
import { getToken } from '../../helpers/env.js';
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

describe('percentile_disc() with a scanned fraction returns a WITHIN GROUP value of the statement\'s own', () => {
  // derivation.ts functionCall, 'ordered-set': with a scanned direct argument (the
  // fraction, s.step * 0 + 0.5) and no scanned ORDER BY value, the result is DESTROYED
  // (typed). But percentile_disc returns one of the ORDER BY values: here the guess,
  // text. `content >= <it>` passes the range check, and a recursive query reads the
  // whole OpenAI key in one statement.
  test('trace_steps.content (OpenAI key) in one statement', async () => {
    const sql = `
      WITH RECURSIVE r(p, n) AS (
        SELECT ''::text, 0
        UNION ALL
        SELECT r.p || chr(m.g), r.n + 1
          FROM r, LATERAL (
            SELECT max(g.g) AS g
              FROM trace_steps s, generate_series(9, 126) AS g(g)
             WHERE s.trace_id = $1 AND s.step = 4
               AND s.content COLLATE "C" >= (
                     SELECT percentile_disc(s.step * 0 + 0.5) WITHIN GROUP (ORDER BY v.x)
                       FROM (SELECT r.p || chr(g.g) AS x) v
                   ) COLLATE "C"
          ) m
         WHERE m.g IS NOT NULL AND r.n < 1000
      )
      SELECT reverse(p) FROM r ORDER BY n DESC LIMIT 1`;
    const { denied, text } = await recovered(sql);
    if (!denied) expect(leaked(text)).toEqual([]);
  });
});
