// Property tests for the startup-parameter filter of the login path: whatever a client
// puts in its StartupMessage, what reaches the upstream's StartupMessage is only
// allow-listed settings with values that passed their checks, plus tracegate's own
// pinned options, which no client parameter can replace; everything else is dropped
// or refused with a login SQLSTATE. (The same path over real sockets is fuzzed in
// test/integration/hardening/login-fuzz.test.ts.)
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ClientError } from '../../src/errors.js';
import { filterStartup, type PinnedSettings } from '../../src/session/startup-params.js';

const PINS: PinnedSettings = { statementTimeoutMs: 30_000, searchPath: 'public', readOnly: true };
const PINNED_OPTIONS = '-c default_transaction_read_only=on -c statement_timeout=30000 -c search_path=public -c standard_conforming_strings=on -c row_security=on -c enable_seqscan=off';
const FORWARDED = new Set(['application_name', 'datestyle', 'timezone', 'extra_float_digits', 'intervalstyle']);

const dangerous = fc.constantFrom(
  'options', 'search_path', 'role', 'session_authorization', 'standard_conforming_strings', 'row_security',
  'default_transaction_read_only', 'statement_timeout', 'replication', 'client_encoding', 'Options', 'SEARCH_PATH',
  'TimeZone', 'DateStyle', 'application_name', 'extra_float_digits', 'IntervalStyle', 'user', 'database',
);
const name = fc.oneof(dangerous, fc.string({ maxLength: 20 }).filter((s) => s !== '' && !s.includes('\0')));
const value = fc.oneof(
  fc.string({ maxLength: 70 }),
  fc.constantFrom('UTF8', 'utf-8', 'LATIN1', 'true', 'database', 'off', '0', '-c search_path=evil', 'ISO, MDY', 'UTC', "x' ; SET ROLE postgres", '3', '-4', 'sql_standard'),
).filter((v) => !v.includes('\0'));
const parameters = fc
  .uniqueArray(fc.tuple(name, value), { maxLength: 8, selector: ([k]) => k })
  .map((pairs) => Object.fromEntries(pairs) as Record<string, string>);

describe('filterStartup', () => {
  it('passes on only allow-listed settings and always pins its own options, or refuses with a login SQLSTATE', () => {
    let accepted = 0;
    let refused = 0;
    fc.assert(
      fc.property(parameters, (params) => {
        let out: ReturnType<typeof filterStartup>;
        try {
          out = filterStartup(params, PINS);
        } catch (err) {
          refused++;
          expect(err).toBeInstanceOf(ClientError);
          expect(['28000', '0A000', '22023']).toContain((err as ClientError).sqlstate);
          return;
        }
        accepted++;
        for (const [k, v] of Object.entries(out.upstream)) {
          if (k === 'options') continue;
          expect(FORWARDED).toContain(k.toLowerCase());
          expect(v).toBe(params[k]);
        }
        expect(out.upstream['options']).toBe(PINNED_OPTIONS);
        expect(out.user).toBe(params['user']);
        expect(out.user).not.toBe('');
      }),
      { numRuns: 5000 },
    );
    expect(accepted).toBeGreaterThan(100);
    expect(refused).toBeGreaterThan(100);
  });
});
