// Analyses a SELECT (and everything nested in it: set operations, VALUES, WITH,
// subqueries in any clause) into SelectFacts. Each query level becomes a scope; its
// clauses are analysed with the namespace Postgres would use for them. Constructs that
// are always blocked inside a SELECT (data-modifying WITH, SELECT INTO, FOR UPDATE)
// raise Blocked; anything not understood raises Unanalysable.
import {
  Blocked,
  BlockedCategory,
  bool,
  checkFields,
  fieldSet,
  int,
  isObject,
  list,
  nameList,
  optionalBody,
  optionalString,
  string,
  unwrap,
  Unanalysable,
  type AstBody,
} from './ast.js';
import { figureColname } from './column-names.js';
import { addConjuncts } from './conjuncts.js';
import { analyzeExpr, analyzeFuncCall, analyzeSortBy, analyzeWindowDef, columnRefForm, functionName, operatorRef, typeNameRef, type ExprCtx } from './expr-analyzer.js';
import { FactsBuilder, type CteBinding, type CteScope } from './facts-builder.js';
import type { Clause, Env, Output, ScopeId, ScopeRole, SelectFacts } from './facts.js';
import { analyzeFromList } from './from-analyzer.js';
import { blocked } from './utility.js';

const F = {
  SelectStmt: fieldSet(
    'distinctClause',
    'intoClause',
    'targetList',
    'fromClause',
    'whereClause',
    'groupClause',
    'groupDistinct',
    'havingClause',
    'windowClause',
    'valuesLists',
    'sortClause',
    'limitOffset',
    'limitCount',
    'limitOption',
    'lockingClause',
    'withClause',
    'op',
    'all',
    'larg',
    'rarg',
  ),
  ResTarget: fieldSet('name', 'indirection', 'val', 'location'),
  WithClause: fieldSet('ctes', 'recursive', 'location'),
  CommonTableExpr: fieldSet('ctename', 'aliascolnames', 'ctematerialized', 'ctequery', 'search_clause', 'cycle_clause', 'location'),
  GroupingSet: fieldSet('kind', 'content', 'location'),
  List: fieldSet('items'),
} as const;

/** The wrapped SelectStmt of a top-level statement, into facts. */
export function analyzeSelect(body: AstBody, text: string): SelectFacts {
  const b = new FactsBuilder();
  const q = new QueryAnalyzer(b);
  q.query(body, 'top', null, null, 0);
  return b.build(text);
}

// Whole-row forms that keep column names visible to the masker (JSON keys) or that
// the detectors scan whole (record text); allowed only as a whole output column.
const WHOLE_ROW_FUNCTIONS = new Set(['to_json', 'to_jsonb', 'row_to_json', 'json_agg', 'jsonb_agg']);
// Only text: Postgres has no cast from a row to json or jsonb, so `x::json(b)` over a bare
// name is always a column's cast, which parses text as JSON (its error quotes the input
// it stopped at) and must be checked as the cast it is (policy/derivation.ts castOf).
const WHOLE_ROW_CASTS = new Set(['text']);
/** How a whole row's cast to text is named in its use (column-access.ts refuses it for tables with masked columns). */
export const WHOLE_ROW_TO_TEXT = 'a cast to text';

class QueryAnalyzer {
  constructor(private readonly b: FactsBuilder) {}

  /** Analyses a wrapped `{ SelectStmt: ... }` node. */
  wrapped(node: unknown, role: ScopeRole, env: Env | null, ctes: CteScope | null, depth: number): ScopeId {
    const { type, body } = unwrap(node);
    if (type !== 'SelectStmt') throw new Unanalysable(`${type} as a subquery`);
    return this.query(body, role, env, ctes, depth);
  }

  query(body: AstBody, role: ScopeRole, env: Env | null, outerCtes: CteScope | null, depth: number, preallocated?: ScopeId): ScopeId {
    this.b.visit(depth);
    checkFields('SelectStmt', body, F.SelectStmt);
    if (body['intoClause'] !== undefined) throw blocked('SELECT INTO', BlockedCategory.into);
    if (list(body['lockingClause'], 'locking clause').length) throw blocked('SELECT ... FOR UPDATE/SHARE', BlockedCategory.locking);
    const withClause = optionalBody(body['withClause'], 'WITH');
    const ctes = withClause ? this.withClause(withClause, env, outerCtes, depth + 1) : outerCtes;
    const op = body['op'] ?? 'SETOP_NONE';
    if (op !== 'SETOP_NONE') return this.setOperation(body, role, env, ctes, depth, preallocated);
    if (body['valuesLists'] !== undefined) return this.values(body, role, env, ctes, depth, preallocated);
    return this.select(body, role, env, ctes, depth, preallocated);
  }

