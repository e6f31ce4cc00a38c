// The analyser on its own: parse results, statement splitting, the facts it records,
// the constructs it refuses, and that it never throws whatever text it is given.
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { analyze, clearAnalysisCache, initSqlParser } from '../../../src/sql/analyze.js';
import type { SelectFacts, StatementFacts, ValueRef } from '../../../src/sql/facts.js';
import { DRIVER_INTROSPECTION } from '../policy/driver-queries.js';

beforeAll(async () => {
  await initSqlParser();
  await initSqlParser();
});

function only(sql: string, maxBytes?: number): StatementFacts {
  const a = analyze(sql, maxBytes);
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

  it('refuses text longer than its limit in UTF-8 bytes with 54000, unparsed and uncached', () => {
    const tooLong = { ok: false, sqlstate: '54000', message: 'the statement is longer than 100 bytes, the most tracegate analyses (limits.maxStatementSize)' };
    const ascii = `SELECT 1 -- ${'x'.repeat(88)}`;
    expect(Buffer.byteLength(ascii)).toBe(100);
    expect(analyze(ascii, 100)).toMatchObject({ ok: true });
    expect(analyze(`${ascii}x`, 100)).toEqual(tooLong);
    // 60 characters, 108 bytes.
    const twoByte = `SELECT 1 -- ${'é'.repeat(48)}`;
    expect(twoByte.length).toBeLessThan(100);
    expect(analyze(twoByte, 100)).toEqual(tooLong);
    // Even a syntax error: the parser never sees the text, so it never says so.
    expect(analyze(`SELEC ${'x'.repeat(200)}`, 100)).toEqual(tooLong);
    // Not cached: under a larger limit the same text is analysed.
    expect(analyze(twoByte, 200)).toMatchObject({ ok: true });
    expect(analyze('SELECT 1')).toMatchObject({ ok: true });
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
    // A name defined later in a plain WITH is the table inside the queries before it,
    // at any depth: a WITH query named after a trace table does not hide a read of it.
    const forward = select(`WITH x AS (SELECT * FROM (SELECT * FROM traces) s WHERE EXISTS (SELECT 1 FROM traces)), traces AS (SELECT 1) SELECT * FROM x, traces`);
    expect(forward.entries.map((e) => `${e.type}:${e.refname}`)).toEqual(['relation:traces', 'subquery:s', 'relation:traces', 'cte:x', 'cte:traces']);
  });

  it('knows the columns of functions in FROM', () => {
    const f = select(`SELECT * FROM jsonb_each('{}') e, generate_series(1, 2) g, unnest(ARRAY[1]) WITH ORDINALITY AS u(v, n), jsonb_to_record('{}') AS r(a text, b int), unnest(ARRAY[1], ARRAY[2]) m`);
    expect(f.entries.map((e) => (e.type === 'function' ? e.columns : null))).toEqual([['key', 'value'], ['g'], ['v', 'n'], ['a', 'b'], null]);
    const rowsFrom = select(`SELECT * FROM ROWS FROM (jsonb_to_record('{}') AS (a text), generate_series(1, 2)) WITH ORDINALITY AS r`);
    expect(rowsFrom.entries.map((e) => e.type === 'function' && [e.refname, e.columns])).toEqual([['r', ['a', 'generate_series', 'ordinality']]]);
  });
});

