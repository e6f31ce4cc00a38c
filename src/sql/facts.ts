// What the analyser knows about a statement, independent of any policy: the facts are
// cached by statement text and reused under every policy, so nothing here depends on
// which tables are trace tables or which columns are masked. policy/ resolves names
// against its own knowledge (trace keys, masked columns) and decides.
//
// A SELECT becomes a small semantic graph that mirrors PostgreSQL's own parse analysis:
//
//   scope (one query level: a SELECT, a set operation, a VALUES list)
//     └─ entries: its FROM items (base relations, subqueries, CTE references,
//        functions, joins), each visible to column references through namespace
//        frames exactly as Postgres's namespace rules make them visible
//   uses: every column reference, with the frames it resolves against and the
//         context it appears in (a bare output column, or inside an expression)
//   conjuncts: the top-level `x = y` conjuncts of WHERE / JOIN ON / USING, with the
//         relations each one restricts (join types decide which side is restricted)
//   functions / operators / types: everything the statement calls or casts to
import type { BlockedCategory } from './ast.js';

export type Analysis =
  | { readonly ok: true; readonly statements: readonly StatementFacts[] }
  /** 42601: the text does not parse. 54000: it is longer than the proxy analyses. */
  | { readonly ok: false; readonly sqlstate: '42601' | '54000'; readonly message: string };

export type StatementFacts =
  | SelectFacts
  | TransactionFacts
  | SetFacts
  | SetTransactionFacts
  | ResetFacts
  | ShowFacts
  | DiscardFacts
  | DeallocateFacts
  | BlockedFacts
  | UnanalysableFacts;

interface FactsBase {
  /** The statement's own text, for messages and the recording. */
  readonly text: string;
}

export interface TransactionFacts extends FactsBase {
  readonly kind: 'transaction';
  readonly action: 'begin' | 'commit' | 'rollback' | 'savepoint' | 'release' | 'rollback-to';
  /** BEGIN READ WRITE: the upstream is pinned read-only, so this is refused. */
  readonly readWrite: boolean;
}

export type SettingValue =
  | { readonly type: 'string'; readonly value: string }
  | { readonly type: 'number'; readonly value: string }
  | { readonly type: 'other' };

export interface SetFacts extends FactsBase {
  readonly kind: 'set';
  /** Lower-cased, as Postgres matches setting names case-insensitively. */
  readonly name: string;
  /** null for SET x TO DEFAULT. */
  readonly values: readonly SettingValue[] | null;
  readonly local: boolean;
}

export interface SetTransactionFacts extends FactsBase {
  readonly kind: 'set-transaction';
  readonly target: 'transaction' | 'session' | 'snapshot';
  readonly readWrite: boolean;
}

export interface ResetFacts extends FactsBase {
  readonly kind: 'reset';
  /** null for RESET ALL. */
  readonly name: string | null;
}

export interface ShowFacts extends FactsBase {
  readonly kind: 'show';
  readonly name: string;
}

export interface DiscardFacts extends FactsBase {
  readonly kind: 'discard';
  readonly target: 'all' | 'plans' | 'sequences' | 'temp';
}

export interface DeallocateFacts extends FactsBase {
  readonly kind: 'deallocate';
  /** null for DEALLOCATE ALL. The session must forget its own cache entry too. */
  readonly name: string | null;
}

export interface BlockedFacts extends FactsBase {
  readonly kind: 'blocked';
  readonly command: string;
  readonly category: BlockedCategory;
  readonly reason: string;
}

export interface UnanalysableFacts extends FactsBase {
  readonly kind: 'unanalysable';
  readonly reason: string;
}

export type ScopeId = number;
export type EntryId = number;
export type UseId = number;

export type ScopeRole =
  /** The statement's result. */
  | 'top'
  /** A subquery in FROM: its columns are referenced by the outer level. */
  | 'derived'
  /** A WITH query: its columns are referenced where the CTE is used. */
  | 'cte'
  /** A subquery inside an expression (scalar, EXISTS, IN, ARRAY): its output is a value. */
  | 'sublink'
  /** One side of UNION / INTERSECT / EXCEPT: its rows are compared or merged. */
  | 'setop-branch';

export interface Scope {
  readonly id: ScopeId;
  readonly role: ScopeRole;
  readonly shape: 'select' | 'setop' | 'values';
  /** Base relations, subqueries, CTE references and functions in this level's FROM. */
  readonly leaves: readonly EntryId[];
  /** A set operation's two sides (each a scope of role setop-branch); empty otherwise. */
  readonly branches: readonly ScopeId[];
  readonly outputs: readonly Output[];
  /** SELECT DISTINCT (not DISTINCT ON, whose expressions are ordinary uses). */
  readonly distinct: boolean;
  /**
   * Postgres may sort the level's rows on every output column to compare them, and
   * return them in that order: SELECT DISTINCT, and every set operation but UNION ALL
   * (UNION, INTERSECT, EXCEPT, with or without ALL).
   */
  readonly sortsOutputs: boolean;
}