  private exprCtx(env: Env, ctes: CteScope | null, clause: Clause, depth: number): ExprCtx {
    return {
      b: this.b,
      env,
      ctes,
      clause,
      via: null,
      depth,
      subquery: (stmt, subEnv, subCtes) => this.wrapped(stmt, 'sublink', subEnv, subCtes, depth + 1),
    };
  }

  private withClause(w: AstBody, env: Env | null, outer: CteScope | null, depth: number): CteScope {
    checkFields('WithClause', w, F.WithClause);
    const recursive = bool(w['recursive']);
    const defs = list(w['ctes'], 'WITH').map((node) => {
      const { type, body } = unwrap(node);
      if (type !== 'CommonTableExpr') throw new Unanalysable(`${type} in WITH`);
      checkFields(type, body, F.CommonTableExpr);
      if (body['search_clause'] !== undefined || body['cycle_clause'] !== undefined) throw new Unanalysable('SEARCH/CYCLE clauses in WITH');
      const { type: queryType, body: query } = unwrap(body['ctequery']);
      if (queryType !== 'SelectStmt') {
        throw new Blocked('data-modifying WITH', BlockedCategory.write, `a data-modifying statement inside WITH (${queryType.replace(/Stmt$/, '').toUpperCase()}) is always blocked`);
      }
      return { name: string(body['ctename'], 'WITH name'), columnAliases: nameList(body['aliascolnames'], 'WITH column names'), query };
    });
    // Postgres: in WITH RECURSIVE every query sees every name in the list (itself
    // included); otherwise a query sees only the names before it.
    const names = new Map<string, { binding: CteBinding; index: number }>();
    const scope: CteScope = { names, visible: defs.length, outer };
    if (recursive) {
      const ids = defs.map((d, index) => {
        const id = this.b.newScope('cte', d.query['op'] === undefined || d.query['op'] === 'SETOP_NONE' ? 'select' : 'setop');
        names.set(d.name, { binding: { name: d.name, query: id, columnAliases: d.columnAliases }, index });
        this.b.ctes.push({ name: d.name, query: id });
        return id;
      });
      defs.forEach((d, i) => this.query(d.query, 'cte', env, scope, depth + 1, ids[i]));
      return scope;
    }
    defs.forEach((d, index) => {
      const id = this.query(d.query, 'cte', env, { names, visible: index, outer }, depth + 1);
      names.set(d.name, { binding: { name: d.name, query: id, columnAliases: d.columnAliases }, index });
      this.b.ctes.push({ name: d.name, query: id });
    });
    return scope;
  }

  private setOperation(body: AstBody, role: ScopeRole, env: Env | null, ctes: CteScope | null, depth: number, preallocated?: ScopeId): ScopeId {
    const id = preallocated ?? this.b.newScope(role, 'setop');
    this.b.scope(id).shape = 'setop';
    // Only UNION ALL appends; the others compare rows, by sorting them when Postgres
    // cannot hash (a bit column), and return them in that order.
    this.b.scope(id).sortsOutputs = !(body['op'] === 'SETOP_UNION' && bool(body['all']));
    const left = this.query(expectBody(body['larg']), 'setop-branch', env, ctes, depth + 1);
    const right = this.query(expectBody(body['rarg']), 'setop-branch', env, ctes, depth + 1);
    this.b.scope(id).branches = [left, right];
    // The result's columns are named by the leftmost branch; its values are new (no
    // table origin), so they are plain names here.
    this.b.scope(id).outputs = this.b.scope(left).outputs.map((o): Output =>
      o.type === 'star' ? o : { type: 'expr', name: o.name, column: null, wholeRow: null },
    );
    const outerOnly: Env = { frame: [], outer: env };
    for (const s of list(body['sortClause'], 'ORDER BY')) this.setOpSort(s, id, this.exprCtx(outerOnly, ctes, 'order by', depth + 1));
    this.limits(body, this.exprCtx(outerOnly, ctes, 'limit', depth + 1));
    return id;
  }

