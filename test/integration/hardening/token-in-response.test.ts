// The token is never recorded (SPEC 1.2, 6): a token a client pastes into SQL text, a
// bound parameter or an error message is stored as [jwt sha256:...] (token-scrub.ts).
// The recorded response is stored too: an error that echoes a bound parameter, and a
// row that echoes one, must not put the session's token in the store either, including
// for a masking-exempt rule (security reviewers), whose responses skip the detectors.
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { WELL_KNOWN_TRACES } from '../../../src/demo/generate.js';
import { getToken } from '../../helpers/env.js';
import { startTestProxy, type TestProxy } from '../../helpers/proxy.js';
import { endedSession, sessionIdByApplication, STORE_FILE } from '../recording/harness.js';

const MINE = WELL_KNOWN_TRACES.agentALow;

let proxy: TestProxy;
beforeAll(async () => {
  proxy = await startTestProxy();
});
afterAll(async () => {
  await proxy?.close();
});

test('a reviewer whose read echoes its own token: the recording holds no token', async () => {
  const token = await getToken('reviewer');
  const client = new pg.Client(proxy.clientConfig(token, { application_name: 'token-in-response' }));
  await client.connect();
  const echoed = await client.query('SELECT trace_id, $2::text AS echo FROM traces WHERE trace_id = $1', [MINE, token]);
  expect(echoed.rows[0]?.echo).toBe(token);
  const failed = await client.query('SELECT trace_id, $2::int AS n FROM traces WHERE trace_id = $1', [MINE, token]).then(
    () => null,
    (err: { code?: string; message: string }) => err,
  );
  expect(failed?.code).toBe('22P02');
  await client.end();

  const store = join(proxy.dir, STORE_FILE);
  const detail = await endedSession(store, await sessionIdByApplication(store, 'token-in-response'));
  const recorded = JSON.stringify(detail);
  // The statement records are scrubbed (text, parameters, the completion's error)...
  expect(recorded).toContain('[jwt sha256:');
  // ...and so must the recorded responses be.
  const signature = token.split('.')[2] ?? '';
  expect(signature.length).toBeGreaterThan(20);
  const where = detail.statements.flatMap((s) => s.response.filter((e) => JSON.stringify(e).includes(signature)).map((e) => `${s.text}: ${e.type}`));
  expect(where).toEqual([]);
  expect(recorded).not.toContain(signature);
});
