// "The policy never allows what it cannot prove", as a differential property against
// the real upstream. Random SELECTs from a grammar over the demo schema (WHERE trees of
// AND/OR/NOT over pins, IN lists and subqueries, LIKE, ranges, row comparisons, CASE,
// casts and functions of the key; EXISTS and scalar subqueries, correlated or not;
// joins of every kind, CTEs (recursive too), UNION/INTERSECT/EXCEPT, LATERAL, derived
// tables, aggregates with GROUP BY/HAVING, window functions, VALUES, the customers
// table and a catalog) are decided by src/policy decide() under policies/default.yaml
// for a security reviewer and for an agent (whose entitlement and approval lookups are
// answered from the real database). Whenever the decision lets a statement run
// (allow, or needs-approval, which runs once approved), its outcome on the full
// database must equal its outcome on a database holding that one trace only: the
// same rows (as a multiset) or the same error. So no row, count, existence test or
// error of another trace can reach the result. A housekeeping allow must give the
// same outcome with no trace data at all.
//
// The one-trace databases are session-private temporary tables named like the real
// ones (pg_temp comes first in name lookup for unqualified names), so nothing shared is
// changed. policy-property.test.ts checks the keys a statement returns; this oracle
// also catches leaks through aggregates, EXISTS, joins and errors.
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Identity } from '../../../src/identity.js';
import { decide } from '../../../src/policy/decide.js';
import type { Decision } from '../../../src/policy/decision.js';
import { loadPolicyFile } from '../../../src/policy/load.js';
import type { Policy, TraceInfo } from '../../../src/policy/types.js';
import { analyze, initSqlParser } from '../../../src/sql/analyze.js';
import { pgClientConfig } from '../../helpers/env.js';
import { DEFAULT_POLICY } from '../../helpers/proxy.js';

const RUNS = 1500;
// tr_000001 (agent-a, low), tr_000002 (agent-b, medium), tr_000003 (agent-a, high),
// tr_000010, tr_000500, and one that does not exist.
const IDS = ['tr_000001', 'tr_000002', 'tr_000003', 'tr_000010', 'tr_000500', 'tr_999999'] as const;
const EMPTY = '(none)';

const identity = (subject: string, groups: string[]): Identity => ({
  subject,
  groups,
  claims: { sub: subject },
  jti: undefined,
  expiresAt: Number.POSITIVE_INFINITY,
  tokenHash: '',
});
const REVIEWER = identity('fuzz-reviewer', ['security']);
const AGENT = identity('agent-a', ['ai-agents']);

// ---- grammar -------------------------------------------------------------------------

class Builder {
  readonly params: string[] = [];
  private aliases = 0;

  param(value: string): string {
    this.params.push(value);
    return `$${this.params.length}`;
  }

  alias(prefix: string): string {
    return `${prefix}${++this.aliases}`;
  }
}

type Rel = 'traces' | 'trace_steps';
type Expr = (b: Builder, alias: string) => string;

interface Query {
  readonly sql: string;
  readonly params: readonly string[];
}

// Mostly one id, so that statements with several pinned references often agree.
const id = fc.oneof({ weight: 6, arbitrary: fc.constant<string>(IDS[0]) }, { weight: 4, arbitrary: fc.constantFrom<string>(...IDS) });
const q = (s: string): string => `'${s}'`;

/** Conjuncts the policy accepts as pins (a top-level `key = constant or parameter`). */
const pin: fc.Arbitrary<Expr> = fc.oneof(
  id.map((v): Expr => (_b, a) => `${a}.trace_id = ${q(v)}`),
  id.map((v): Expr => (b, a) => `${a}.trace_id = ${b.param(v)}`),
  id.map((v): Expr => (_b, a) => `${q(v)} = ${a}.trace_id`),
  id.map((v): Expr => (_b, a) => `${a}.trace_id = ${q(v)}::text`),
  id.map((v): Expr => (_b, a) => `${a}.trace_id = CAST(${q(v)} AS text)`),
);

