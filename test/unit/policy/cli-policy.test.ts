// `tracegate policy check` and `tracegate policy explain`, run in-process.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runPolicyCommand } from '../../../src/cli/policy.js';
import { TEST_POLICY_YAML } from './fixtures.js';

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runPolicyCommand(args, (l) => out.push(l), (l) => err.push(l));
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const dir = mkdtempSync(join(tmpdir(), 'tracegate-policy-'));
const good = join(dir, 'good.yaml');
writeFileSync(good, TEST_POLICY_YAML);
const bad = join(dir, 'bad.yaml');
writeFileSync(bad, TEST_POLICY_YAML.replace('grantTtl: 20s', 'grantTtl: 20s\n    maskingExmept: true'));

describe('tracegate policy check', () => {
  it('prints a summary and exits 0 for a valid file', async () => {
    const r = await cli('check', good);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`${good}: ok`);
    expect(r.out).toContain('rule agents: groups ai-agents; own traces (owner = claim sub), approval for risk high by 2 of security');
  });

  it('names file, line and key and exits 1 for an invalid file', async () => {
    const r = await cli('check', bad);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`${bad}:16: rules.1.maskingExmept: unknown key (check its spelling and nesting)`);
  });

  it('exits 1 for a missing file and 2 for bad usage', async () => {
    expect((await cli('check', join(dir, 'nope.yaml'))).code).toBe(1);
    expect((await cli('check')).code).toBe(2);
    expect((await cli('check', good, 'extra')).code).toBe(2);
    expect((await cli('frobnicate')).code).toBe(2);
    expect((await cli()).code).toBe(2);
    expect((await cli('--help')).code).toBe(0);
  });
});

describe('tracegate policy explain', () => {
  it('explains an allowed read with its terms', async () => {
    const r = await cli('explain', '--policy', good, '--sub', 'r1', '--groups', 'readers', '--param', 't1', 'SELECT * FROM trace_steps WHERE trace_id = $1');
    expect(r.code).toBe(0);
    expect(r.out.split('\n')).toEqual([
      'decision: allow',
      'category: trace-read',
      'rule: readers',
      'reason: single-trace read under rule readers',
      'trace: t1',
      'pinned by: $1',
      'limits: maxRows 10000, maxBytes 16777216',
      'grant ttl: 30000 ms',
      'masking: applied',
      'statement 1: select; reads trace_steps',
    ]);
  });

  it('explains a denial and exits 1', async () => {
    const r = await cli('explain', '--policy', good, '--sub', 'r1', '--groups', 'x,readers', 'SELECT * FROM traces WHERE trace_id LIKE $1');
    expect(r.code).toBe(1);
    expect(r.out).toContain('decision: deny');
    expect(r.out).toContain('reason: public.traces is read without pinning trace_id to one value');
    expect(r.out).toContain('sqlstate: 42501');
  });

  it('stops at the lookup unless owner and risk are simulated', async () => {
    const base = ['explain', '--policy', good, '--sub', 'agent-a', '--groups', 'ai-agents', '--param', 't1'];
    const sql = 'SELECT * FROM traces WHERE trace_id = $1';
    const lookup = await cli(...base, sql);
    expect(lookup.code).toBe(0);
    expect(lookup.out).toContain('decision: lookup');
    expect((await cli(...base, '--trace-owner', 'agent-a', '--trace-risk', 'low', sql)).out).toContain('decision: allow');
    const approval = await cli(...base, '--trace-owner', 'agent-a', '--trace-risk', 'high', sql);
    expect(approval.out).toContain('approval: 2 approver(s) from security, within 600s');
    const other = await cli(...base, '--trace-owner', 'agent-b', sql);
    expect(other.code).toBe(1);
    const missing = await cli(...base, '--trace-missing', sql);
    expect(missing.out).toContain('reason: the trace does not exist or you are not entitled to read it');
  });

  it('takes claims and NULL parameters', async () => {
    const args = ['explain', '--policy', good, '--sub', 'svc', '--groups', 'claimed'];
    const sql = 'SELECT * FROM traces WHERE trace_id = $1';
    expect((await cli(...args, '--claim', 'trace_ids=["t1"]', '--param', 't1', sql)).code).toBe(0);
    expect((await cli(...args, '--claim', 'trace_ids=t2', '--param', 't1', sql)).code).toBe(1);
    const nul = await cli(...args, '--claim', 'trace_ids=t1', '--null-param', sql);
    expect(nul.out).toContain('reason: parameter $1 pins the trace but is NULL');
  });

  it('explains the default policy without its secrets', async () => {
    const r = await cli('explain', '--sub', 'reviewer-1', '--groups', 'security', 'SELECT 1');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/decision: allow/);
  });

  it('refuses bad usage with exit 2', async () => {
    expect((await cli('explain', '--policy', good, '--groups', 'readers', 'SELECT 1')).code).toBe(2);
    expect((await cli('explain', '--policy', good, '--sub', 'a', '--groups', 'readers')).code).toBe(2);
    expect((await cli('explain', '--policy', good, '--sub', 'a', '--groups', 'readers', '--frob', 'SELECT 1')).code).toBe(2);
    expect((await cli('explain', '--policy', good, '--sub', 'a', '--groups', 'readers', '--claim', 'novalue', 'SELECT 1')).code).toBe(2);
    expect((await cli('explain', '--policy', good, '--sub', 'a', '--groups', 'readers', '--param')).code).toBe(2);
  });
});
