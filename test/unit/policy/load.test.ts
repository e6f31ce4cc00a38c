// Policy files: the shipped ones load, and every mistake is reported with the file, the
// line and the key, so an operator can fix it without reading the loader.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPolicyFile, parsePolicy, PolicyError } from '../../../src/policy/load.js';

const ENV = { TRACEGATE_MASK_KEY: 'k'.repeat(32) };

function errorOf(text: string, env: Record<string, string> = ENV): PolicyError {
  try {
    parsePolicy(text, 'p.yaml', { env });
  } catch (err) {
    if (err instanceof PolicyError) return err;
    throw err;
  }
  throw new Error('expected a PolicyError');
}

const MINIMAL = `version: 1
traceTables:
  - { table: public.traces, key: trace_id, owner: agent_id, risk: risk }
rules:
  - name: r
    groups: [g]
`;

describe('shipped policies', () => {
  const files = ['policies/default.yaml', ...readdirSync('policies/examples').map((f) => join('policies/examples', f))];
  for (const file of files) {
    it(`${file} loads`, () => {
      const policy = loadPolicyFile(file, { env: ENV });
      expect(policy.rules.length).toBeGreaterThan(0);
    });
  }

  it('the default policy is what the demo expects', () => {
    const p = loadPolicyFile('policies/default.yaml', { env: ENV });
    expect(p.rules.map((r) => r.name)).toEqual(['agents-read-own-traces', 'security-reviews-any-trace']);
    expect(p.lookupTable?.qualified).toBe('public.traces');
    const agents = p.rules[0];
    expect(agents).toMatchObject({
      entitlement: { type: 'owner', claim: 'sub' },
      limits: { maxRows: 1000, maxBytes: 8_000_000 },
      quotas: { distinctTraces: { max: 50, windowMs: 3_600_000 }, grantsPerMinute: 120 },
      grantTtlMs: 30_000,
      approval: { approverGroups: ['security'], quorum: 1, timeoutMs: 600_000 },
      maskingExempt: false,
    });
    expect(agents?.approval?.risks.has('high')).toBe(true);
    expect(p.rules[1]?.maskingExempt).toBe(true);
    expect([...(p.maskedColumns.get('public.traces') ?? [])]).toEqual(['user_email', 'body']);
    expect(p.masking.hashKey).toBe(ENV.TRACEGATE_MASK_KEY);
    expect(p.masking.columns[0]).toMatchObject({ column: 'public.traces.user_email', schema: 'public', table: 'traces', name: 'user_email', strategy: 'partial', keep: 4 });
    expect(p.settings.maxStatementTimeoutMs).toBe(60_000);
    expect(p.settings.allowed.has('datestyle')).toBe(true);
  });
});