describe('analyze: expression trees', () => {
  /** Every use reachable from the roots, counting how often each is reached. */
  function reached(f: SelectFacts): Map<number, number> {
    const seen = new Map<number, number>();
    const value = (v: ValueRef): void => {
      if (v.type === 'use') seen.set(v.use, (seen.get(v.use) ?? 0) + 1);
      if (v.type !== 'expr') return;
      const n = f.exprs[v.expr];
      if (!n) throw new Error(`no expr ${v.expr}`);
      switch (n.type) {
        case 'function':
          [...n.args, ...n.order, ...(n.filter ? [n.filter] : []), ...(n.window ? [...n.window.partition, ...n.window.order, ...n.window.offsets] : [])].forEach(value);
          return;
        case 'cast':
          [n.arg, ...n.typmods].forEach(value);
          return;
        case 'collate':
        case 'test':
          value(n.arg);
          return;
        case 'case':
          [...(n.subject ? [n.subject] : []), ...n.conditions, ...n.results].forEach(value);
          return;
        case 'indirection':
          [n.arg, ...n.indexes].forEach(value);
          return;
        case 'sublink':
          if (n.test) value(n.test);
          return;
        case 'sql-value':
          return;
        default:
          n.args.forEach(value);
      }
    };
    for (const r of f.roots) value(r.value);
    return seen;
  }

  const corpus = [
    `SELECT t.trace_id, lower(s.content) AS c, count(*) FROM traces t LEFT JOIN trace_steps s ON s.trace_id = t.trace_id WHERE t.trace_id = $1 GROUP BY 1, 2`,
    `SELECT a, b.* , to_jsonb(b), row_to_json(b, true), b::text FROM t a JOIN u b USING (k) WHERE a.x = 1 AND (a.y LIKE 'z%' OR NOT a.z) ORDER BY a.w DESC`,
    `SELECT CASE x WHEN 1 THEN y ELSE z END, CASE WHEN p THEN q END, coalesce(a, b), greatest(c, d), nullif(e, f), ARRAY[g], ROW(h, i), (j).k, l[1:2], m COLLATE "C" FROM t`,
    `SELECT sum(x) FILTER (WHERE y > 0), array_agg(z ORDER BY w), percentile_disc(0.5) WITHIN GROUP (ORDER BY v), rank() OVER (PARTITION BY a ORDER BY b ROWS BETWEEN c PRECEDING AND CURRENT ROW), lag(d) OVER win FROM t WINDOW win AS (PARTITION BY e ORDER BY f)`,
    `SELECT (SELECT max(x) FROM u WHERE u.k = t.k), EXISTS (SELECT 1 FROM v WHERE v.k = t.k), t.a IN (SELECT b FROM w), t.c < ANY (SELECT d FROM w) FROM t`,
    `WITH c AS (SELECT x, y FROM t WHERE k = 'a') SELECT x FROM c UNION ALL SELECT y FROM c ORDER BY 1 LIMIT 3 OFFSET 1`,
    `SELECT e.value, g, r.* FROM t, LATERAL jsonb_array_elements(t.doc->'a') e, generate_series(1, t.n) g, ROWS FROM (jsonb_to_record(t.doc) AS (a text)) r WHERE t.k = $2::text`,
    `SELECT * FROM (VALUES (1, 'a'), (2, t.x)) v(n, s), LATERAL (SELECT v.n + 1 AS m) w, t WHERE x::varchar(3) = 'abc' AND y BETWEEN 1 AND 2 AND z IS DISTINCT FROM 3 AND q IS NULL AND r IS TRUE`,
    `SELECT DISTINCT ON (a) a, b FROM t GROUP BY GROUPING SETS ((a), (b)) HAVING count(*) > 1 ORDER BY a, b`,
    `SELECT x FROM t WHERE (a, b) = (SELECT 1, 2) AND c = ANY (ARRAY[1, 2]) AND d <> ALL ('{1}') AND current_date > e`,
  ];

  it('puts every column use under exactly one root', () => {
    const statements = [...corpus, ...Object.values(DRIVER_INTROSPECTION)].flatMap((sql) => {
      const a = analyze(sql);
      return a.ok ? a.statements.flatMap((s) => (s.kind === 'select' ? [s] : [])) : [];
    });
    expect(statements.length).toBeGreaterThan(corpus.length);
    for (const f of statements) {
      const seen = reached(f);
      for (const u of f.uses) expect(seen.get(u.id), `${f.text}: use ${u.id}`).toBe(1);
    }
  });

  it('records select-list items as roots filling their output, and sort keys as ordering roots', () => {
    const f = select(`SELECT upper(content) AS u, step FROM trace_steps WHERE trace_id = $1 AND step > 2 ORDER BY length(content) DESC, 2`);
    const outputs = f.roots.filter((r) => r.output).map((r) => [r.clause, r.output?.index]);
    expect(outputs).toEqual([
      ['select list', 0],
      ['select list', 1],
    ]);
    expect(f.roots.filter((r) => r.ordering).map((r) => r.clause)).toEqual(['order by']);
    expect(f.roots.filter((r) => r.clause === 'where')).toHaveLength(2);
    const first = f.roots[0]?.value;
    const node = first?.type === 'expr' ? f.exprs[first.expr] : undefined;
    expect(node).toMatchObject({ type: 'function', name: { name: 'upper' }, args: [{ type: 'use' }] });
  });

  it('records literals by kind, string literals with their value', () => {
    const f = select(`SELECT f(1, 1.5, true, 'x', NULL, B'101', $1)`);
    const root = f.roots[0]?.value;
    const node = root?.type === 'expr' ? f.exprs[root.expr] : undefined;
    expect(node?.type === 'function' && node.args).toEqual([
      { type: 'const', kind: 'number', value: null },
      { type: 'const', kind: 'number', value: null },
      { type: 'const', kind: 'bool', value: null },
      { type: 'const', kind: 'string', value: 'x' },
      { type: 'const', kind: 'null', value: null },
      { type: 'const', kind: 'bits', value: null },
      { type: 'param', number: 1 },
    ]);
  });

  it('ties functions in FROM to their entry and column definition types, and set operations to their branches', () => {
    const f = select(`SELECT * FROM t, jsonb_to_recordset(t.d) AS r(a text, b numeric(5)) UNION SELECT 1, 2, 3`);
    const fromFn = f.roots.find((r) => r.fromFunction);
    expect(fromFn?.fromFunction?.definitions?.map((d) => [d.name, d.typmods])).toEqual([
      ['text', false],
      ['numeric', true],
    ]);
    expect(f.entries[fromFn?.fromFunction?.entry ?? -1]?.type).toBe('function');
    expect(f.scopes[0]?.branches).toHaveLength(2);
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
    [`SELECT 1 FROM traces t0 ${Array.from({ length: 60 }, (_, i) => `JOIN trace_steps s${i} ON s${i}.trace_id = t0.trace_id`).join(' ')}`, /more than 100 tables/],
    [`SELECT 1 FROM ${Array.from({ length: 101 }, (_, i) => `t${i}`).join(', ')}`, /more than 100 tables/],
    [Array.from({ length: 101 }, (_, i) => `SELECT 1 FROM t${i}`).join(' UNION ALL '), /more than 100 tables/],
  ];
  for (const [sql, reason] of unanalysable) {
    it(`refuses ${sql.slice(0, 80)}`, () => {
      // With no size limit: the analyser's own bounds hold wherever an operator sets it.
      const s = only(sql, Number.POSITIVE_INFINITY);
      expect(s.kind).toBe('unanalysable');
      if (s.kind === 'unanalysable') expect(s.reason).toMatch(reason);
    });
  }

  it('counts FROM items per statement: 100 pass, the 101st refuses only its own statement, every time', () => {
    const tables = (n: number, prefix = 't'): string => Array.from({ length: n }, (_, i) => `${prefix}${i}`).join(', ');
    expect(select(`SELECT 1 FROM ${tables(100)}`).entries).toHaveLength(100);
    expect(select(`WITH c AS (SELECT 1) SELECT 1 FROM ${Array.from({ length: 100 }, (_, i) => `c c${i}`).join(', ')}`).entries).toHaveLength(100);
    const over = `SELECT 1 FROM ${tables(101)}`;
    clearAnalysisCache();
    for (let i = 0; i < 2; i++) {
      // The second time from the cache: still refused, and nothing left behind.
      const a = analyze(`${over}; SELECT * FROM traces WHERE trace_id = 't1'; ${over}`);
      if (!a.ok) throw new Error(a.message);
      expect(a.statements.map((s) => s.kind)).toEqual(['unanalysable', 'select', 'unanalysable']);
      const [, read] = a.statements;
      if (read?.kind !== 'select') throw new Error('no select');
      expect(read.entries.map((e) => e.id)).toEqual([0]);
    }
    expect(select(`SELECT 1 FROM ${tables(100, 'u')}`).entries).toHaveLength(100);
  });

  it('refuses a statement too deeply nested to parse', () => {
    expect(analyze(`SELECT ${Array.from({ length: 60_000 }, (_, i) => i).join(' + ')}`, Number.POSITIVE_INFINITY)).toEqual({
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