/** Conditions on the key that name no single trace (or do so in a form no pin takes). */
const keyAtom: fc.Arbitrary<Expr> = fc.oneof(
  id.map((v): Expr => (_b, a) => `${a}.trace_id <> ${q(v)}`),
  fc.tuple(id, id).map(([x, y]): Expr => (_b, a) => `${a}.trace_id IN (${q(x)}, ${q(y)})`),
  id.map((v): Expr => (_b, a) => `${a}.trace_id IN (${q(v)})`),
  fc.tuple(id, id).map(([x, y]): Expr => (_b, a) => `${a}.trace_id = ANY (ARRAY[${q(x)}, ${q(y)}])`),
  id.map((v): Expr => (_b, a) => `${a}.trace_id = ANY ('{${v}}')`),
  id.map((v): Expr => (_b, a) => `${a}.trace_id LIKE '${v.slice(0, 8)}%'`),
  fc.constant<Expr>((_b, a) => `${a}.trace_id ~ '^tr_0000[0-2]'`),
  fc.constant<Expr>((_b, a) => `${a}.trace_id SIMILAR TO 'tr_00000[12]'`),
  fc.tuple(id, id).map(([x, y]): Expr => (_b, a) => `${a}.trace_id BETWEEN ${q(x)} AND ${q(y)}`),
  id.map((v): Expr => (_b, a) => `${a}.trace_id >= ${q(v)}`),
  fc.constant<Expr>((_b, a) => `${a}.trace_id IS NOT NULL`),
  fc.constant<Expr>((_b, a) => `${a}.trace_id = ${a}.trace_id`),
  id.map((v): Expr => (_b, a) => `lower(${a}.trace_id) = ${q(v)}`),
  id.map((v): Expr => (_b, a) => `${a}.trace_id || '' = ${q(v)}`),
  id.map((v): Expr => (_b, a) => `COALESCE(${a}.trace_id, 'x') = ${q(v)}`),
  id.map((v): Expr => (_b, a) => `${a}.trace_id = 'tr_' || '${v.slice(3)}'`),
  id.map((v): Expr => (_b, a) => `${a}.trace_id = upper(${q(v)})`),
  id.map((v): Expr => (_b, a) => `${a}.trace_id = (SELECT ${q(v)})`),
  id.map((v): Expr => (_b, a) => `${a}.trace_id IS NOT DISTINCT FROM ${q(v)}`),
  id.map((v): Expr => (_b, a) => `(${a}.trace_id, 1) = (${q(v)}, 1)`),
  id.map((v): Expr => (_b, a) => `${a}.trace_id = ${q(v)} COLLATE "C"`),
  id.map((v): Expr => (_b, a) => `CASE WHEN ${a}.trace_id = ${q(v)} THEN true ELSE false END`),
  id.map((v): Expr => (_b, a) => `NOT (${a}.trace_id <> ${q(v)})`),
  id.map((v): Expr => (_b, a) => `${a}.trace_id = ${q(v)} OR false`),
);

function columnAtom(rel: Rel): fc.Arbitrary<Expr> {
  if (rel === 'traces') {
    return fc.oneof(
      fc.constantFrom('low', 'medium', 'high').map((r): Expr => (_b, a) => `${a}.risk = '${r}'`),
      fc.constantFrom('agent-a', 'agent-b', 'agent-c').map((g): Expr => (_b, a) => `${a}.agent_id = '${g}'`),
      fc.constant<Expr>((_b, a) => `${a}.created_at > timestamptz '2025-01-10'`),
      fc.constant<Expr>((_b, a) => `${a}.summary LIKE '%e%'`),
      fc.constant<Expr>((_b, a) => `${a}.body ? 'metadata'`),
      fc.constant<Expr>((_b, a) => `${a}.body->>'client_version' IS NOT NULL`),
      fc.constant<Expr>((_b, a) => `length(${a}.summary) > 40`),
    );
  }
  return fc.oneof(
    fc.integer({ min: 1, max: 6 }).map((n): Expr => (_b, a) => `${a}.step >= ${n}`),
    fc.constantFrom('user', 'assistant', 'tool').map((r): Expr => (_b, a) => `${a}.role = '${r}'`),
    fc.constant<Expr>((_b, a) => `${a}.tool_calls IS NULL`),
    fc.constant<Expr>((_b, a) => `${a}.content LIKE '%a%'`),
    fc.constant<Expr>((_b, a) => `jsonb_typeof(${a}.tool_calls) = 'array'`),
  );
}

