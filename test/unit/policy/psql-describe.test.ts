// psql's describe meta-commands: the exact statements PostgreSQL 15's psql sends for \d,
// \dt, \d NAME ... are housekeeping; anything that differs from them by a character is
// decided by the ordinary rules, so the allowance cannot be stretched into reading rows,
// statistics, secrets or other tables' data.
import { beforeAll, describe, expect, it } from 'vitest';
import { psqlDescribe } from '../../../src/policy/psql-describe.js';
import { analyze, initSqlParser } from '../../../src/sql/analyze.js';
import type { SelectFacts } from '../../../src/sql/facts.js';
import { agent, run } from './fixtures.js';
import { PSQL15_DESCRIBE, PSQL15_REFUSED } from './psql-queries.js';

beforeAll(async () => {
  await initSqlParser();
});

function selectFacts(sql: string): SelectFacts {
  const a = analyze(sql);
  if (!a.ok) throw new Error(a.message);
  const [s] = a.statements;
  if (s?.kind !== 'select') throw new Error(`not a SELECT: ${s?.kind}`);
  return s;
}

const ALLOWED = PSQL15_DESCRIBE.filter(([cmd]) => !PSQL15_REFUSED.has(cmd));
const REFUSED = PSQL15_DESCRIBE.filter(([cmd]) => PSQL15_REFUSED.has(cmd));

function describeQuery(prefix: string): string {
  const found = ALLOWED.find(([, sql]) => sql.startsWith(prefix));
  if (!found) throw new Error(`no captured query starts with ${prefix}`);
  return found[1];
}

const COLUMNS = describeQuery('SELECT a.attname,');
const LOOKUP = describeQuery('SELECT c.oid,\n  n.nspname');
const LIST = ALLOWED.find(([cmd]) => cmd === '\\dt')?.[1] ?? '';
const POLICIES = describeQuery('SELECT pol.polname');
const PARTITIONS = describeQuery('SELECT c.oid::pg_catalog.regclass, c.relkind');
const TRIGGERS = describeQuery('SELECT t.tgname');

