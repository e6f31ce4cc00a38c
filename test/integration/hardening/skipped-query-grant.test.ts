// A simple Query pipelined behind an extended-protocol message that the upstream fails,
// before the Sync: Postgres skips everything up to the Sync, the Query included
// (postgres.c: ignore_till_sync), so the Query never runs. Its request was admitted
// (decision recorded, single-use grant issued) when the relay forwarded it. The relay
// must end that request when the upstream skips it, as it does for a skipped Execute:
// otherwise its grant stays live after the batch is answered, and when its TTL runs out
// the expiry cancels whatever the session runs at that moment (57014), a statement the
// grant never covered.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serialize } from 'pg-protocol';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { WELL_KNOWN_TRACES } from '../../../src/demo/generate.js';
import { getToken } from '../../helpers/env.js';
import { DEFAULT_POLICY, startTestProxy, type TestProxy } from '../../helpers/proxy.js';
import { RawSession, summarise } from '../foundation/raw-session.js';

const TRACE = WELL_KNOWN_TRACES.agentALow;
const READ = `SELECT trace_id FROM traces WHERE trace_id = '${TRACE}'`;
const GRANT_TTL_MS = 2_000;

let proxy: TestProxy;
let dir: string;
let token: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tracegate-skipped-query-'));
  // The default policy with a short grant TTL for the agents' rule.
  const policy = readFileSync(DEFAULT_POLICY, 'utf8').replace(/grantTtl: 30s/, `grantTtl: ${GRANT_TTL_MS / 1000}s`);
  expect(policy).toContain(`grantTtl: ${GRANT_TTL_MS / 1000}s`);
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, policy);
  proxy = await startTestProxy({ policyFile: file });
  token = await getToken('agent-a');
});
afterAll(async () => {
  await proxy?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('a Query the upstream skips after a failed Bind leaves no live grant behind to cancel a later statement', async () => {
  const s = await RawSession.login(proxy.port, token);
  const before = new Set(proxy.proxy.grants.active().map((g) => g.id));
  // Bind supplies two values for one parameter: Postgres fails the Bind, then skips the
  // Query (a trace read, admitted with a grant) up to the Sync.
  s.send(
    serialize.parse({ name: '', text: 'SELECT trace_id FROM traces WHERE trace_id = $1', types: [] }),
    serialize.bind({ portal: '', statement: '', values: [TRACE, 'extra'] }),
    serialize.query(READ),
    serialize.sync(),
  );
  const batch = await s.untilReady();
  expect(batch.map((m) => m.type)).toEqual(['ParseComplete', 'ErrorResponse', 'ReadyForQuery']);
  expect(summarise(batch).error?.code).toBe('08P01');

  // Everything the client sent has been answered: no grant of this session may be live.
  const live = proxy.proxy.grants.active().filter((g) => !before.has(g.id));
  expect(live).toEqual([]);

  // The client may run more; a long housekeeping statement that spans the old TTL must
  // not be cancelled by a grant it never had.
  const started = Date.now();
  s.send(serialize.query('SELECT count(*) FROM generate_series(1, 50000000) g'));
  const long = summarise(await s.until((m) => m.type === 'ReadyForQuery', 50_000));
  expect(long.error).toBeUndefined();
  expect(long.rows).toEqual([['50000000']]);
  // It did run past the moment the stale grant would have expired.
  expect(Date.now() - started).toBeGreaterThan(GRANT_TTL_MS);
  s.send(serialize.end());
}, 60_000);
