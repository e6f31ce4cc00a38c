// The mutable state the SELECT analysers fill while walking one statement, and the
// bounds that keep a hostile statement from costing unbounded time or stack. It holds
// facts only; it never interprets them.
import { Unanalysable } from './ast.js';
import type {
  Clause,
  ColumnRefForm,
  ColumnUse,
  Conjunct,
  CteDef,
  Env,
  ExprId,
  ExprNode,
  ExprRoot,
  Output,
  OutputRef,
  QualifiedName,
  RangeEntry,
  Scope,
  ScopeId,
  ScopeRole,
  SelectFacts,
  TypeRef,
  UseContext,
  UseId,
  ValueRef,
} from './facts.js';

/** CTE names visible at a point in the query, innermost WITH first. */
export interface CteScope {
  /** One WITH's names, each with its place in the list. */
  readonly names: ReadonlyMap<string, { readonly binding: CteBinding; readonly index: number }>;
  /**
   * The names at places before this one are visible: all of them for the query after
   * the WITH and in WITH RECURSIVE, those before it for a query in a plain WITH. One map
   * serves every query of the list (a copy per query made a list of n names cost n²).
   * Lookups happen while a query is analysed, before later names are added, so today
   * the bound only restates that order; it keeps a later lookup right as well.
   */
  readonly visible: number;
  readonly outer: CteScope | null;
}

export interface CteBinding {
  readonly name: string;
  readonly query: ScopeId;
  readonly columnAliases: readonly string[];
}

export function findCte(ctes: CteScope | null, name: string): CteBinding | null {
  for (let s = ctes; s !== null; s = s.outer) {
    const hit = s.names.get(name);
    if (hit && hit.index < s.visible) return hit.binding;
  }
  return null;
}

interface MutableScope {
  id: ScopeId;
  role: ScopeRole;
  shape: Scope['shape'];
  leaves: number[];
  outputs: Output[];
  distinct: boolean;
  sortsOutputs: boolean;
  branches: ScopeId[];
}

// Generous for any statement a person or driver writes; small enough that analysis
// stays well under a millisecond and the recursion cannot exhaust the stack.
const MAX_NODES = 50_000;
const MAX_DEPTH = 200;
// FROM items (tables, joins, subqueries, functions, WITH references) in one statement.
// Each join's namespace holds the items under it, so a chain of n joins costs n² in
// analysis and decision: 800 joins in 42 KB took 200 to 280 ms of the event loop every
// session shares. A trace read needs a handful.
const MAX_ENTRIES = 100;

export class FactsBuilder {
  private readonly scopeList: MutableScope[] = [];
  readonly entries: RangeEntry[] = [];
  readonly uses: ColumnUse[] = [];
  readonly conjuncts: Conjunct[] = [];
  readonly outputRefs: OutputRef[] = [];
  readonly functions: QualifiedName[] = [];
  readonly operators: QualifiedName[] = [];
  readonly types: TypeRef[] = [];
  readonly ctes: CteDef[] = [];
  readonly exprs: ExprNode[] = [];
  readonly roots: ExprRoot[] = [];
  private readonly params = new Set<number>();
  private readonly paramUses: number[] = [];
  private nodes = 0;

  newScope(role: ScopeRole, shape: Scope['shape']): ScopeId {
    const id = this.scopeList.length;
    this.scopeList.push({ id, role, shape, leaves: [], outputs: [], distinct: false, sortsOutputs: false, branches: [] });
    return id;
  }

  scope(id: ScopeId): MutableScope {
    const s = this.scopeList[id];
    if (!s) throw new Error(`no scope ${id}`);
    return s;
  }

  /** Allocates an entry id; the caller builds the entry with it. */
  nextEntryId(): number {
    return this.entries.length;
  }

  addEntry(entry: RangeEntry): number {
    if (entry.id !== this.entries.length) throw new Error('entry ids must be allocated in order');
    if (entry.id >= MAX_ENTRIES) throw new Unanalysable(`more than ${MAX_ENTRIES} tables, joins, subqueries and functions in FROM`);
    this.entries.push(entry);
    return entry.id;
  }

  addUse(ref: ColumnRefForm, env: Env, context: UseContext, location: number): UseId {
    this.visit(0);
    const id = this.uses.length;
    this.uses.push({ id, ref, env, context, location });
    return id;
  }

  addExpr(node: ExprNode): ValueRef {
    const id: ExprId = this.exprs.length;
    this.exprs.push(node);
    return { type: 'expr', expr: id };
  }

  /** Records a clause-level expression (defaults: no output, not a sort key, not a FROM function). */
  addRoot(value: ValueRef, clause: Clause, extra: Partial<Omit<ExprRoot, 'value' | 'clause'>> = {}): void {
    this.roots.push({ value, clause, output: extra.output ?? null, ordering: extra.ordering ?? false, fromFunction: extra.fromFunction ?? null });
  }

  addParam(n: number): void {
    if (!Number.isInteger(n) || n < 1) throw new Unanalysable(`parameter $${n}`);
    this.params.add(n);
    this.paramUses.push(n);
  }

  /** Counts a visited node and bounds the walk. */
  visit(depth: number): void {
    if (++this.nodes > MAX_NODES) throw new Unanalysable('a statement too large to analyse');
    if (depth > MAX_DEPTH) throw new Unanalysable('expressions nested too deeply to analyse');
  }

  outputRef(scope: ScopeId, by: OutputRef['by'], clause: Clause): void {
    this.outputRefs.push({ scope, by, clause });
  }

  build(text: string): SelectFacts {
    return {
      kind: 'select',
      text,
      scopes: this.scopeList,
      entries: this.entries,
      uses: this.uses,
      conjuncts: this.conjuncts,
      outputRefs: this.outputRefs,
      functions: this.functions,
      operators: this.operators,
      types: this.types,
      ctes: this.ctes,
      params: [...this.params].sort((a, b) => a - b),
      paramUses: this.paramUses,
      exprs: this.exprs,
      roots: this.roots,
    };
  }
}