export type Output =
  | {
      readonly type: 'expr';
      /** The column name Postgres gives it (alias, or FigureColname's guess). */
      readonly name: string;
      /** When the output is a bare column reference: that use (its value passes through). */
      readonly column: UseId | null;
      /** When the output is a whole-row form such as to_jsonb(t): that use. */
      readonly wholeRow: UseId | null;
    }
  | { readonly type: 'star'; readonly use: UseId };

export interface RelationRef {
  readonly schema: string | null;
  readonly name: string;
  readonly alias: string | null;
  /** The query level whose FROM reads it. */
  readonly scope: ScopeId;
  readonly location: number;
}

export type JoinType = 'inner' | 'left' | 'right' | 'full';

export type RangeEntry =
  | { readonly type: 'relation'; readonly id: EntryId; readonly refname: string; readonly relation: RelationRef }
  | {
      readonly type: 'subquery';
      readonly id: EntryId;
      readonly refname: string | null;
      readonly query: ScopeId;
      readonly columnAliases: readonly string[];
    }
  | {
      readonly type: 'cte';
      readonly id: EntryId;
      readonly refname: string;
      readonly name: string;
      readonly query: ScopeId;
      readonly columnAliases: readonly string[];
    }
  | {
      readonly type: 'function';
      readonly id: EntryId;
      readonly refname: string | null;
      /** Output column names when known (null: could have any column). */
      readonly columns: readonly string[] | null;
    }
  | {
      readonly type: 'join';
      readonly id: EntryId;
      readonly refname: string | null;
      readonly joinType: JoinType;
      readonly left: EntryId;
      readonly right: EntryId;
      readonly using: readonly string[];
    };

/** One FROM item as a column reference sees it (Postgres's ParseNamespaceItem). */
export interface NamespaceItem {
  readonly entry: EntryId;
  /** Can be named by `refname.column`. */
  readonly relVisible: boolean;
  /** Its columns can be named unqualified. */
  readonly colsVisible: boolean;
}

/** Name-resolution environment: the innermost frame first, then enclosing query levels. */
export interface Env {
  readonly frame: readonly NamespaceItem[];
  readonly outer: Env | null;
}

export type Clause =
  | 'select list'
  | 'where'
  | 'join condition'
  | 'join using'
  | 'having'
  | 'group by'
  | 'order by'
  | 'distinct on'
  | 'window'
  | 'limit'
  | 'offset'
  | 'values'
  | 'function in from';

export type UseContext =
  | { readonly type: 'output'; readonly scope: ScopeId }
  /** The argument of to_jsonb(t), row_to_json(t), t::text ... given as a whole output column. */
  | { readonly type: 'wholerow-output'; readonly scope: ScopeId; readonly via: string }
  | { readonly type: 'expression'; readonly clause: Clause; readonly via: string | null };

export type ColumnRefForm =
  /** `name` or `qualifier.name`; an unqualified name may also be a whole-row reference. */
  | { readonly type: 'column'; readonly qualifier: string | null; readonly name: string }
  /** `*` or `qualifier.*`. */
  | { readonly type: 'star'; readonly qualifier: string | null };

export interface ColumnUse {
  readonly id: UseId;
  readonly ref: ColumnRefForm;
  readonly env: Env;
  readonly context: UseContext;
  readonly location: number;
}

export type Operand =
  | { readonly type: 'column'; readonly use: UseId }
  | { readonly type: 'text'; readonly value: string }
  | { readonly type: 'param'; readonly number: number };

/** A top-level `left = right` conjunct; every row in which a restricted entry is non-null satisfies it. */
export interface Conjunct {
  readonly restricts: readonly EntryId[];
  readonly left: Operand;
  readonly right: Operand;
  readonly location: number;
}

/** ORDER BY / GROUP BY / DISTINCT ON naming an output column by position or name. */
export interface OutputRef {
  readonly scope: ScopeId;
  readonly by: { readonly type: 'position'; readonly index: number } | { readonly type: 'name'; readonly name: string };
  readonly clause: Clause;
}

export interface QualifiedName {
  readonly schema: string | null;
  readonly name: string;
  readonly location: number;
}

export interface TypeRef extends QualifiedName {
  readonly array: boolean;
  readonly typmods: boolean;
}

export interface CteDef {
  readonly name: string;
  readonly query: ScopeId;
}