describe('parsePolicy', () => {
  it('applies defaults', () => {
    const p = parsePolicy(MINIMAL, 'p.yaml', { env: {} });
    expect(p.rules[0]).toMatchObject({ entitlement: { type: 'any' }, limits: { maxRows: 10_000, maxBytes: 16 * 1024 * 1024 }, grantTtlMs: 30_000, approval: null, maskingExempt: false });
    expect(p.masking).toEqual({ detectors: 'all', columns: [] });
    expect(p.searchPath).toBe('public');
    expect(p.traceTableByName.get('public.traces')).toMatchObject({ key: 'trace_id', owner: 'agent_id', risk: 'risk' });
  });

  it('takes the upstream search path from the caller', () => {
    expect(parsePolicy(MINIMAL, 'p.yaml', { env: {}, searchPath: 'app' }).searchPath).toBe('app');
  });

  it('names the line and key of a misspelt key', () => {
    const e = errorOf(MINIMAL + '    maskingExmept: true\n');
    expect(e.message).toBe('p.yaml:7: rules.0.maskingExmept: unknown key (check its spelling and nesting)');
    expect(errorOf(MINIMAL + 'extra: 1\n')).toMatchObject({ line: 7, key: 'extra' });
  });

  it('names the line of a bad duration', () => {
    const e = errorOf(MINIMAL + '    grantTtl: soon\n');
    expect(e).toMatchObject({ line: 7, key: 'rules.0.grantTtl' });
    expect(e.problem).toMatch(/duration/);
  });

  it('refuses a missing environment variable, naming the key', () => {
    const e = errorOf(MINIMAL + 'masking:\n  hashKey: ${TRACEGATE_MASK_KEY}\n', {});
    expect(e).toMatchObject({ line: 8, key: 'masking.hashKey' });
    expect(e.problem).toBe('environment variable TRACEGATE_MASK_KEY is not set');
  });

  it('refuses a short hash key and a hash rule without a key', () => {
    expect(errorOf(MINIMAL + 'masking:\n  hashKey: short\n').key).toBe('masking.hashKey');
    const e = errorOf(MINIMAL + 'masking:\n  columns:\n    - { column: traces.user_email, strategy: hash }\n');
    expect(e).toMatchObject({ key: 'masking.hashKey' });
  });

  it('refuses an owner entitlement without an owner column', () => {
    const text = `version: 1
traceTables:
  - { table: traces, key: trace_id }
rules:
  - name: r
    groups: [g]
    entitlement: { owner: { claim: sub } }
`;
    expect(errorOf(text)).toMatchObject({ line: 7, key: 'rules.0.entitlement' });
  });

  it('refuses approval without a risk column', () => {
    const text = `version: 1
traceTables:
  - { table: traces, key: trace_id }
rules:
  - name: r
    groups: [g]
    approval: { when: { risk: [high] }, approvers: { groups: [s] } }
`;
    expect(errorOf(text).key).toBe('rules.0.approval');
  });

  it('refuses a setting that can never change', () => {
    const e = errorOf(MINIMAL + 'settings:\n  allowed: [application_name, search_path]\n');
    expect(e).toMatchObject({ line: 8, key: 'settings.allowed.1' });
    expect(e.problem).toMatch(/search_path can never be changed/);
  });

  it('refuses duplicate rule names and duplicate trace tables', () => {
    expect(errorOf(MINIMAL + '  - name: r\n    groups: [h]\n').key).toBe('rules.1.name');
    const twice = MINIMAL.replace('rules:', '  - { table: traces, key: trace_id }\nrules:');
    expect(errorOf(twice).key).toBe('traceTables.1.table');
  });

  it('refuses masking rules on tables that are not trace tables', () => {
    const e = errorOf(MINIMAL + 'masking:\n  columns:\n    - { column: public.customers.email, strategy: redact }\n');
    expect(e).toMatchObject({ key: 'masking.columns.0.column' });
    expect(e.problem).toMatch(/public\.customers is not a trace table/);
  });

  it('refuses keep without partial, bad JSON paths and unknown detectors', () => {
    expect(errorOf(MINIMAL + 'masking:\n  columns:\n    - { column: traces.user_email, strategy: redact, keep: 3 }\n').key).toBe('masking.columns.0.keep');
    expect(errorOf(MINIMAL + 'masking:\n  columns:\n    - { column: traces.body, strategy: redact, jsonPaths: ["user.email"] }\n').key).toBe('masking.columns.0.jsonPaths.0');
    expect(errorOf(MINIMAL + 'masking:\n  detectors: [email, telepathy]\n').key).toBe('masking.detectors');
  });

  it('refuses trace tables in system schemas or named like catalogs', () => {
    expect(errorOf(MINIMAL.replace('public.traces', 'pg_catalog.traces')).key).toBe('traceTables.0.table');
    expect(errorOf(MINIMAL.replace('public.traces', 'pg_traces')).key).toBe('traceTables.0.table');
    expect(errorOf(MINIMAL.replace('public.traces', '"Traces"')).key).toBe('traceTables.0.table');
  });

  it('refuses a second table with owner or risk columns', () => {
    const e = errorOf(MINIMAL.replace('rules:', '  - { table: trace_steps, key: trace_id, owner: agent_id }\nrules:'));
    expect(e.key).toBe('traceTables.1');
  });

  it('refuses an unknown version and YAML syntax errors with a line', () => {
    expect(errorOf(MINIMAL.replace('version: 1', 'version: 2')).key).toBe('version');
    const e = errorOf('version: 1\ntraceTables: [\n');
    expect(e.line).toBeGreaterThan(0);
  });

  it('reports an unreadable file', () => {
    expect(() => loadPolicyFile('/nonexistent/policy.yaml')).toThrow(/\/nonexistent\/policy\.yaml: cannot read: ENOENT/);
  });
});
