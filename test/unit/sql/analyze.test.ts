// The analyser on its own: parse results, statement splitting, the facts it records,
// the constructs it refuses, and that it never throws whatever text it is given.
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { analyze, clearAnalysisCache, initSqlParser } from '../../../src/sql/analyze.js';
import type { SelectFacts, StatementFacts } from '../../../src/sql/facts.js';

beforeAll(async () => {
  await initSqlParser();
  await initSqlParser();
});

function only(sql: string): StatementFacts {
  const a = analyze(sql);
  if (!a.ok) throw new Error(a.message);
  expect(a.statements).toHaveLength(1);
  const [s] = a.statements;
  if (!s) throw new Error('no statement');
  return s;
}

function select(sql: string): SelectFacts {
  const s = only(sql);
  if (s.kind !== 'select') throw new Error(`expected a select, got ${s.kind}`);
  return s;
}

describe('analyze: parsing', () => {
  it('caches by exact text', () => {
    clearAnalysisCache();
    const a = analyze('SELECT 1');
    expect(analyze('SELECT 1')).toBe(a);
    expect(analyze('SELECT  1')).not.toBe(a);
  });

  it('answers parser errors with 42601 and the parser message', () => {
    expect(analyze('SELEC 1')).toEqual({ ok: false, sqlstate: '42601', message: 'syntax error at or near "SELEC"' });
  });

  it('refuses a NUL character, which would hide text from the parser', () => {
    expect(analyze("SELECT 1\0; DROP TABLE traces")).toMatchObject({ ok: false, sqlstate: '42601', message: 'the statement contains a NUL character' });
  });

  it('treats blank and comment-only text as no statements', () => {
    for (const sql of ['', '  \n\t', '-- nothing', '/* nothing */', ';', ';;']) {
      expect(analyze(sql), JSON.stringify(sql)).toEqual({ ok: true, statements: [] });
    }
  });

  it('splits a message into statements with their own text, multi-byte safe', () => {
    const a = analyze(`SELECT 'é✓' AS x;  SELECT 2 ; BEGIN`);
    expect(a.ok && a.statements.map((s) => [s.kind, s.text])).toEqual([
      ['select', `SELECT 'é✓' AS x`],
      ['select', 'SELECT 2'],
      ['transaction', 'BEGIN'],
    ]);
  });
});

describe('analyze: utility statements', () => {
  it('records transaction control and read-write requests', () => {
    expect(only('BEGIN')).toMatchObject({ kind: 'transaction', action: 'begin', readWrite: false });
    expect(only('START TRANSACTION READ WRITE')).toMatchObject({ kind: 'transaction', action: 'begin', readWrite: true });
    expect(only('BEGIN READ ONLY')).toMatchObject({ readWrite: false });
    expect(only('ROLLBACK TO SAVEPOINT a')).toMatchObject({ action: 'rollback-to' });
    expect(only('SET TRANSACTION READ WRITE')).toMatchObject({ kind: 'set-transaction', target: 'transaction', readWrite: true });
  });

  it('records SET, RESET and SHOW with lower-cased names and typed values', () => {
    expect(only(`SET "DateStyle" = 'ISO', MDY`)).toEqual({
      kind: 'set',
      name: 'datestyle',
      values: [
        { type: 'string', value: 'ISO' },
        { type: 'string', value: 'mdy' },
      ],
      local: false,
      text: `SET "DateStyle" = 'ISO', MDY`,
    });
    expect(only('SET LOCAL statement_timeout = 5000')).toMatchObject({ values: [{ type: 'number', value: '5000' }], local: true });
    expect(only('SET statement_timeout TO DEFAULT')).toMatchObject({ values: null });
    expect(only('RESET ALL')).toMatchObject({ kind: 'reset', name: null });
    expect(only('SHOW TimeZone')).toMatchObject({ kind: 'show', name: 'timezone' });
    expect(only(`SET TIME ZONE INTERVAL '+02:00' HOUR TO MINUTE`)).toMatchObject({ kind: 'set', name: 'timezone', values: [{ type: 'other' }] });
  });

  it('records DISCARD and DEALLOCATE targets for the session cache', () => {
    expect(only('DISCARD ALL')).toMatchObject({ kind: 'discard', target: 'all' });
    expect(only('DEALLOCATE ALL')).toMatchObject({ kind: 'deallocate', name: null });
    expect(only('DEALLOCATE s_1')).toMatchObject({ kind: 'deallocate', name: 's_1' });
  });

  it('names and categorises blocked commands', () => {
    expect(only('INSERT INTO t VALUES (1)')).toMatchObject({ kind: 'blocked', command: 'INSERT', category: 'write' });
    expect(only('COPY t TO STDOUT')).toMatchObject({ kind: 'blocked', category: 'copy' });
    expect(only('CREATE EXTENSION dblink')).toMatchObject({ kind: 'blocked', command: 'CREATE EXTENSION', category: 'ddl' });
    expect(only('ALTER DATABASE x SET search_path = evil')).toMatchObject({ kind: 'blocked', category: 'ddl' });
    expect(only('EXPLAIN ANALYZE SELECT 1')).toMatchObject({ kind: 'blocked', command: 'EXPLAIN ANALYZE', category: 'explain' });
    expect(only('SELECT 1 FOR UPDATE')).toMatchObject({ kind: 'blocked', category: 'locking' });
    expect(only('WITH x AS (DELETE FROM t RETURNING 1) SELECT 1')).toMatchObject({ kind: 'blocked', category: 'write' });
  });
});

