// Entitlement, approval and identity outcomes: owner lookups (and their indistinguishable
// denials), claim-bound tokens, high-risk approval, expired tokens, callers without a
// rule, and the grant terms an allowed read carries.
import { beforeAll, describe, expect, it } from 'vitest';
import { NOT_ENTITLED } from '../../../src/policy/decision.js';
import { ruleForIdentity } from '../../../src/policy/rules.js';
import { initSqlParser } from '../../../src/sql/analyze.js';
import { agent, identity, NOW, reader, reviewer, run, testPolicy } from './fixtures.js';

beforeAll(async () => {
  await initSqlParser();
});

const READ = `SELECT * FROM trace_steps WHERE trace_id = $1 ORDER BY step`;

describe('decide: owner entitlement', () => {
  it('asks for a lookup of owner and risk before deciding', () => {
    expect(run(READ, { who: agent, params: ['t1'] })).toEqual({
      outcome: 'lookup',
      category: 'trace-read',
      rule: 'agents',
      reason: "the trace's owner and risk must be looked up",
      traceId: 't1',
      columns: ['owner', 'risk'],
      table: { table: 'public.traces', key: 'trace_id', owner: 'agent_id', risk: 'risk' },
    });
  });

  it('allows the owner with the grant terms of the rule', () => {
    expect(run(READ, { who: agent, params: ['t1'], trace: { exists: true, owner: 'agent-a', risk: 'low' } })).toEqual({
      outcome: 'allow',
      category: 'trace-read',
      rule: 'agents',
      reason: 'single-trace read under rule agents',
      traceId: 't1',
      limits: { maxRows: 1000, maxBytes: 8_000_000 },
      grantTtlMs: 20_000,
      maskingExempt: false,
      pinnedParams: [1],
      pinnedParamsUsedElsewhere: [],
    });
  });

  const notEntitled = [
    ['another owner', { exists: true, owner: 'agent-b', risk: 'low' }],
    ['a trace that does not exist (null)', null],
    ['a trace that does not exist (exists: false)', { exists: false }],
    ['a trace without an owner', { exists: true, owner: null, risk: 'low' }],
    ['another owner of a high-risk trace', { exists: true, owner: 'agent-b', risk: 'high' }],
  ] as const;
  for (const [what, trace] of notEntitled) {
    it(`denies ${what} with the same reason and code`, () => {
      expect(run(READ, { who: agent, params: ['t1'], trace })).toEqual({
        outcome: 'deny',
        category: 'denied',
        rule: 'agents',
        reason: NOT_ENTITLED,
        sqlstate: '42501',
      });
    });
  }

  it('denies an owner rule when the token has no such claim', () => {
    const noSub = { ...agent, claims: {} };
    expect(run(READ, { who: noSub, params: ['t1'], trace: { exists: true, owner: 'agent-a' } })).toMatchObject({ outcome: 'deny', reason: NOT_ENTITLED });
  });

  it('does not look anything up for a statement that is denied anyway', () => {
    expect(run(`SELECT * FROM traces`, { who: agent })).toMatchObject({ outcome: 'deny' });
  });

  it('does not look anything up for housekeeping', () => {
    expect(run(`SELECT 1`, { who: agent })).toMatchObject({ outcome: 'allow', category: 'housekeeping' });
  });
});

describe('decide: approval of high-risk traces', () => {
  it('needs approval by the approver groups and quorum of the rule', () => {
    expect(run(READ, { who: agent, params: ['t1'], trace: { exists: true, owner: 'agent-a', risk: 'high' } })).toEqual({
      outcome: 'needs-approval',
      category: 'trace-read',
      rule: 'agents',
      reason: 'reading a high-risk trace needs approval by 2 of: security',
      approval: { approverGroups: ['security'], quorum: 2, timeoutMs: 600_000 },
      traceId: 't1',
      limits: { maxRows: 1000, maxBytes: 8_000_000 },
      grantTtlMs: 20_000,
      maskingExempt: false,
      pinnedParams: [1],
      pinnedParamsUsedElsewhere: [],
    });
  });

  it('needs no approval for other risks', () => {
    for (const risk of ['low', 'medium', null]) {
      expect(run(READ, { who: agent, params: ['t1'], trace: { exists: true, owner: 'agent-a', risk } }).outcome).toBe('allow');
    }
  });

  // The attack: facts looked up for a rule that needs only the owner (no risk column
  // read) reach a rule with approval; deciding on them would skip the approval.
  it('refuses when the facts lack the risk the approval needs', () => {
    expect(run(READ, { who: agent, params: ['t1'], trace: { exists: true, owner: 'agent-a' } })).toEqual({
      outcome: 'deny',
      category: 'denied',
      rule: 'agents',
      reason: NOT_ENTITLED,
      sqlstate: '42501',
    });
  });
});

describe('decide: claim-bound tokens', () => {
  const claimed = (ids: unknown): ReturnType<typeof identity> => identity(['claimed'], { sub: 'svc', trace_ids: ids });

  it('allows a trace the token names in an array', () => {
    expect(run(READ, { who: claimed(['t0', 't1']), params: ['t1'] })).toMatchObject({ outcome: 'allow', traceId: 't1', rule: 'claimed' });
  });

  it('allows a trace the token names as a string', () => {
    expect(run(READ, { who: claimed('t1'), params: ['t1'] })).toMatchObject({ outcome: 'allow' });
  });

  it('never splits a string claim into several ids', () => {
    expect(run(READ, { who: claimed('t1,t2'), params: ['t1'] })).toMatchObject({ outcome: 'deny', reason: NOT_ENTITLED });
  });

  for (const ids of [['t2'], [], undefined, 42, [1]]) {
    it(`denies when the claim is ${JSON.stringify(ids)}`, () => {
      expect(run(READ, { who: claimed(ids), params: ['t1'] })).toMatchObject({ outcome: 'deny', reason: NOT_ENTITLED, sqlstate: '42501' });
    });
  }
});

describe('decide: identity', () => {
  it('finds the first rule whose groups intersect the caller groups', () => {
    expect(ruleForIdentity(testPolicy, identity(['x', 'security', 'readers']))?.name).toBe('readers');
    expect(ruleForIdentity(testPolicy, identity(['nobody']))).toBeNull();
  });

  it('denies a caller no rule matches', () => {
    expect(run('SELECT 1', { who: identity(['nobody']) })).toMatchObject({ outcome: 'deny', category: 'identity', rule: null, sqlstate: '28000' });
  });

  it('denies once the token has expired', () => {
    expect(run('SELECT 1', { who: identity(['readers'], {}, NOW) })).toMatchObject({ outcome: 'deny', sqlstate: '28000', reason: 'token expired' });
    expect(run('SELECT 1', { who: identity(['readers'], {}, NOW + 1) })).toMatchObject({ outcome: 'allow' });
  });

  it('gives reviewers unmasked reads of any trace without a lookup', () => {
    expect(run(READ, { who: reviewer, params: ['anything'] })).toMatchObject({ outcome: 'allow', traceId: 'anything', maskingExempt: true });
  });

  it('gives every housekeeping SELECT the rule limits, and transaction control none', () => {
    const limits = { maxRows: 10_000, maxBytes: 16 * 1024 * 1024 };
    expect(run('SELECT typname FROM pg_type', { who: reader })).toMatchObject({ outcome: 'allow', limits });
    expect(run('SELECT * FROM generate_series(1, 100000000)', { who: reader })).toMatchObject({ outcome: 'allow', limits });
    expect(run('BEGIN', { who: reader })).toMatchObject({ outcome: 'allow', limits: null });
  });
});
