// The suite for a client driven as a real process by a compatibility program (Python,
// Java): the program runs once against a fresh proxy and prints what its driver did;
// each test below judges one check from those lines and from the proxy's recording, and
// the results go to the compatibility table (results.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionDetail } from '../../../src/audit/store.js';
import { NOT_ENTITLED } from '../../../src/policy/decision.js';
import { startTestProxy, type TestProxy } from '../../helpers/proxy.js';
import {
  BULK_SQL,
  compatTask,
  endedBecauseExpired,
  errorSummary,
  MINE,
  PLANTED_IN_MINE,
  recordedValues,
  recording,
  REQUIRE_CLIENTS,
  statementsOf,
  traceReadFormats,
  type CompatTask,
  type Line,
  type ProgramOutput,
} from './harness.js';
import { Report } from './results.js';

export interface ProgramClientSpec {
  readonly id: string;
  readonly name: string;
  /** The test file, for the table. */
  readonly source: string;
  readonly how: string;
  /** Whether the client can run here, and what to say when it cannot. */
  readonly available: () => boolean;
  readonly missing: string;
  /** Seconds the expiring token lives: long enough for the program to log in with it. */
  readonly expiresIn: number;
  /** Work before the tokens are minted (compiling the program), so it cannot eat their lifetime. */
  readonly prepare?: () => void | Promise<void>;
  /** Runs the program against the task. */
  readonly run: (task: CompatTask) => Promise<ProgramOutput>;
  readonly version: (login: Line) => string;
  /** The driver's own class for a 42501 error. */
  readonly denialClass: RegExp;
  /** null: the driver has no server-side prepared statements (why). */
  readonly prepared: string | null;
  /** null: the driver never asks for binary results (why). */
  readonly binary: string | null;
  readonly expiry: {
    /** The driver's class for the FATAL that ends an expired session. */
    readonly errorClass: RegExp;
    /** Whether the driver exposes the FATAL's SQLSTATE (28000). */
    readonly exposesSqlstate: boolean;
    readonly note?: string;
  };
  /** Extra lines the program prints that must be ok (e.g. transaction), with a label. */
  readonly extra?: readonly { readonly check: string; readonly name: string }[];
  readonly notes?: readonly string[];
}

const masked = (email: string | null | undefined): boolean => typeof email === 'string' && !email.includes('@');

function expectMaskedRows(line: Line): void {
  expect(line.ok, JSON.stringify(line)).toBe(true);
  const rows = line.rows ?? [];
  expect(rows).toHaveLength(1);
  const [row] = rows;
  expect(row?.traceId).toBe(MINE);
  expect(masked(row?.email), `user_email came back as ${row?.email}`).toBe(true);
  for (const planted of PLANTED_IN_MINE) expect(row?.summary ?? '').not.toContain(planted);
}