const constantAtom: fc.Arbitrary<Expr> = fc.constantFrom('true', 'false', '1 = 1', 'NULL IS NULL').map((c): Expr => () => c);

type Trees = { traces: Expr; trace_steps: Expr };

const trees = fc.letrec<Trees>((tie) => {
  const tree = (rel: Rel): fc.Arbitrary<Expr> => tie(rel) as fc.Arbitrary<Expr>;
  const maybePinned = (rel: Rel): fc.Arbitrary<Expr> =>
    fc.oneof(tree(rel), fc.tuple(pin, tree(rel)).map(([p, t]): Expr => (b, a) => `${p(b, a)} AND ${t(b, a)}`));
  // Subqueries read another reference to a trace table, correlated or not.
  const subquery = (): fc.Arbitrary<Expr> =>
    fc.oneof(
      maybePinned('trace_steps').map((t): Expr => (b, a) => {
        const x = b.alias('x');
        return `EXISTS (SELECT 1 FROM trace_steps ${x} WHERE ${x}.trace_id = ${a}.trace_id AND ${t(b, x)})`;
      }),
      maybePinned('traces').map((t): Expr => (b) => {
        const x = b.alias('x');
        return `EXISTS (SELECT 1 FROM traces ${x} WHERE ${t(b, x)})`;
      }),
      maybePinned('trace_steps').map((t): Expr => (b, a) => {
        const x = b.alias('x');
        return `${a}.trace_id IN (SELECT ${x}.trace_id FROM trace_steps ${x} WHERE ${t(b, x)})`;
      }),
      maybePinned('trace_steps').map((t): Expr => (b) => {
        const x = b.alias('x');
        return `(SELECT count(*) FROM trace_steps ${x} WHERE ${t(b, x)}) > 3`;
      }),
      maybePinned('traces').map((t): Expr => (b, a) => {
        const x = b.alias('x');
        return `${a}.trace_id = (SELECT ${x}.trace_id FROM traces ${x} WHERE ${t(b, x)} ORDER BY ${x}.trace_id LIMIT 1)`;
      }),
    );
  const node = (rel: Rel): fc.Arbitrary<Expr> =>
    fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      { weight: 3, arbitrary: fc.oneof(keyAtom, pin) },
      { weight: 2, arbitrary: columnAtom(rel) },
      { weight: 1, arbitrary: constantAtom },
      { weight: 1, arbitrary: subquery() },
      { weight: 2, arbitrary: fc.tuple(tree(rel), tree(rel)).map(([l, r]): Expr => (b, a) => `(${l(b, a)} AND ${r(b, a)})`) },
      { weight: 1, arbitrary: fc.tuple(tree(rel), tree(rel)).map(([l, r]): Expr => (b, a) => `(${l(b, a)} OR ${r(b, a)})`) },
      { weight: 1, arbitrary: tree(rel).map((x): Expr => (b, a) => `NOT (${x(b, a)})`) },
    );
  return { traces: node('traces'), trace_steps: node('trace_steps') };
});

/** A WHERE tree, often behind a top-level pin so that a good share is allowed. */
function where(rel: Rel): fc.Arbitrary<Expr> {
  const t = trees[rel];
  return fc.oneof(
    { weight: 1, arbitrary: t },
    { weight: 3, arbitrary: fc.tuple(pin, t).map(([p, x]): Expr => (b, a) => `${p(b, a)} AND ${x(b, a)}`) },
    { weight: 1, arbitrary: fc.tuple(t, pin, t).map(([l, p, r]): Expr => (b, a) => `${l(b, a)} AND ${p(b, a)} AND ${r(b, a)}`) },
  );
}

const T_COLS = 't.trace_id, t.agent_id, t.risk, t.created_at, t.summary, t.user_email, t.body';
const S_COLS = 's.trace_id, s.step, s.role, s.content, s.tool_calls';

const build = (f: (b: Builder) => string): Query => {
  const b = new Builder();
  const sql = f(b);
  return { sql, params: b.params };
};