  // ORDER BY on a set operation may only name result columns, by name or position.
  private setOpSort(node: unknown, scope: ScopeId, ctx: ExprCtx): void {
    const sort = sortByParts(node);
    const ref = this.outputRefOf(sort.node);
    if (ref === null) throw new Unanalysable('an ORDER BY expression on a UNION/INTERSECT/EXCEPT (use a column name or position)');
    this.b.outputRef(scope, ref, 'order by');
    if (sort.useOp !== undefined) operatorRef(sort.useOp, ctx);
  }

  private values(body: AstBody, role: ScopeRole, env: Env | null, ctes: CteScope | null, depth: number, preallocated?: ScopeId): ScopeId {
    const id = preallocated ?? this.b.newScope(role, 'values');
    const scope = this.b.scope(id);
    scope.shape = 'values';
    // A VALUES row's columns carry no table origin, so a masked column inside one would
    // leave unmasked: every item is an expression, never a pass-through output.
    const ctx = this.exprCtx({ frame: [], outer: env }, ctes, 'values', depth + 1);
    let width = 0;
    for (const row of list(body['valuesLists'], 'VALUES')) {
      const { type, body: items } = unwrap(row);
      if (type !== 'List') throw new Unanalysable(`${type} in VALUES`);
      checkFields(type, items, F.List);
      const values = list(items['items'], 'VALUES row');
      // A `*` in a VALUES row (x.*, (x).*) expands into every column of x: the list's
      // width and the position of each value after it are then unknown.
      for (const v of values) {
        const { type: vt, body: vb } = unwrap(v);
        if (endsInStar(vt, vb) || (vt === 'ColumnRef' && columnRefForm(vb).type === 'star')) throw new Unanalysable('x.* in a VALUES list (list the columns)');
      }
      width = Math.max(width, values.length);
      values.forEach((v, index) => this.b.addRoot(analyzeExpr(v, ctx), 'values', { output: { scope: id, index } }));
    }
    scope.outputs = Array.from({ length: width }, (_, i): Output => ({ type: 'expr', name: `column${i + 1}`, column: null, wholeRow: null }));
    for (const s of list(body['sortClause'], 'ORDER BY')) this.b.addRoot(analyzeSortBy(s, { ...ctx, clause: 'order by' }), 'order by', { ordering: true });
    this.limits(body, ctx);
    return id;
  }

  private select(body: AstBody, role: ScopeRole, outer: Env | null, ctes: CteScope | null, depth: number, preallocated?: ScopeId): ScopeId {
    const id = preallocated ?? this.b.newScope(role, 'select');
    const scope = this.b.scope(id);
    const from = analyzeFromList(body['fromClause'], {
      b: this.b,
      scope: id,
      outer,
      ctes,
      depth: depth + 1,
      subquery: (stmt, subRole, env, subCtes) => this.wrapped(stmt, subRole, env, subCtes, depth + 1),
    });
    scope.leaves = [...from.leaves];
    const env: Env = { frame: from.items, outer };
    const ctx = (clause: Clause): ExprCtx => this.exprCtx(env, ctes, clause, depth + 1);

    scope.outputs = list(body['targetList'], 'select list').map((t, index) => this.target(t, id, index, ctx('select list')));
    if (body['whereClause'] !== undefined) addConjuncts(body['whereClause'], ctx('where'), from.leaves);
    for (const g of list(body['groupClause'], 'GROUP BY')) this.groupItem(g, id, ctx('group by'));
    if (body['havingClause'] !== undefined) this.b.addRoot(analyzeExpr(body['havingClause'], ctx('having')), 'having');
    for (const w of list(body['windowClause'], 'WINDOW')) {
      const { type, body: wd } = unwrap(w);
      if (type !== 'WindowDef') throw new Unanalysable(`${type} in WINDOW`);
      const win = analyzeWindowDef(wd, ctx('window'));
      // A window's partitions are made by sorting on them: rows come back in that order.
      for (const v of win.partition) this.b.addRoot(v, 'window', { ordering: true });
      for (const v of win.order) this.b.addRoot(v, 'window', { ordering: true });
      for (const v of win.offsets) this.b.addRoot(v, 'window');
    }
    const distinct = list(body['distinctClause'], 'DISTINCT');
    if (distinct.length === 1 && isObject(distinct[0]) && Object.keys(distinct[0]).length === 0) {
      scope.distinct = true;
      scope.sortsOutputs = true;
    } else {
      for (const d of distinct) this.sortKey(d, id, ctx('distinct on'));
    }
    for (const s of list(body['sortClause'], 'ORDER BY')) {
      const sort = sortByParts(s);
      if (sort.useOp !== undefined) operatorRef(sort.useOp, ctx('order by'));
      this.sortKey(sort.node, id, ctx('order by'));
    }
    this.limits(body, ctx('limit'));
    return id;
  }