export function programSuite(spec: ProgramClientSpec): void {
  const runnable = spec.available();
  if (!runnable && REQUIRE_CLIENTS) throw new Error(`${spec.name} is not installed: ${spec.missing}`);
  describe.runIf(runnable)(spec.name, () => {
    const report = new Report(spec.id, spec.name, spec.how, spec.source);
    let proxy: TestProxy;
    let out: ProgramOutput;
    let sessions: SessionDetail[];

    beforeAll(async () => {
      await spec.prepare?.();
      proxy = await startTestProxy();
      const task = await compatTask(proxy, { expiresIn: spec.expiresIn, applicationName: `compat-${spec.id}` });
      out = await spec.run(task);
      const rec = await recording(proxy);
      try {
        // The expired session's end and the last responses are written in batches.
        sessions = await rec.sessions((all) => endedBecauseExpired(all) && all.every((s) => s.session.endedAt !== null), 5_000);
      } finally {
        await rec.close();
      }
    }, 120_000);

    afterAll(async () => {
      await proxy?.close();
      for (const n of spec.notes ?? []) report.note(n);
      if (spec.expiry.note) report.note(spec.expiry.note);
      await report.publish(spec.extra?.map((e) => e.name) ?? []);
    });

    it('logs in with an access token as the password', async () => {
      await report.check('login', () => `${out.line('login').detail}`, () => {
        expect(out.line('login').ok, out.stderr).toBe(true);
        report.version = spec.version(out.line('login'));
      });
    });

    it('reads one trace with a bound parameter, masked', async () => {
      await report.check('read', () => `${out.line('read').detail}; user_email ${out.line('read').rows?.[0]?.email}, planted phone and card masked`, () =>
        expectMaskedRows(out.line('read')),
      );
    });

    it('reads through a server-side prepared statement', async () => {
      if (spec.prepared === null) {
        report.set('prepared', 'n/a', 'the driver has no server-side prepared statements');
        return;
      }
      await report.check('prepared', () => out.line('prepared').detail, () => expectMaskedRows(out.line('prepared')));
    });

    it('gets binary results, masked, where the driver asks for them', async () => {
      if (spec.binary === null) {
        report.set('binary', 'n/a', 'the driver always asks for text results');
        return;
      }
      await report.check('binary', () => `${out.line('binary').detail}; the proxy recorded binary-format columns, masked`, () => {
        expect(out.line('binary').ok, JSON.stringify(out.line('binary'))).toBe(true);
        // The proxy's side: RowDescriptions of trace reads said binary for some column,
        // and nothing planted in the trace left the proxy in any format.
        expect([...traceReadFormats(sessions)]).toContain(1);
        const values = recordedValues(sessions).join('\n');
        for (const planted of PLANTED_IN_MINE) expect(values).not.toContain(planted);
      });
    });

    it('surfaces a denial as the driver\'s native error with SQLSTATE 42501', async () => {
      await report.check('denied', () => `${errorSummary(out.line('denied'))}${out.has('denied-prepared') ? '; at Bind too (another agent\'s trace, prepared)' : ''}`, () => {
        const denied = out.line('denied');
        expect(denied.ok, JSON.stringify(denied)).toBe(true);
        expect(denied.sqlstate).toBe('42501');
        expect(denied.errorClass).toMatch(spec.denialClass);
        expect(denied.message).toMatch(/read without pinning trace_id/);
        if (out.has('denied-prepared')) {
          const atBind = out.line('denied-prepared');
          expect(atBind.ok, JSON.stringify(atBind)).toBe(true);
          expect(atBind.sqlstate).toBe('42501');
          expect(atBind.errorClass).toMatch(spec.denialClass);
          expect(atBind.message).toContain(NOT_ENTITLED);
        }
        // And the proxy recorded the refusal: nothing of it ran.
        const refused = statementsOf(sessions).filter((s) => s.text === BULK_SQL);
        expect(refused.length).toBeGreaterThan(0);
        for (const s of refused) expect(s).toMatchObject({ decision: 'deny', enforced: true, sqlstate: '42501' });
      });
    });

    it('keeps the connection usable after a denial', async () => {
      const labels = ['usable-after-denial', 'usable-after-denied-prepared'].filter((c) => out.has(c));
      // Recorded first, so that a failure below still reaches the table.
      for (const e of spec.extra ?? []) report.addExtra(e.name, out.has(e.check) && out.line(e.check).ok ? 'pass' : 'fail', out.has(e.check) ? out.line(e.check).detail : 'not run');
      await report.check('usable', () => labels.map((c) => out.line(c).detail).join('; '), () => {
        expect(out.has('usable-after-denial')).toBe(true);
        for (const c of labels) expect(out.line(c).ok, JSON.stringify(out.line(c))).toBe(true);
        for (const e of spec.extra ?? []) expect(out.has(e.check) && out.line(e.check).ok, `${e.check}: ${out.stdout.slice(-1000)}`).toBe(true);
      });
    });

    it('ends an expired session (FATAL 28000) and reconnects with a fresh token', async () => {
      await report.check(
        'expiry',
        () => {
          const e = out.line('expired');
          const seen = spec.expiry.exposesSqlstate ? errorSummary(e) : `${errorSummary(e)}, the driver does not expose a FATAL's SQLSTATE`;
          return `${seen}; "${(e.message ?? '').split('\n')[0]}"; new connection with a fresh token works`;
        },
        () => {
          const expired = out.line('expired');
          expect(expired.ok, JSON.stringify(expired)).toBe(true);
          expect(expired.errorClass).toMatch(spec.expiry.errorClass);
          expect(expired.closed).toBe(true);
          if (spec.expiry.exposesSqlstate) {
            expect(expired.sqlstate).toBe('28000');
            expect(expired.message).toMatch(/token expired/);
          }
          expect(out.line('reconnect').ok, JSON.stringify(out.line('reconnect'))).toBe(true);
          // The proxy's side: the session was ended because its token expired.
          expect(endedBecauseExpired(sessions)).toBe(true);
        },
      );
    });
  });
}