// Expression trees: how every value is derived, so that the policy can follow a
// column's value through every function, operator and cast to where it ends up (a result
// column, a condition, a sort key). Each expression the analyser walks becomes a node;
// each clause-level expression is a root. Every column use lies under exactly one root.
export type ExprId = number;

export type ConstKind = 'string' | 'number' | 'bool' | 'null' | 'bits';

export type ValueRef =
  /** A column reference (or `*`, or a whole-row reference). */
  | { readonly type: 'use'; readonly use: UseId }
  | { readonly type: 'expr'; readonly expr: ExprId }
  /** A literal; `value` is the decoded text of a string literal, null for the others. */
  | { readonly type: 'const'; readonly kind: ConstKind; readonly value: string | null }
  | { readonly type: 'param'; readonly number: number };

/** The A_Expr forms: `op` is a plain (binary or prefix) operator call. */
export type OperatorForm = 'op' | 'any' | 'all' | 'distinct' | 'not-distinct' | 'nullif' | 'in' | 'like' | 'ilike' | 'similar' | 'between';

export interface WindowValues {
  readonly partition: readonly ValueRef[];
  readonly order: readonly ValueRef[];
  /** Frame offsets (ROWS n PRECEDING ...). */
  readonly offsets: readonly ValueRef[];
}

export type ExprNode =
  | {
      readonly type: 'function';
      readonly name: QualifiedName;
      readonly args: readonly ValueRef[];
      /** Aggregate ORDER BY, or WITHIN GROUP (ORDER BY ...) for ordered-set aggregates. */
      readonly order: readonly ValueRef[];
      readonly withinGroup: boolean;
      /** An aggregate's DISTINCT: its arguments are sorted (array_agg(DISTINCT x) returns them in order). */
      readonly distinct: boolean;
      readonly filter: ValueRef | null;
      readonly window: WindowValues | null;
    }
  | { readonly type: 'operator'; readonly name: QualifiedName; readonly form: OperatorForm; readonly args: readonly ValueRef[] }
  | { readonly type: 'cast'; readonly target: TypeRef; readonly arg: ValueRef; readonly typmods: readonly ValueRef[] }
  | { readonly type: 'collate'; readonly arg: ValueRef }
  | { readonly type: 'bool'; readonly args: readonly ValueRef[] }
  | { readonly type: 'test'; readonly test: 'null' | 'bool'; readonly arg: ValueRef }
  | { readonly type: 'case'; readonly subject: ValueRef | null; readonly conditions: readonly ValueRef[]; readonly results: readonly ValueRef[] }
  | { readonly type: 'coalesce' | 'greatest-least' | 'array' | 'row' | 'grouping'; readonly args: readonly ValueRef[] }
  | { readonly type: 'sql-value'; readonly name: string }
  /** `x[i]`, `x[i:j]`, `(x).field`. */
  | { readonly type: 'indirection'; readonly arg: ValueRef; readonly indexes: readonly ValueRef[] }
  /** A subquery used as a value: `kind` as Postgres names it, with its comparison if any. */
  | {
      readonly type: 'sublink';
      readonly kind: 'exists' | 'expr' | 'array' | 'any' | 'all' | 'rowcompare';
      readonly operator: QualifiedName | null;
      readonly test: ValueRef | null;
      readonly query: ScopeId;
    };

export interface ExprRoot {
  readonly value: ValueRef;
  readonly clause: Clause;
  /** A select-list item or a VALUES column: the scope and output position it fills. */
  readonly output: { readonly scope: ScopeId; readonly index: number } | null;
  /**
   * A sort key: its values are compared with `<`, and the rows may come back in that order.
   * ORDER BY, a window's ORDER BY and PARTITION BY, GROUP BY, DISTINCT ON (Postgres sorts
   * for a window always, for DISTINCT ON always, for GROUP BY when it does not hash).
   */
  readonly ordering: boolean;
  /** A function in FROM: the entry whose columns it produces, and their declared types. */
  readonly fromFunction: { readonly entry: EntryId; readonly definitions: readonly TypeRef[] | null } | null;
}

export interface SelectFacts extends FactsBase {
  readonly kind: 'select';
  readonly scopes: readonly Scope[];
  readonly entries: readonly RangeEntry[];
  readonly uses: readonly ColumnUse[];
  readonly conjuncts: readonly Conjunct[];
  readonly outputRefs: readonly OutputRef[];
  readonly functions: readonly QualifiedName[];
  readonly operators: readonly QualifiedName[];
  readonly types: readonly TypeRef[];
  readonly ctes: readonly CteDef[];
  /** Parameter numbers ($n) referenced anywhere. */
  readonly params: readonly number[];
  /** Every reference to a parameter, in the order met: $n once per place it is used. */
  readonly paramUses: readonly number[];
  readonly exprs: readonly ExprNode[];
  readonly roots: readonly ExprRoot[];
}