  private limits(body: AstBody, ctx: ExprCtx): void {
    if (body['limitCount'] !== undefined) this.b.addRoot(analyzeExpr(body['limitCount'], { ...ctx, clause: 'limit' }), 'limit');
    if (body['limitOffset'] !== undefined) this.b.addRoot(analyzeExpr(body['limitOffset'], { ...ctx, clause: 'offset' }), 'offset');
  }

  /** One select-list item: its output column, and how its value is used. */
  private target(node: unknown, scope: ScopeId, index: number, ctx: ExprCtx): Output {
    const { type, body } = unwrap(node);
    if (type !== 'ResTarget') throw new Unanalysable(`${type} in the select list`);
    checkFields(type, body, F.ResTarget);
    if (body['indirection'] !== undefined) throw new Unanalysable('indirection on a select-list item');
    const val = body['val'];
    const name = optionalString(body['name'], 'column alias') ?? figureColname(val);
    const location = int(body['location'], 'location');
    const { type: valType, body: valBody } = unwrap(val);
    // Postgres expands `(x).*` here into every field of x, as many output columns as
    // x has; counted as one, the columns after it would be named and numbered wrongly.
    if (endsInStar(valType, valBody)) throw new Unanalysable('(x).* in the select list (write x.* for a table\'s or subquery\'s columns)');
    if (valType === 'ColumnRef') {
      checkFields(valType, valBody, COLUMN_REF_FIELDS);
      const ref = columnRefForm(valBody);
      const use = this.b.addUse(ref, ctx.env, { type: 'output', scope }, location);
      this.b.addRoot({ type: 'use', use }, 'select list', { output: { scope, index } });
      return ref.type === 'star' ? { type: 'star', use } : { type: 'expr', name, column: use, wholeRow: null };
    }
    const wholeRow = this.wholeRowTarget(valType, valBody, scope, ctx);
    if (wholeRow !== null) {
      this.b.addRoot({ type: 'use', use: wholeRow }, 'select list', { output: { scope, index } });
      return { type: 'expr', name, column: null, wholeRow };
    }
    this.b.addRoot(analyzeExpr(val, ctx), 'select list', { output: { scope, index } });
    return { type: 'expr', name, column: null, wholeRow: null };
  }

  /** to_jsonb(t), row_to_json(t), json_agg(t), t::text ... as a whole output column. */
  private wholeRowTarget(type: string, body: AstBody, scope: ScopeId, ctx: ExprCtx): number | null {
    if (type === 'FuncCall') {
      const fn = functionName(body);
      if ((fn.schema !== null && fn.schema !== 'pg_catalog') || !WHOLE_ROW_FUNCTIONS.has(fn.name)) return null;
      const first = wholeRowArgument(list(body['args'], 'arguments')[0]);
      // json_agg(DISTINCT x) sorts x's values: an ordinary call, checked as one.
      if (first === null || body['agg_star'] === true || body['func_variadic'] === true || body['agg_distinct'] === true) return null;
      // The function's other arguments (row_to_json(t, true)): a root of their own.
      this.b.addRoot(analyzeFuncCall(body, ctx, true).value, 'select list');
      return this.b.addUse(first.ref, ctx.env, { type: 'wholerow-output', scope, via: `${fn.name}()` }, first.location);
    }
    if (type === 'TypeCast') {
      const first = wholeRowArgument(body['arg']);
      const typeName = optionalBody(body['typeName'], 'type name');
      if (first === null || typeName === null || typeName['arrayBounds'] !== undefined || typeName['typmods'] !== undefined) return null;
      const names = nameList(typeName['names'], 'type name');
      const last = names[names.length - 1];
      const qualifiedOk = names.length === 1 || (names.length === 2 && names[0] === 'pg_catalog');
      if (!qualifiedOk || last === undefined || !WHOLE_ROW_CASTS.has(last)) return null;
      typeNameRef(body['typeName'], ctx);
      return this.b.addUse(first.ref, ctx.env, { type: 'wholerow-output', scope, via: last === 'text' ? WHOLE_ROW_TO_TEXT : `a cast to ${last}` }, first.location);
    }
    return null;
  }

