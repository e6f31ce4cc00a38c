// Column rules hold for whole rows however they leave. A whole row cast to text, or
// packed inside an anonymous record (a subquery's or WITH query's row), carries no
// column names: the masker could only run detectors over it, and a ruled value no
// detector recognises came back in clear. The policy here is the default one plus
// redact rules on two columns whose values no detector matches (traces.agent_id,
// trace_steps.role): each statement is refused, or comes back without those values.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { WELL_KNOWN_TRACES } from '../../../src/demo/generate.js';
import { getToken, pgClientConfig } from '../../helpers/env.js';
import { DEFAULT_POLICY, startTestProxy, type TestProxy } from '../../helpers/proxy.js';

const MINE = WELL_KNOWN_TRACES.agentALow;

let dir: string;
let proxy: TestProxy;
let agent: string;
/** The roles of the trace's steps, as stored. */
let roles: string[];
beforeAll(async () => {
  const db = new pg.Client(pgClientConfig());
  await db.connect();
  roles = (await db.query<{ role: string }>('SELECT DISTINCT role FROM trace_steps WHERE trace_id = $1', [MINE])).rows.map((r) => r.role);
  await db.end();
  expect(roles.length).toBeGreaterThan(0);
  const rule = '    - { column: public.traces.user_email, strategy: partial, keep: 4 }';
  const policy = readFileSync(DEFAULT_POLICY, 'utf8');
  expect(policy).toContain(rule);
  dir = mkdtempSync(join(tmpdir(), 'tracegate-whole-rows-'));
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, policy.replace(rule, `${rule}\n    - { column: public.traces.agent_id, strategy: redact }\n    - { column: public.trace_steps.role, strategy: redact }`));
  proxy = await startTestProxy({ policyFile: file });
  agent = await getToken('agent-a');
});
afterAll(async () => {
  await proxy?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The rows as JSON text, or the SQLSTATE of the refusal. */
async function outcome(sql: string): Promise<string> {
  const client = await proxy.connect(agent);
  try {
    return JSON.stringify((await client.query({ text: sql, rowMode: 'array' })).rows);
  } catch (err) {
    return `error ${(err as { code?: string }).code}`;
  } finally {
    await client.end();
  }
}

describe('whole rows of tables with ruled columns', () => {
  test.each([
    `SELECT s::text FROM trace_steps s WHERE s.trace_id = '${MINE}'`,
    `SELECT x.j FROM (SELECT s::text AS j FROM trace_steps s WHERE s.trace_id = '${MINE}') x`,
    `SELECT x FROM (SELECT s FROM trace_steps s WHERE s.trace_id = '${MINE}') x`,
    `SELECT x FROM (SELECT s.* FROM trace_steps s WHERE s.trace_id = '${MINE}') x`,
    `WITH c AS (SELECT s FROM trace_steps s WHERE s.trace_id = '${MINE}') SELECT c FROM c`,
    `SELECT x FROM trace_steps s, LATERAL (SELECT s) x WHERE s.trace_id = '${MINE}'`,
    `SELECT x FROM (SELECT to_jsonb(s) AS j FROM trace_steps s WHERE s.trace_id = '${MINE}') x`,
  ])('keep trace_steps.role masked: %s', async (sql) => {
    const out = await outcome(sql);
    // A role as a field of record text, or as the JSON value of "role" (its quotes
    // doubled in record text, escaped in the JSON of the result).
    for (const role of roles) expect(out).not.toMatch(new RegExp(`[(,]${role}[,)]|role[\\\\"]*: ?[\\\\"]*${role}\\b`));
    if (out.startsWith('error')) expect(out).toBe('error 42501');
  });

  test.each([`SELECT t::text FROM traces t WHERE t.trace_id = '${MINE}'`, `SELECT x FROM (SELECT t FROM traces t WHERE t.trace_id = '${MINE}') x`])(
    'keep traces.agent_id masked: %s',
    async (sql) => {
      const out = await outcome(sql);
      expect(out).not.toContain('agent-a');
      if (out.startsWith('error')) expect(out).toBe('error 42501');
    },
  );

  test('the row itself, and its bare columns, are masked column by column', async () => {
    const row = await outcome(`SELECT t FROM traces t WHERE t.trace_id = '${MINE}'`);
    expect(row).not.toContain('agent-a');
    expect(row).toContain('[redacted]');
    expect(await outcome(`SELECT role FROM trace_steps WHERE trace_id = '${MINE}' ORDER BY step LIMIT 1`)).toBe('[["[redacted]"]]');
  });
});