describe('analyze: select facts', () => {
  it('records relations, aliases, outputs, conjuncts and parameters', () => {
    const f = select(`SELECT t.trace_id, lower(s.content) AS c, count(*) FROM traces t LEFT JOIN trace_steps s ON s.trace_id = t.trace_id WHERE t.trace_id = $1 GROUP BY 1, 2`);
    expect(f.entries.filter((e) => e.type === 'relation').map((e) => e.type === 'relation' && [e.relation.name, e.refname])).toEqual([
      ['traces', 't'],
      ['trace_steps', 's'],
    ]);
    expect(f.scopes[0]?.outputs.map((o) => o.type === 'expr' && o.name)).toEqual(['trace_id', 'c', 'count']);
    expect(f.functions.map((fn) => fn.name)).toEqual(['lower', 'count']);
    expect(f.params).toEqual([1]);
    // The LEFT JOIN's ON restricts only the nullable side (s, entry 1); WHERE restricts both.
    expect(f.conjuncts.map((c) => c.restricts)).toEqual([[1], [0, 1]]);
    expect(f.conjuncts[1]?.right).toEqual({ type: 'param', number: 1 });
    expect(f.outputRefs.map((r) => r.by)).toEqual([
      { type: 'position', index: 1 },
      { type: 'position', index: 2 },
    ]);
  });

  it('records only top-level AND equalities as conjuncts', () => {
    expect(select(`SELECT 1 FROM t WHERE a = 'x' AND (b = 'y' AND c = $2) AND (d = 'z' OR e = 'w') AND NOT f = 'v'`).conjuncts).toHaveLength(3);
    expect(select(`SELECT 1 FROM t WHERE a IN ('x') AND a LIKE 'x' AND a = lower('x') AND a = 'x' COLLATE "C"`).conjuncts).toHaveLength(0);
  });

  it('decodes every string literal form to the value the server sees', () => {
    const values = (sql: string): unknown[] => select(sql).conjuncts.map((c) => (c.right.type === 'text' ? c.right.value : c.right));
    expect(values(`SELECT 1 FROM t WHERE a = E'\\x41\\n' AND b = U&'\\00e9' AND c = $q$'$q$ AND d = 'it''s' AND e = 'x'::text::varchar`)).toEqual(['A\n', 'é', "'", "it's", 'x']);
    expect(values(`SELECT 1 FROM t WHERE a = 'x'::varchar(1) AND b = 'x'::char AND c = 'x'::name AND d = 1`)).toEqual([]);
  });

  it('resolves WITH names by Postgres scoping', () => {
    const nonRecursive = select(`WITH a AS (SELECT 1), b AS (SELECT * FROM a), c AS (SELECT * FROM c) SELECT * FROM b`);
    const types = nonRecursive.entries.map((e) => `${e.type}:${e.refname}`);
    // In a plain WITH, `c` inside c's own body is the table c, not the WITH query.
    expect(types).toEqual(['cte:a', 'relation:c', 'cte:b']);
    const recursive = select(`WITH RECURSIVE c AS (SELECT 1 UNION ALL SELECT * FROM c) SELECT * FROM c`);
    expect(recursive.entries.map((e) => e.type)).toEqual(['cte', 'cte']);
    expect(select(`WITH traces AS (SELECT 1) SELECT * FROM public.traces`).entries.map((e) => e.type)).toEqual(['relation']);
  });

  it('knows the columns of functions in FROM', () => {
    const f = select(`SELECT * FROM jsonb_each('{}') e, generate_series(1, 2) g, unnest(ARRAY[1]) WITH ORDINALITY AS u(v, n), jsonb_to_record('{}') AS r(a text, b int), unnest(ARRAY[1], ARRAY[2]) m`);
    expect(f.entries.map((e) => (e.type === 'function' ? e.columns : null))).toEqual([['key', 'value'], ['g'], ['v', 'n'], ['a', 'b'], null]);
    const rowsFrom = select(`SELECT * FROM ROWS FROM (jsonb_to_record('{}') AS (a text), generate_series(1, 2)) WITH ORDINALITY AS r`);
    expect(rowsFrom.entries.map((e) => e.type === 'function' && [e.refname, e.columns])).toEqual([['r', ['a', 'generate_series', 'ordinality']]]);
  });
});

