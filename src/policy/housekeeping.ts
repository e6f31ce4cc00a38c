// Statements drivers send that need no grant: transaction control and SET / RESET /
// SHOW of harmless settings. The server's lexer and identity must stay exactly what the
// proxy assumes (UTF8, standard_conforming_strings on, fixed search_path and role,
// read-only), so those are never changeable, whatever the policy lists.
//
// RESET ALL and DISCARD ALL restore every setting to its session default. They are safe
// only because the session pins the upstream through startup options (search_path,
// default_transaction_read_only, statement_timeout in the StartupMessage), which are
// the defaults RESET returns to.
import type { StatementFacts } from '../sql/facts.js';
import { deny, type Decision } from './decision.js';
import { NEVER_SETTABLE } from './schema.js';
import type { Policy, Rule } from './types.js';

// Read-only server facts drivers ask for with SHOW; revealing them is harmless.
const SHOWABLE = new Set([
  'server_version',
  'server_version_num',
  'server_encoding',
  'standard_conforming_strings',
  'integer_datetimes',
  'transaction_isolation',
  'transaction_read_only',
  'default_transaction_read_only',
  'max_identifier_length',
  'lc_collate',
  'lc_ctype',
]);

const UTF8_NAMES = new Set(['utf8', 'utf-8', 'unicode']);

export type HousekeepingFacts = Extract<StatementFacts, { kind: 'transaction' | 'set-transaction' | 'set' | 'reset' | 'show' | 'discard' | 'deallocate' }>;

export function housekeepingDecision(facts: HousekeepingFacts, policy: Policy, rule: Rule): Decision {
  const allow = (reason: string): Decision => ({ outcome: 'allow', category: 'housekeeping', rule: rule.name, reason, limits: null });
  const refuse = (reason: string): Decision => deny('denied', rule.name, reason);
  switch (facts.kind) {
    case 'transaction':
      if (facts.readWrite) return refuse('READ WRITE transactions are not allowed: the upstream session is read-only');
      return allow(`transaction control (${facts.action})`);
    case 'set-transaction':
      if (facts.target === 'snapshot') return refuse('SET TRANSACTION SNAPSHOT is not allowed');
      if (facts.readWrite) return refuse('READ WRITE transactions are not allowed: the upstream session is read-only');
      return allow('transaction characteristics');
    case 'set': {
      const problem = settingProblem(facts.name, policy) ?? valueProblem(facts, policy);
      return problem ? refuse(problem) : allow(`SET ${facts.name}`);
    }
    case 'reset': {
      if (facts.name === null) return allow('RESET ALL');
      const problem = settingProblem(facts.name, policy);
      return problem ? refuse(problem) : allow(`RESET ${facts.name}`);
    }
    case 'show':
      if (facts.name === 'all') return refuse('SHOW ALL is not allowed: SHOW the settings you need by name');
      if (SHOWABLE.has(facts.name) || policy.settings.allowed.has(facts.name)) return allow(`SHOW ${facts.name}`);
      return refuse(`SHOW ${facts.name} is not allowed: it is not on the policy's settings.allowed list`);
    case 'discard':
      return allow(`DISCARD ${facts.target.toUpperCase()}`);
    case 'deallocate':
      return allow('DEALLOCATE');
  }
}

function settingProblem(name: string, policy: Policy): string | null {
  if (NEVER_SETTABLE.has(name)) return `changing ${name} is never allowed: the proxy's parser and the server must agree on it`;
  if (!policy.settings.allowed.has(name)) return `setting ${name} is not on the policy's settings.allowed list`;
  return null;
}

function valueProblem(facts: Extract<StatementFacts, { kind: 'set' }>, policy: Policy): string | null {
  if (facts.values === null) return null;
  const [v] = facts.values;
  if (facts.name === 'client_encoding') {
    const ok = facts.values.length === 1 && v?.type === 'string' && UTF8_NAMES.has(v.value.toLowerCase());
    return ok ? null : 'client_encoding can only be UTF8: the proxy parses statements as UTF-8';
  }
  if (facts.name === 'statement_timeout') {
    const ms = facts.values.length === 1 && v && v.type !== 'other' ? timeoutMs(v.value, v.type === 'number') : null;
    const max = policy.settings.maxStatementTimeoutMs;
    // Postgres rounds to whole milliseconds, and 0 disables the timeout.
    if (ms === null || ms < 1 || ms > max) return `statement_timeout must be between 1ms and ${max}ms (0 would disable it)`;
  }
  return null;
}

const TIMEOUT_UNITS: Readonly<Record<string, number>> = { us: 0.001, ms: 1, s: 1000, min: 60_000, h: 3_600_000, d: 86_400_000 };

/** Postgres's integer-with-unit syntax for a time setting; milliseconds when unitless. */
function timeoutMs(value: string, numeric: boolean): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(us|ms|s|min|h|d)?\s*$/.exec(value);
  if (!m) return null;
  if (numeric && m[2] !== undefined) return null;
  return Number(m[1]) * (TIMEOUT_UNITS[m[2] ?? 'ms'] ?? Number.NaN);
}