const shapes: fc.Arbitrary<Query> = fc.oneof(
  where('traces').map((w) => build((b) => `SELECT ${T_COLS} FROM traces t WHERE ${w(b, 't')}`)),
  where('trace_steps').map((w) => build((b) => `SELECT ${S_COLS} FROM trace_steps s WHERE ${w(b, 's')}`)),
  fc
    .tuple(where('traces'), where('trace_steps'), fc.constantFrom('JOIN', 'LEFT JOIN', 'RIGHT JOIN', 'FULL JOIN'), fc.constantFrom('s.trace_id = t.trace_id', 'true', 's.trace_id <> t.trace_id', 's.trace_id = t.trace_id OR s.step = 1'))
    .map(([wt, ws, kind, on]) => build((b) => `SELECT t.trace_id, t.risk, s.step, s.role FROM traces t ${kind} trace_steps s ON ${on} WHERE ${wt(b, 't')} AND ${ws(b, 's')}`)),
  fc.tuple(where('traces'), where('trace_steps')).map(([wt, ws]) => build((b) => `SELECT t.trace_id, s.step FROM traces t CROSS JOIN trace_steps s WHERE ${wt(b, 't')} AND ${ws(b, 's')}`)),
  fc.tuple(where('trace_steps'), trees.trace_steps).map(([w, extra]) =>
    build((b) => `SELECT s1.step, s2.step FROM trace_steps s1 JOIN trace_steps s2 ON s2.trace_id = s1.trace_id WHERE ${w(b, 's1')} AND ${extra(b, 's2')}`),
  ),
  fc.tuple(where('traces'), trees.traces).map(([inner, outer]) =>
    build((b) => `WITH c AS (SELECT t.trace_id, t.risk, t.agent_id, t.created_at, t.summary, t.body FROM traces t WHERE ${inner(b, 't')}) SELECT c.trace_id, c.risk FROM c WHERE ${outer(b, 'c')}`),
  ),
  fc.tuple(where('traces'), where('trace_steps')).map(([inner, ws]) =>
    build((b) => `WITH c AS (SELECT t.trace_id, t.risk FROM traces t WHERE ${inner(b, 't')}) SELECT c.risk, s.step, s.content FROM c JOIN trace_steps s ON s.trace_id = c.trace_id WHERE ${ws(b, 's')}`),
  ),
  fc.tuple(where('traces'), where('traces'), fc.constantFrom('UNION', 'UNION ALL', 'INTERSECT', 'EXCEPT')).map(([w1, w2, op]) =>
    build((b) => `SELECT t.trace_id, t.risk FROM traces t WHERE ${w1(b, 't')} ${op} SELECT u.trace_id, u.risk FROM traces u WHERE ${w2(b, 'u')}`),
  ),
  fc.tuple(where('traces'), trees.traces).map(([inner, outer]) =>
    build((b) => `SELECT x.trace_id, x.risk FROM (SELECT t.trace_id, t.risk, t.agent_id, t.created_at, t.summary, t.body FROM traces t WHERE ${inner(b, 't')}) x WHERE ${outer(b, 'x')}`),
  ),
  fc.tuple(where('traces'), trees.trace_steps).map(([wt, ws]) =>
    build((b) => `SELECT t.trace_id, (SELECT count(*) FROM trace_steps s WHERE ${ws(b, 's')}) AS n FROM traces t WHERE ${wt(b, 't')}`),
  ),
  fc.tuple(where('traces'), where('trace_steps')).map(([wt, ws]) =>
    build((b) => `SELECT t.trace_id, l.n FROM traces t, LATERAL (SELECT count(*) AS n FROM trace_steps s WHERE s.trace_id = t.trace_id AND ${ws(b, 's')}) l WHERE ${wt(b, 't')}`),
  ),
  where('trace_steps').map((w) => build((b) => `SELECT count(*), string_agg(s.role, ',' ORDER BY s.step), max(s.step) FROM trace_steps s WHERE ${w(b, 's')}`)),
  where('trace_steps').map((w) => build((b) => `SELECT s.trace_id, count(*) FROM trace_steps s WHERE ${w(b, 's')} GROUP BY s.trace_id HAVING count(*) > 2`)),
  where('trace_steps').map((w) => build((b) => `SELECT s.step, count(*) OVER (), rank() OVER (ORDER BY s.step DESC) FROM trace_steps s WHERE ${w(b, 's')}`)),
  where('trace_steps').map((w) => build((b) => `SELECT DISTINCT ON (s.trace_id) s.trace_id, s.step FROM trace_steps s WHERE ${w(b, 's')} ORDER BY s.trace_id, s.step DESC`)),
  where('trace_steps').map((w) => build((b) => `SELECT s.step FROM trace_steps s WHERE ${w(b, 's')} ORDER BY s.trace_id, s.step LIMIT 2 OFFSET 1`)),
  where('traces').map((w) => build((b) => `WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT r.n, t.risk FROM r, traces t WHERE ${w(b, 't')}`)),
  where('traces').map((w) => build((b) => `SELECT t.trace_id, e.key FROM traces t, jsonb_each(t.body) e WHERE ${w(b, 't')}`)),
  where('traces').map((w) => build((b) => `SELECT t.trace_id FROM traces t JOIN (VALUES ('tr_000001'), ('tr_000002')) v(id) ON t.trace_id = v.id WHERE ${w(b, 't')}`)),
  where('traces').map((w) => build((b) => `SELECT t.trace_id, c.email FROM traces t, customers c WHERE ${w(b, 't')}`)),
  where('traces').map((w) => build((b) => `SELECT t.trace_id FROM traces t WHERE ${w(b, 't')} AND EXISTS (SELECT 1 FROM customers c WHERE c.id = 1)`)),
  fc.constantFrom(
    { sql: 'SELECT 1', params: [] },
    { sql: 'SELECT count(*) FROM traces', params: [] },
    { sql: 'SELECT count(*) FROM pg_class', params: [] },
    { sql: 'SELECT email FROM customers', params: [] },
    { sql: "SELECT 'tr_000001' AS trace_id", params: [] },
  ),
);

