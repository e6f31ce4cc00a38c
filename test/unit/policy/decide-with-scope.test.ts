// WITH name resolution against Postgres's rules (parse_cte.c): in a plain WITH a query
// sees only the names before it (a forward or self reference is the table, or an outer
// WITH's name); in WITH RECURSIVE every query sees every name; only an unqualified name
// can mean a WITH query. A read of a trace table, or of a masked column, hidden behind a
// name the analyser resolves differently from Postgres must still be denied.
import { beforeAll, describe, expect, it } from 'vitest';
import { analyze, initSqlParser } from '../../../src/sql/analyze.js';
import { run } from './fixtures.js';

beforeAll(async () => {
  await initSqlParser();
});

const UNPINNED = /public\.traces is read without pinning trace_id to one value/;
const TWO = /more than one trace/;
const MASKED = /masked column public\.traces\.user_email/;
const PIN = `trace_id = 't1'`;

const DENIED: readonly (readonly [string, RegExp])[] = [
  // A nested plain WITH: y's `x` is the outer WITH's x (the inner x comes after it).
  [`WITH x AS (SELECT user_email AS e FROM traces WHERE ${PIN}) SELECT lower(e) FROM (WITH y AS (SELECT * FROM x), x AS (SELECT 'a' AS e) SELECT e FROM y) s`, MASKED],
  [`WITH x AS (SELECT * FROM traces WHERE ${PIN}) SELECT * FROM (WITH y AS (SELECT * FROM x), x AS (SELECT * FROM traces WHERE trace_id = 't2') SELECT * FROM y, x) s`, TWO],
  // A self reference in a plain WITH is the outer name.
  [`WITH x AS (SELECT user_email AS e FROM traces WHERE ${PIN}) SELECT lower(e) FROM (WITH x AS (SELECT * FROM x) SELECT e FROM x) s`, MASKED],
  [`WITH x AS (SELECT user_email AS e FROM traces WHERE ${PIN}) SELECT (WITH x AS (SELECT lower(e) AS l FROM x) SELECT l FROM x)`, MASKED],
  // In WITH RECURSIVE a query sees the names after it.
  [`WITH RECURSIVE y AS (SELECT * FROM x), x AS (SELECT user_email AS e FROM traces WHERE ${PIN}) SELECT lower(e) FROM y`, MASKED],
  [`WITH RECURSIVE y AS (SELECT * FROM x), x AS (SELECT * FROM traces) SELECT * FROM y WHERE ${PIN}`, UNPINNED],
  // Duplicate names (Postgres refuses them): every query in the list is still checked.
  [`WITH a AS (SELECT * FROM traces WHERE ${PIN}), a AS (SELECT * FROM traces) SELECT * FROM a`, UNPINNED],
  [`WITH a AS (SELECT * FROM traces), b AS (SELECT 1), a AS (SELECT * FROM traces WHERE ${PIN}) SELECT * FROM a`, UNPINNED],
  [`WITH RECURSIVE a AS (SELECT * FROM traces), a AS (SELECT * FROM traces WHERE ${PIN}) SELECT * FROM a`, UNPINNED],
  [`WITH a AS (SELECT user_email AS e FROM traces WHERE ${PIN}), b AS (SELECT lower(e) FROM a), a AS (SELECT 'x' AS e) SELECT * FROM b`, MASKED],
  // A WITH query named like a trace table, before, after or around the read.
  [`WITH y AS (SELECT * FROM traces), traces AS (SELECT 't1' AS trace_id) SELECT * FROM y WHERE ${PIN}`, /./],
  [`WITH traces AS (SELECT 't1' AS trace_id) SELECT * FROM public.traces`, /./],
  [`WITH traces AS (SELECT * FROM traces) SELECT * FROM traces WHERE ${PIN}`, /./],
  [`SELECT * FROM traces WHERE trace_id = (WITH traces AS (SELECT 't1' AS trace_id) SELECT trace_id FROM traces)`, /./],
];

describe('decide: trace reads behind WITH names', () => {
  for (const [sql, reason] of DENIED) {
    it(`denies ${sql}`, () => {
      const d = run(sql);
      expect(d.outcome, sql).toBe('deny');
      if (d.outcome === 'deny') expect(d.reason).toMatch(reason);
    });
  }
});

describe('analyze: what a WITH name is', () => {
  const entries = (sql: string): string[] => {
    const a = analyze(sql);
    if (!a.ok) throw new Error(a.message);
    const [s] = a.statements;
    if (s?.kind !== 'select') throw new Error(`${s?.kind}`);
    return s.entries.map((e) => `${e.type}:${e.type === 'relation' ? `${e.relation.schema ?? ''}.${e.relation.name}` : e.refname}`);
  };

  it('a table read before, after or inside a same-named WITH query stays a table read', () => {
    expect(entries(`WITH y AS (SELECT * FROM traces), traces AS (SELECT 1) SELECT * FROM y, traces`)).toEqual(['relation:.traces', 'cte:y', 'cte:traces']);
    expect(entries(`WITH traces AS (SELECT * FROM traces) SELECT * FROM traces`)).toEqual(['relation:.traces', 'cte:traces']);
    expect(entries(`WITH traces AS (SELECT 1) SELECT * FROM public.traces`)).toEqual(['relation:public.traces']);
    expect(entries(`WITH traces AS (SELECT 1) SELECT * FROM (WITH x AS (SELECT * FROM public.traces) SELECT * FROM x) s`)).toEqual(['relation:public.traces', 'cte:x', 'subquery:s']);
    // The main query sees every name; the inner WITH's names hide the outer's only after their place.
    expect(entries(`WITH a AS (SELECT 1) SELECT * FROM (WITH b AS (SELECT * FROM a), a AS (SELECT 2) SELECT * FROM a, b) s`)).toEqual(['cte:a', 'cte:a', 'cte:b', 'subquery:s']);
  });

  it('in WITH RECURSIVE every query sees every name, itself included', () => {
    expect(entries(`WITH RECURSIVE a AS (SELECT * FROM b), b AS (SELECT * FROM a) SELECT * FROM a`)).toEqual(['cte:b', 'cte:a', 'cte:a']);
    expect(entries(`WITH RECURSIVE a AS (SELECT * FROM (WITH c AS (SELECT * FROM b) SELECT * FROM c) s), b AS (SELECT 1) SELECT 1`)).toEqual(['cte:b', 'cte:c', 'subquery:s']);
  });

  it('a plain WITH inside a recursive one sees the recursive names', () => {
    expect(entries(`WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n FROM (WITH x AS (SELECT * FROM r) SELECT * FROM x, later) s), later AS (SELECT 1) SELECT * FROM r`)).toEqual(['cte:r', 'cte:x', 'cte:later', 'subquery:s', 'cte:r']);
  });
});