describe('psql 15 describe queries, as captured with psql -E', () => {
  it('covers the meta-commands agents use', () => {
    const commands = new Set(ALLOWED.map(([cmd]) => cmd));
    for (const cmd of ['\\dt', '\\d', '\\d traces', '\\d trace_steps', '\\dn', '\\dt trace*', '\\d public.traces']) expect(commands).toContain(cmd);
  });

  for (const [cmd, sql] of ALLOWED) {
    it(`allows ${cmd}: ${sql.split('\n')[0]?.slice(0, 60)}`, () => {
      const d = run(sql, { who: agent });
      expect(d, d.reason).toMatchObject({ outcome: 'allow', category: 'housekeeping' });
      expect(d.reason).toMatch(/^no trace data is read \(psql \\d: /);
      // Rows are limited like every housekeeping read.
      expect(d).toMatchObject({ limits: { maxRows: 1000 } });
      // And it reads catalogs only, schema-qualified.
      for (const e of selectFacts(sql).entries) if (e.type === 'relation') expect(e.relation.schema).toBe('pg_catalog');
    });
  }

  for (const [cmd, sql] of REFUSED) {
    it(`refuses ${cmd} (${sql.split('\n')[0]?.slice(0, 50)}): sizes, storage options`, () => {
      const d = run(sql, { who: agent });
      expect(d.outcome, d.reason).toBe('deny');
      expect(psqlDescribe(selectFacts(sql))).toBeNull();
    });
  }

  it('names what a query is in the decision', () => {
    expect(psqlDescribe(selectFacts(COLUMNS))).toBe('psql \\d: columns');
    expect(psqlDescribe(selectFacts(LIST))).toBe('psql \\d: list relations');
    expect(psqlDescribe(selectFacts(LOOKUP))).toBe('psql \\d: find relations by name');
  });

  it('lets psql fill in any relation OID, name pattern and relkind list', () => {
    expect(psqlDescribe(selectFacts(COLUMNS.replace(/'\d+'/g, "'1260'")))).not.toBeNull();
    expect(psqlDescribe(selectFacts(LOOKUP.replace(/'\^\(traces\)\$'/, () => "'^(cust.*|x'' y)$'")))).not.toBeNull();
    expect(psqlDescribe(selectFacts(LIST.replace("IN ('r','p','')", "IN ('v','m','S','f','')")))).not.toBeNull();
  });
});

// Each is a captured statement bent towards reading something it must not. None matches
// a template, so each meets the ordinary rules, which refuse it.
const ATTACKS: readonly (readonly [string, string, RegExp])[] = [
  ['rows of another table, by UNION', LIST.replace('\nORDER BY 1,2;', "\nUNION ALL SELECT 'public', email, api_key, '' FROM customers\nORDER BY 1,2;"), /customers is not readable|not on the allow-list|not readable/],
  ['sampled values, by swapping a catalog', COLUMNS.replace('pg_catalog.pg_attrdef d', 'pg_catalog.pg_statistic d'), /pg_statistic is never readable/],
  ['password hashes, by swapping a catalog', POLICIES.replace('pg_catalog.pg_roles', 'pg_catalog.pg_authid'), /pg_authid is never readable|is not readable/],
  ['password column of pg_roles', POLICIES.replace('select rolname from', 'select rolpassword from'), /not readable|not on the allow-list/],
  ['a widened OID condition', COLUMNS.replace(/a\.attrelid = '\d+'/, "a.attrelid = '16385' OR true"), /not readable|not on the allow-list/],
  ['an OID slot holding an expression', COLUMNS.replace(/'\d+'/, "(SELECT '16385')"), /not readable|not on the allow-list/],
  ['a pattern slot closed early', LOOKUP.replace(/'\^\(traces\)\$'/, () => "'x' OR EXISTS (SELECT 1 FROM customers) OR 'y'"), /customers|not on the allow-list/],
  ['a backslash in the pattern', LOOKUP.replace(/'\^\(traces\)\$'/, () => "'^(tr\\\\aces)$'"), /not on the allow-list/],
  ['a relkind slot holding an expression', LIST.replace("IN ('r','p','')", "IN ('r','p','') OR true OR c.relkind IN ('')"), /not readable|not on the allow-list/],
  ['a comment', `/* psql */ ${COLUMNS}`, /not readable|not on the allow-list/],
  ['a trailing comment', `${COLUMNS.replace(/;$/, '')} -- x`, /not readable|not on the allow-list/],
  ['different whitespace', COLUMNS.replace('SELECT a.attname,\n', 'SELECT a.attname, \n'), /not readable|not on the allow-list/],
  ['lower-case keywords', COLUMNS.replace('SELECT a.attname', 'select a.attname'), /not readable|not on the allow-list/],
  ['partition bounds outside the template', `SELECT pg_catalog.pg_get_expr(c.relpartbound, c.oid) FROM pg_catalog.pg_class c`, /not on the allow-list|relpartbound/],
  ['trigger definitions outside the template', `SELECT pg_catalog.pg_get_triggerdef(t.oid, true) FROM pg_catalog.pg_trigger t`, /not readable|reveals server-side code/],
  ['column defaults outside the template', `SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid) FROM pg_catalog.pg_attrdef d`, /pg_attrdef is not readable/],
  ['role names outside the template', `SELECT rolname FROM pg_catalog.pg_roles`, /pg_roles is not readable/],
  ['table sizes (\\dt+)', `SELECT pg_catalog.pg_table_size(c.oid) FROM pg_catalog.pg_class c`, /not on the allow-list/],
  ['the trigger query with its function swapped', TRIGGERS.replace('pg_catalog.pg_get_triggerdef(t.oid, true)', 'pg_catalog.pg_get_functiondef(t.tgfoid)'), /not readable|server-side code/],
  ['the partitions query reading a trace table', PARTITIONS.replace('pg_catalog.pg_inherits i', 'public.traces i'), /not readable|pinning|not on the allow-list|not both/],
];

describe('psql describe: what it cannot be bent into', () => {
  for (const [what, sql, reason] of ATTACKS) {
    it(`refuses ${what}`, () => {
      expect(() => selectFacts(sql)).not.toThrow();
      expect(psqlDescribe(selectFacts(sql))).toBeNull();
      const d = run(sql, { who: agent });
      expect(d.outcome, `${sql}\n=> ${d.reason}`).toBe('deny');
      expect(d.reason).toMatch(reason);
    });
  }

  it('refuses the whole message when a describe query comes with something else', () => {
    const d = run(`${COLUMNS}\nSELECT email FROM customers;`, { who: agent });
    expect(d.outcome).toBe('deny');
    expect(d.reason).toMatch(/customers is not readable.*statement 2 of 2/);
  });

  it('does not turn a describe query into a trace read or a grant', () => {
    const d = run(COLUMNS, { who: agent });
    expect(d).toMatchObject({ outcome: 'allow', category: 'housekeeping' });
    expect('traceId' in d).toBe(false);
  });
});