// ---- the databases -------------------------------------------------------------------

let full: pg.Client;
const snapshots = new Map<string, pg.Client>();
let reviewerPolicy: Policy;

async function readOnlyClient(): Promise<pg.Client> {
  const client = new pg.Client(pgClientConfig());
  await client.connect();
  await client.query(`SET statement_timeout = '10s'`);
  return client;
}

beforeAll(async () => {
  await initSqlParser();
  process.env['TRACEGATE_MASK_KEY'] ??= 'tracegate-test-mask-key-not-secret';
  reviewerPolicy = loadPolicyFile(DEFAULT_POLICY);
  full = await readOnlyClient();
  await full.query('SET default_transaction_read_only = on');
  for (const traceId of [...IDS, EMPTY]) {
    const client = await readOnlyClient();
    // Same names, same columns, constraints and indexes; only this trace's rows.
    await client.query('CREATE TEMP TABLE traces (LIKE public.traces INCLUDING ALL)');
    await client.query('CREATE TEMP TABLE trace_steps (LIKE public.trace_steps INCLUDING ALL)');
    await client.query('INSERT INTO pg_temp.traces SELECT * FROM public.traces WHERE trace_id = $1', [traceId]);
    await client.query('INSERT INTO pg_temp.trace_steps SELECT * FROM public.trace_steps WHERE trace_id = $1', [traceId]);
    await client.query('SET default_transaction_read_only = on');
    snapshots.set(traceId, client);
  }
  const { rows } = await snapshots.get(IDS[0])!.query<{ n: string }>('SELECT count(*) AS n FROM traces');
  expect(rows[0]?.n).toBe('1');
  const { rows: all } = await full.query<{ n: string }>('SELECT count(*) AS n FROM traces');
  expect(Number(all[0]?.n)).toBeGreaterThan(100);
}, 60_000);

afterAll(async () => {
  await Promise.allSettled([full?.end(), ...[...snapshots.values()].map((c) => c.end())]);
});

type Outcome = { readonly rows: string[] } | { readonly error: string };