describe('analyze: fail closed', () => {
  const unanalysable: readonly (readonly [string, RegExp])[] = [
    [`SELECT * FROM XMLTABLE('/a' PASSING '<a/>' COLUMNS x text)`, /XMLTABLE/],
    [`SELECT * FROM t TABLESAMPLE BERNOULLI (1)`, /TABLESAMPLE/],
    [`SELECT * FROM t NATURAL JOIN u`, /NATURAL JOIN/],
    [`SELECT * FROM t JOIN u USING (a) AS j`, /USING \(\.\.\.\) AS alias/],
    [`SELECT xmlelement(name a)`, /XmlExpr/],
    [`SELECT a.b.c FROM t a`, /more than two parts/],
    [`SELECT * FROM db.s.t`, /database-qualified/],
    [`WITH RECURSIVE r AS (SELECT 1 UNION ALL SELECT 1 FROM r) SEARCH DEPTH FIRST BY x SET o SELECT * FROM r`, /SEARCH\/CYCLE/],
    [`SELECT ${'lower('.repeat(300)}'x'${')'.repeat(300)}`, /nested too deeply/],
    [`SELECT ${Array.from({ length: 30_000 }, (_, i) => `lower(f${i})`).join(', ')}`, /too large/],
  ];
  for (const [sql, reason] of unanalysable) {
    it(`refuses ${sql.slice(0, 80)}`, () => {
      const s = only(sql);
      expect(s.kind).toBe('unanalysable');
      if (s.kind === 'unanalysable') expect(s.reason).toMatch(reason);
    });
  }

  it('refuses a statement too deeply nested to parse', () => {
    expect(analyze(`SELECT ${Array.from({ length: 60_000 }, (_, i) => i).join(' + ')}`)).toEqual({
      ok: false,
      sqlstate: '42601',
      message: 'the statement is nested too deeply to analyse',
    });
  });

  it('never throws, whatever the text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (sql) => {
        const a = analyze(sql);
        expect(typeof a.ok).toBe('boolean');
      }),
      { numRuns: 300 },
    );
  });

  it('never throws on SQL-shaped token soup', () => {
    const token = fc.constantFrom(
      'SELECT', 'FROM', 'WHERE', 'traces', 't', 'trace_id', '=', "'t1'", '$1', 'AND', 'OR', '(', ')', ',', '*', 'JOIN',
      'ON', 'LATERAL', 'WITH', 'x', 'AS', 'UNION', 'ALL', 'GROUP BY', 'ORDER BY', 'LIMIT', '1', 'NOT', 'IN', 'EXISTS',
      'lower(', 'count(*)', 'jsonb_array_elements(', '::text', 'CASE', 'WHEN', 'THEN', 'END', ';', 'VALUES', 'RECURSIVE',
    );
    fc.assert(
      fc.property(fc.array(token, { maxLength: 40 }), (tokens) => {
        const a = analyze(tokens.join(' '));
        expect(typeof a.ok).toBe('boolean');
      }),
      { numRuns: 500 },
    );
  });
});