  private groupItem(node: unknown, scope: ScopeId, ctx: ExprCtx): void {
    const { type, body } = unwrap(node);
    if (type === 'GroupingSet') {
      checkFields(type, body, F.GroupingSet);
      for (const c of list(body['content'], 'grouping set')) this.groupItem(c, scope, ctx);
      return;
    }
    this.sortKey(node, scope, ctx);
  }

  /**
   * ORDER BY / GROUP BY / DISTINCT ON item. A bare name may mean an output column or an
   * input column depending on the clause; both readings are recorded so the policy
   * checks whichever Postgres picks.
   */
  private sortKey(node: unknown, scope: ScopeId, ctx: ExprCtx): void {
    const ref = this.outputRefOf(node);
    if (ref !== null) this.b.outputRef(scope, ref, ctx.clause);
    // Each of these clauses sorts on the item (GROUP BY when Postgres does not hash, say
    // over a bit column), and the rows come back in that order.
    if (ref === null || ref.type === 'name') this.b.addRoot(analyzeExpr(node, ctx), ctx.clause, { ordering: true });
  }

  private outputRefOf(node: unknown): { type: 'position'; index: number } | { type: 'name'; name: string } | null {
    const { type, body } = unwrap(node);
    if (type === 'A_Const' && isObject(body['ival'])) return { type: 'position', index: int(body['ival']['ival'], 'position') };
    if (type === 'ColumnRef') {
      const fields = list(body['fields'], 'column reference');
      if (fields.length === 1) {
        const ref = columnRefForm(body);
        if (ref.type === 'column') return { type: 'name', name: ref.name };
      }
    }
    return null;
  }
}

/** `(x).*`: an indirection whose last step is `*`. */
function endsInStar(type: string, body: AstBody): boolean {
  if (type !== 'A_Indirection') return false;
  const steps = list(body['indirection'], 'indirection');
  const last = steps[steps.length - 1];
  return last !== undefined && unwrap(last).type === 'A_Star';
}

function expectBody(value: unknown): AstBody {
  if (!isObject(value)) throw new Unanalysable('a malformed set operation');
  return value;
}

const SORT_BY_FIELDS = fieldSet('node', 'sortby_dir', 'sortby_nulls', 'useOp', 'location');
const COLUMN_REF_FIELDS = fieldSet('fields', 'location');

function sortByParts(node: unknown): { node: unknown; useOp: unknown } {
  const { type, body } = unwrap(node);
  if (type !== 'SortBy') throw new Unanalysable(`${type} in ORDER BY`);
  checkFields(type, body, SORT_BY_FIELDS);
  return { node: body['node'], useOp: body['useOp'] };
}

/** A bare whole-row candidate: `t` or `t.*` (a plain column `t` is told apart later). */
function wholeRowArgument(node: unknown): { ref: { type: 'column'; qualifier: null; name: string } | { type: 'star'; qualifier: string }; location: number } | null {
  if (!isObject(node)) return null;
  const { type, body } = unwrap(node);
  if (type !== 'ColumnRef') return null;
  const ref = columnRefForm(body);
  const location = int(body['location'], 'location');
  if (ref.type === 'column' && ref.qualifier === null) return { ref: { type: 'column', qualifier: null, name: ref.name }, location };
  if (ref.type === 'star' && ref.qualifier !== null) return { ref: { type: 'star', qualifier: ref.qualifier }, location };
  return null;
}
