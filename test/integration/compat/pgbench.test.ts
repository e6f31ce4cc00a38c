// pgbench (PostgreSQL 15's, Debian postgresql-contrib) as a real process through
// tracegate with custom point-read scripts (test/compat-fixtures/pgbench/) in each query
// mode. Its built-in TPC-B-like run, writes included, is the monitor-mode conformance
// run in monitor-mode.test.ts.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionDetail } from '../../../src/audit/store.js';
import { getToken } from '../../helpers/env.js';
import { startTestProxy, type TestProxy } from '../../helpers/proxy.js';
import { available, endedBecauseExpired, FIXTURES, MINE, recording, REQUIRE_CLIENTS, runProgram, statementsOf, type ProgramOutput } from './harness.js';
import { Report } from './results.js';

const runnable = available('pgbench', ['--version']);
if (!runnable && REQUIRE_CLIENTS) throw new Error('pgbench is not installed: apt-get install postgresql-contrib');

const SCRIPTS = join(FIXTURES, 'pgbench');
const CLIENTS = 2;
const TRANSACTIONS = 10;

/** "number of transactions actually processed: 20/20" → [20, 20]. */
function processed(out: string): [number, number] | null {
  const m = /number of transactions actually processed: (\d+)\/(\d+)/.exec(out);
  return m ? [Number(m[1]), Number(m[2])] : null;
}

describe.runIf(runnable)('pgbench', () => {
  const report = new Report('pgbench', 'pgbench', 'real process (Debian postgresql-contrib)', 'test/integration/compat/pgbench.test.ts');
  let proxy: TestProxy;
  let token: string;

  function pgbench(args: readonly string[], tokenValue = token): Promise<ProgramOutput> {
    const conninfo = `host=127.0.0.1 port=${proxy.port} user=agent-a dbname=traces sslmode=disable application_name=compat-pgbench`;
    return runProgram('pgbench', ['-n', ...args, conninfo], { env: { PGPASSWORD: tokenValue } });
  }

  async function sessions(ready: (all: readonly SessionDetail[]) => boolean = () => true): Promise<SessionDetail[]> {
    const rec = await recording(proxy);
    try {
      return await rec.sessions(ready);
    } finally {
      await rec.close();
    }
  }

  beforeAll(async () => {
    proxy = await startTestProxy();
    token = await getToken('agent-a');
    report.version = `${execFileSync('pgbench', ['--version']).toString().trim().replace(/^pgbench \(PostgreSQL\) /, '').split(' ')[0]} (Debian postgresql-contrib)`;
  });

  afterAll(async () => {
    await proxy?.close();
    report.note('The point-read scripts are in test/compat-fixtures/pgbench/. In -M simple pgbench pastes the variable into the statement\'s text (`WHERE trace_id = \':trace\'`); in -M extended and -M prepared it binds it as $1.');
    await report.publish(['-M extended']);
  });

  it('logs in and runs the point-read script (-M simple)', async () => {
    const out = await pgbench(['-M', 'simple', '-c', String(CLIENTS), '-t', String(TRANSACTIONS), '-D', `trace=${MINE}`, '-f', join(SCRIPTS, 'point-read-simple.sql')]);
    await report.check('login', `PGPASSWORD=<token>, ${CLIENTS} clients`, () => {
      expect(out.stderr).not.toMatch(/FATAL|ERROR/);
    });
    await report.check('read', `-M simple: ${CLIENTS}×${TRANSACTIONS} point reads, all processed (the variable pasted into a string literal)`, () => {
      expect(processed(out.stdout), out.stdout + out.stderr).toEqual([CLIENTS * TRANSACTIONS, CLIENTS * TRANSACTIONS]);
      expect(out.code).toBe(0);
    });
  });

  it('runs it with a bound parameter (-M extended)', async () => {
    const out = await pgbench(['-M', 'extended', '-c', String(CLIENTS), '-t', String(TRANSACTIONS), '-D', `trace=${MINE}`, '-f', join(SCRIPTS, 'point-read.sql')]);
    await report.extraCheck('-M extended', `${CLIENTS}×${TRANSACTIONS} point reads, $1 bound (unnamed statement)`, () => {
      expect(processed(out.stdout), out.stdout + out.stderr).toEqual([CLIENTS * TRANSACTIONS, CLIENTS * TRANSACTIONS]);
    });
  });

  it('runs it as a prepared statement (-M prepared)', async () => {
    const out = await pgbench(['-M', 'prepared', '-c', String(CLIENTS), '-t', String(TRANSACTIONS), '-D', `trace=${MINE}`, '-f', join(SCRIPTS, 'point-read.sql')]);
    await report.check('prepared', `-M prepared: ${CLIENTS}×${TRANSACTIONS} point reads through one named statement per connection`, () => {
      expect(processed(out.stdout), out.stdout + out.stderr).toEqual([CLIENTS * TRANSACTIONS, CLIENTS * TRANSACTIONS]);
    });
    report.set('binary', 'n/a', 'pgbench always asks for text results');
    // Every read was its own single-use grant, recorded as a read of that one trace.
    const reads = statementsOf(await sessions()).filter((s) => s.traceId === MINE);
    expect(reads.length).toBeGreaterThanOrEqual(3 * CLIENTS * TRANSACTIONS);
    for (const s of reads) expect(s.grantId).not.toBeNull();
  });

  it('aborts the client on a denial, with the 42501 message', async () => {
    const out = await pgbench(['-c', '1', '-t', '1', '-f', join(SCRIPTS, 'bulk-read.sql')]);
    await report.check('denied', 'pgbench prints "client 0 script 0 aborted in command 0 query 0: ERROR:  public.traces is read without pinning…" (it shows no SQLSTATE; the recording has 42501)', async () => {
      expect(out.stderr).toMatch(/aborted in command 0 query 0: ERROR: {2}public\.traces is read without pinning trace_id/);
      const refused = statementsOf(await sessions()).filter((s) => s.text.startsWith('SELECT trace_id, user_email FROM traces'));
      expect(refused.length).toBe(1);
      expect(refused[0]).toMatchObject({ decision: 'deny', sqlstate: '42501' });
    });
    report.set('usable', 'n/a', 'pgbench ends a client at its first error, by design');
  });

  it('stops at the token\'s expiry (FATAL 28000); a run with a fresh token works', async () => {
    const expiring = await getToken('agent-a', { expiresIn: 2 });
    // Throttled (-R): the default policy allows 120 trace reads a minute per agent.
    const out = await pgbench(['-M', 'prepared', '-c', '1', '-T', '4', '-R', '5', '-D', `trace=${MINE}`, '-f', join(SCRIPTS, 'point-read.sql')], expiring);
    await report.check('expiry', 'the run\'s client is aborted with "FATAL:  token expired: reconnect with a fresh access token"; a new run with a fresh token works', async () => {
      expect(out.stderr).toMatch(/FATAL: {2}token expired/);
      const again = await pgbench(['-M', 'prepared', '-c', '1', '-t', '5', '-D', `trace=${MINE}`, '-f', join(SCRIPTS, 'point-read.sql')], await getToken('agent-a'));
      expect(processed(again.stdout)).toEqual([5, 5]);
      expect(endedBecauseExpired(await sessions(endedBecauseExpired))).toBe(true);
    });
  });
});