async function outcome(client: pg.Client, query: Query): Promise<Outcome> {
  try {
    const r = await client.query({ text: query.sql, values: [...query.params], rowMode: 'array' });
    return { rows: (r.rows as unknown[][]).map((row) => JSON.stringify(row)).sort() };
  } catch (err) {
    return { error: (err as { code?: string }).code ?? String(err) };
  }
}

/** decide(), with the lookups the gate would make answered from the real database. */
async function decision(who: Identity, query: Query): Promise<Decision> {
  const analysis = analyze(query.sql);
  const first = decide(reviewerPolicy, who, analysis, query.params, Date.now());
  if (first.outcome !== 'lookup') return first;
  const { rows } = await full.query<{ owner: string; risk: string }>('SELECT agent_id AS owner, risk FROM traces WHERE trace_id = $1', [first.traceId]);
  const row = rows[0];
  const info: TraceInfo | null = row ? { exists: true, owner: row.owner, risk: row.risk } : null;
  return decide(reviewerPolicy, who, analysis, query.params, Date.now(), info);
}

describe('policy differential against the real upstream', () => {
  // The oracle itself: statements that do leak other traces are told apart (and the
  // policy refuses each of them), so a pass above means something.
  test.each([
    ["a count over every trace", "SELECT t.trace_id, (SELECT count(*) FROM traces) AS n FROM traces t WHERE t.trace_id = 'tr_000001'"],
    ["an existence test on another trace", "SELECT t.trace_id FROM traces t WHERE t.trace_id = 'tr_000001' AND EXISTS (SELECT 1 FROM traces x WHERE x.trace_id = 'tr_000002')"],
    ["a widened OR", "SELECT t.trace_id FROM traces t WHERE t.trace_id = 'tr_000001' OR t.risk = 'high'"],
    ["an error that depends on other rows", "SELECT t.trace_id, 1 / (SELECT count(*) FROM traces x WHERE x.risk = 'high') FROM traces t WHERE t.trace_id = 'tr_000001'"],
  ])('the oracle sees %s, and the policy denies it', async (_name, sql) => {
    const query = { sql, params: [] };
    const [onFull, onTrace] = await Promise.all([outcome(full, query), outcome(snapshots.get(IDS[0]) as pg.Client, query)]);
    expect(onFull).not.toEqual(onTrace);
    expect((await decision(REVIEWER, query)).outcome).toBe('deny');
  });

  test('a statement the policy lets run gives the same outcome on the full database as on its one trace', async () => {
    const counts = { inputs: 0, denied: 0, traceRead: 0, approval: 0, housekeeping: 0, withRows: 0, errors: 0 };
    await fc.assert(
      fc.asyncProperty(shapes, fc.constantFrom(REVIEWER, AGENT), async (query, who) => {
        counts.inputs++;
        const d = await decision(who, query);
        if (d.outcome === 'deny') {
          counts.denied++;
          return;
        }
        if (d.outcome === 'lookup') throw new Error(`a second lookup for ${query.sql}`);
        const scope = d.category === 'trace-read' ? d.traceId : EMPTY;
        if (d.outcome === 'needs-approval') counts.approval++;
        else if (d.category === 'trace-read') counts.traceRead++;
        else counts.housekeeping++;
        const snapshot = snapshots.get(scope);
        expect(snapshot, `decision names ${scope}, which no literal of the grammar is`).toBeDefined();
        const [onFull, onTrace] = await Promise.all([outcome(full, query), outcome(snapshot as pg.Client, query)]);
        if ('rows' in onFull && onFull.rows.length > 0) counts.withRows++;
        if ('error' in onFull) counts.errors++;
        expect(onFull, `${d.outcome} (${d.category}, ${scope}) for ${who.subject}: ${query.sql} with ${JSON.stringify(query.params)}`).toEqual(onTrace);
      }),
      { numRuns: RUNS },
    );
    // Not vacuous: many statements run, many of them return rows, across decisions.
    expect(counts.traceRead).toBeGreaterThan(RUNS / 5);
    expect(counts.withRows).toBeGreaterThan(RUNS / 10);
    expect(counts.approval).toBeGreaterThan(0);
    expect(counts.denied).toBeGreaterThan(RUNS / 5);
    console.info(`policy differential: ${JSON.stringify(counts)}`);
  }, 300_000);
});
