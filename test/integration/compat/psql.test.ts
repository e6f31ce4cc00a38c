// psql (PostgreSQL 15's, Debian postgresql-client) as a real process through tracegate:
// a login, a read with a psql variable, a denial and the session after it, the describe
// meta-commands agents use to discover the schema (\dt, \d traces ...), and a session
// whose token expires.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionDetail } from '../../../src/audit/store.js';
import { getToken } from '../../helpers/env.js';
import { startTestProxy, type TestProxy } from '../../helpers/proxy.js';
import { available, endedBecauseExpired, MINE, PLANTED_IN_MINE, recording, REQUIRE_CLIENTS, runProgram, statementsOf, type ProgramOutput } from './harness.js';
import { Report } from './results.js';

const runnable = available('psql', ['--version']);
if (!runnable && REQUIRE_CLIENTS) throw new Error('psql is not installed: apt-get install postgresql-client');

interface Psql {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number | null;
}

describe.runIf(runnable)('psql', () => {
  const report = new Report('psql', 'psql', 'real process (Debian postgresql-client)', 'test/integration/compat/psql.test.ts');
  let proxy: TestProxy;
  let token: string;

  async function psql(script: string, opts: { token?: string; args?: readonly string[] } = {}): Promise<Psql> {
    const conninfo = `host=127.0.0.1 port=${proxy.port} user=agent-a dbname=traces sslmode=disable application_name=compat-psql`;
    const out: ProgramOutput = await runProgram('psql', ['-X', '-v', 'ON_ERROR_STOP=0', ...(opts.args ?? []), conninfo], {
      env: { PGPASSWORD: opts.token ?? token, PGCONNECT_TIMEOUT: '10' },
      input: script,
    });
    return { stdout: out.stdout, stderr: out.stderr, code: out.code };
  }

  beforeAll(async () => {
    proxy = await startTestProxy();
    token = await getToken('agent-a');
    const version = execFileSync('psql', ['--version']).toString().trim().replace(/^psql \(PostgreSQL\) /, '').split(' ')[0];
    report.version = `${version} (Debian postgresql-client)`;
  });

  afterAll(async () => {
    await proxy?.close();
    report.note('psql 15 has no \\bind: a psql variable (`:\'trace\'`) is interpolated as a quoted literal and sent as a simple Query. SQL-level PREPARE/EXECUTE is blocked by the policy.');
    report.note('The describe meta-commands are allowed by their exact PostgreSQL 15 psql text (policies/README.md, "psql describe queries"): `\\d`, `\\dt`, `\\dv`, `\\di`, `\\ds`, `\\dm` (with or without a pattern), `\\d NAME` for tables, `\\dn`. `\\d+` and `\\dt+` are refused (storage options, sizes), as are other psql versions\' texts until captured.');
    await report.publish(['\\dt', '\\d traces', '\\d trace_steps', '\\dn', '\\d+ traces is refused']);
  });

  it('logs in with an access token as the password', async () => {
    await report.check('login', 'PGPASSWORD=<token>; the server version is PostgreSQL\'s', async () => {
      const r = await psql('SELECT 1 AS one;\n', { args: ['-A', '-t'] });
      expect(r.stderr).toBe('');
      expect(r.stdout.trim()).toBe('1');
    });
  });

  it('reads one trace with a psql variable, masked', async () => {
    await report.check('read', "\\set trace tr_000001, then WHERE trace_id = :'trace' (a quoted literal, simple query)", async () => {
      const r = await psql(`\\set trace ${MINE}\nSELECT trace_id, user_email, summary FROM traces WHERE trace_id = :'trace';\n`, { args: ['-A', '-t', '-F', '\t'] });
      expect(r.stderr).toBe('');
      const [id, email, summary] = r.stdout.trim().split('\t');
      expect(id).toBe(MINE);
      expect(email).not.toContain('@');
      for (const planted of PLANTED_IN_MINE) expect(summary ?? '').not.toContain(planted);
    });
    report.set('prepared', 'n/a', 'psql 15 has no \\bind; SQL-level PREPARE/EXECUTE is blocked by the policy');
    report.set('binary', 'n/a', 'psql always asks for text results');
  });

  it('shows a denial as psql\'s ERROR with SQLSTATE 42501, and the session goes on', async () => {
    const r = await psql(
      `\\set VERBOSITY verbose\nSELECT trace_id, user_email FROM traces;\n\\echo sqlstate=:LAST_ERROR_SQLSTATE\nSELECT trace_id FROM traces WHERE trace_id = '${MINE}';\n`,
      { args: ['-A', '-t'] },
    );
    await report.check('denied', 'ERROR:  42501: … (decision <id>); :LAST_ERROR_SQLSTATE is 42501', () => {
      expect(r.stderr).toMatch(/ERROR:  42501: public\.traces is read without pinning trace_id/);
      expect(r.stdout).toContain('sqlstate=42501');
    });
    await report.check('usable', 'the next statement in the same psql session runs', () => {
      expect(r.stdout).toContain(MINE);
    });
  });

  describe('schema discovery with the describe meta-commands', () => {
    it('\\dt lists the tables', async () => {
      await report.extraCheck('\\dt', 'lists traces and trace_steps (and other tables\' names, as pg_class already showed)', async () => {
        const r = await psql('\\dt\n');
        expect(r.stderr).toBe('');
        expect(r.stdout).toMatch(/public \| traces\s+\| table/);
        expect(r.stdout).toMatch(/public \| trace_steps\s+\| table/);
      });
    });

    it('\\d traces describes the table: columns, indexes, constraints, referencing keys', async () => {
      await report.extraCheck('\\d traces', 'columns, types, nullability, primary key, indexes, check constraint, "Referenced by"', async () => {
        const r = await psql('\\d traces\n');
        expect(r.stderr).toBe('');
        expect(r.stdout).toContain('Table "public.traces"');
        expect(r.stdout).toMatch(/trace_id\s+\| text\s+\|\s+\| not null/);
        expect(r.stdout).toMatch(/body\s+\| jsonb/);
        expect(r.stdout).toContain('"traces_pkey" PRIMARY KEY, btree (trace_id)');
        expect(r.stdout).toContain('Referenced by:');
      });
    });

    it('\\d trace_steps shows its foreign key', async () => {
      await report.extraCheck('\\d trace_steps', 'columns, primary key, "Foreign-key constraints"', async () => {
        const r = await psql('\\d trace_steps\n');
        expect(r.stderr).toBe('');
        expect(r.stdout).toContain('Table "public.trace_steps"');
        expect(r.stdout).toContain('FOREIGN KEY (trace_id) REFERENCES traces(trace_id)');
      });
    });

    it('\\dn lists the schemas', async () => {
      await report.extraCheck('\\dn', 'lists public', async () => {
        const r = await psql('\\dn\n');
        expect(r.stderr).toBe('');
        expect(r.stdout).toMatch(/public\s+\|/);
      });
    });

    it('\\d+ is refused with a reason (storage options)', async () => {
      await report.extraCheck('\\d+ traces is refused', 'ERROR (42501) naming the catalog it may not read; \\d+ reads storage options', async () => {
        const r = await psql('\\set VERBOSITY verbose\n\\d+ traces\n');
        expect(r.stderr).toMatch(/ERROR: {2}42501: .*(is not readable|is never readable)/);
      });
    });

    it('reads no rows through them: the recording shows only catalog reads', async () => {
      const rec = await recording(proxy);
      let sessions: SessionDetail[];
      try {
        sessions = await rec.sessions((all) => all.every((s) => s.session.endedAt !== null));
      } finally {
        await rec.close();
      }
      const described = statementsOf(sessions).filter((s) => s.reason.includes('psql \\d:'));
      expect(described.length).toBeGreaterThan(10);
      for (const s of described) expect(s).toMatchObject({ decision: 'allow', traceId: null, grantId: null });
    });
  });

  it('ends an expired session with FATAL 28000; a new psql with a fresh token works', async () => {
    const expiring = await getToken('agent-a', { expiresIn: 2 });
    const r = await psql(`SELECT 'before' AS phase;\n\\! sleep 2.6\nSELECT 'after' AS phase;\n`, { token: expiring, args: ['-A', '-t'] });
    await report.check('expiry', 'psql prints "FATAL:  token expired: reconnect with a fresh access token" and, running a script, exits (connection lost, status 2); a new psql with a fresh token works', async () => {
      expect(r.stdout).toContain('before');
      expect(r.stdout).not.toContain('after');
      expect(r.stderr).toMatch(/FATAL: {2}token expired/);
      expect(r.code).toBe(2);
      const again = await psql(`SELECT trace_id FROM traces WHERE trace_id = '${MINE}';\n`, { token: await getToken('agent-a'), args: ['-A', '-t'] });
      expect(again.stdout.trim()).toBe(MINE);
      const rec = await recording(proxy);
      try {
        expect(endedBecauseExpired(await rec.sessions(endedBecauseExpired))).toBe(true);
      } finally {
        await rec.close();
      }
    });
  });
});
