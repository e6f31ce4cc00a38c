// Detector-scanned values (SPEC section 5): the detectors recognise a secret only when it
// comes back whole and verbatim. A caller whose rule is not maskingExempt could otherwise
// take one apart in SQL (substr, split_part, reverse, lower, encode(...,'base64'),
// regexp_replace inserting spaces, string_agg over pieces ...) and get every piece back
// unrecognised; or ask pattern questions of it (content LIKE '%KEY=sk-a%', range
// comparisons against guesses) and read it a character at a time.
//
// So, when detectors are on and the rule is not exempt, every column of a trace table is
// "scanned" (the policy does not know column types), and every value derived from one is
// followed through the statement's expression trees (sql/facts.ts ExprNode), through
// subqueries, CTEs, set operations, VALUES and functions in FROM, to wherever it ends up.
// Each step must either
//   - keep the value whole: the bare column, JSON navigation (-> ->> #> #>>,
//     jsonb_extract_path, jsonb_array_elements/jsonb_each in FROM, simple jsonpaths),
//     casts to text/varchar/bytea, JSON and array builders and aggregates (to_jsonb,
//     array_agg, jsonb_agg ...), coalesce/CASE/nullif, min/max, lag/lead ...: the value
//     still reaches the masker whole, inside JSON or an array at worst. A bytea reaches it
//     whole only as a bytea (whose hex the masker decodes): cast to text, built into JSON
//     or into a record, it is hex text the detectors cannot read;
//   - compute on it in a way text does not allow: arithmetic and date/time functions
//     (step + 1, sum(step), date_trunc('day', created_at)); a text column there is a type
//     error. The result still carries the value, so the same rules apply to it further on;
//   - or destroy it into a value that cannot spell a secret: count, length, md5/sha*,
//     jsonb_typeof, jsonb_array_length, equality tests (=, <>, IN, IS NULL, @>, ?), casts
//     to int4/bool/date/timestamptz (whose errors quote the value whole);
// and anything else over a scanned value is denied wherever it appears (the select list,
// WHERE, ORDER BY, a subquery never returned: an error message echoes values too).
//
// Comparisons are oracles. Whole-value equality only confirms a guess of the entire value.
// Pattern matching (LIKE, ~, SIMILAR TO, ^@, @?, @@, strpos ...) and range comparisons or
// arithmetic against a value the statement supplies (content < 'sk-M') reveal a secret a
// character at a time, and a join with generate_series asks dozens of such questions per
// statement: denied. Ranges are allowed against typed values (step > 3, created_at >
// now() - interval '1 day': text cannot be compared with a number or a timestamp) and
// between two scanned values. Sorting (ORDER BY, min/max, greatest/least, window and
// aggregate ORDER BY; PARTITION BY, DISTINCT ON and an aggregate's DISTINCT, which always
// sort; GROUP BY, SELECT DISTINCT and every set operation but UNION ALL, which sort when
// a column cannot be hashed, all returning rows in that order) is a range comparison
// too: allowed over data, denied when the sorted value may be a text value of the
// statement's own (coalesce(content, 'guess'), a UNION with a VALUES list). A
// hypothetical-set aggregate (rank('guess') WITHIN GROUP (ORDER BY content)) compares
// its arguments with the sorted values: a range comparison. So does a jsonb object, which
// keeps its keys sorted: a scanned key beside a key of the statement's own
// (jsonb_build_object(content, 0, 'guess', 1), jsonb_set('{"guess": 1}', ARRAY[content], ...)).
import type { Clause, EntryId, ExprId, ExprNode, ExprRoot, OperatorForm, OutputRef, QualifiedName, ScopeId, SelectFacts, TypeRef, UseId, ValueRef } from '../sql/facts.js';
import { referencedOutputs } from './column-access.js';
import type { RelationClass } from './relations.js';
import type { Origin, Resolver } from './resolve.js';
import type { Policy } from './types.js';

/** Whether detector masking applies to a caller under this policy. */
export function detectorsScan(policy: Policy, maskingExempt: boolean): boolean {
  if (maskingExempt) return false;
  const d = policy.masking.detectors;
  return d !== 'none' && !(Array.isArray(d) && d.length === 0);
}

/** How a value relates to detector-scanned data. */
interface Taint {
  /**
   * 0: no trace data. 1: derived from trace data into a value that cannot carry a
   * secret (a length, a boolean, a hash). 2: carries scanned data (whole, or computed on).
   */
  readonly level: 0 | 1 | 2;
  /** Level 2: may also be a value of the statement's own (a literal, a parameter). */
  readonly mixed: boolean;
  /** Levels 0 and 1: of a type that is not text-like (number, timestamp, boolean ...). */
  readonly typed: boolean;
  /** A NULL literal: never a guess. */
  readonly isNull: boolean;
  /** Level 2: the scanned column it comes from, for messages. */
  readonly source: string;
  /**
   * Level 2: may be a bytea (a cast to bytea). The masker decodes a bytea column's hex
   * output, but nothing else does: cast to text, built into JSON (to_jsonb renders it
   * as the string "\\x4f50...") or into a record's text, the secret leaves as hex.
   */
  readonly bytes?: boolean;
}

const CLEAN_TEXT: Taint = { level: 0, mixed: false, typed: false, isNull: false, source: '' };
const CLEAN_TYPED: Taint = { level: 0, mixed: false, typed: true, isNull: false, source: '' };
const NULL_VALUE: Taint = { level: 0, mixed: false, typed: true, isNull: true, source: '' };
const DESTROYED: Taint = { level: 1, mixed: false, typed: true, isNull: false, source: '' };
const DESTROYED_UNTYPED: Taint = { level: 1, mixed: false, typed: false, isNull: false, source: '' };
const UNTRACEABLE = 'a column the policy cannot trace';

function whole(source: string, mixed: boolean, bytes = false): Taint {
  return bytes ? { level: 2, mixed, typed: false, isNull: false, source, bytes } : { level: 2, mixed, typed: false, isNull: false, source };
}

/** Some scanned value among `ts` may be a bytea. */
function anyBytes(ts: readonly Taint[]): boolean {
  return ts.some((t) => t.level === 2 && t.bytes === true);
}

/** An operator's result with no scanned operand: typed only when every operand is. */
function typedIfAll(args: readonly Taint[]): Taint {
  const t = destroyed(args);
  return args.every((a) => a.typed) ? t : { ...t, typed: false };
}

/** The result of steps that destroy whatever they are given: typed, and tainted only if an input was. */
function destroyed(args: readonly Taint[]): Taint {
  return args.some((a) => a.level > 0) ? DESTROYED : CLEAN_TYPED;
}

/**
 * A value that is one of `alts` (UNION branches, coalesce arguments, CASE results ...).
 * Scanned and mixed with a text value of the statement's own, it may be a guess. A typed
 * alternative (a number, a timestamp) is no guess at text: Postgres would not have
 * matched it with a text column, so the scanned alternatives are of that type too.
 */
function alternatives(alts: readonly Taint[]): Taint {
  const w = alts.find((a) => a.level === 2 && a.bytes) ?? alts.find((a) => a.level === 2);
  if (w) return whole(w.source, alts.some((a) => (a.level === 2 ? a.mixed : !a.isNull && !a.typed)), anyBytes(alts));
  if (alts.length === 0) return CLEAN_TEXT;
  const level = alts.some((a) => a.level === 1) ? 1 : 0;
  const typed = alts.every((a) => a.typed);
  return { level, mixed: false, typed, isNull: alts.every((a) => a.isNull), source: '' };
}

class Denied extends Error {}

/** A WITH RECURSIVE query read its own output before it was known: decide again from `seeds`. */
class Restart extends Error {
  constructor(readonly seeds: ReadonlyMap<OutputKey, Taint>) {
    super('restart');
  }
}

/** The least restrictive taint: where a recursive query's own output starts. */
const BOTTOM: Taint = { level: 0, mixed: false, typed: true, isNull: true, source: '' };

/** `a` is at most as restrictive as `b` in every respect. */
function below(a: Taint, b: Taint): boolean {
  return a.level <= b.level && (!a.mixed || b.mixed) && (a.typed || !b.typed) && (!b.isNull || a.isNull) && (!a.bytes || b.bytes === true);
}

function join(a: Taint, b: Taint): Taint {
  return {
    level: a.level > b.level ? a.level : b.level,
    mixed: a.mixed || b.mixed,
    typed: a.typed && b.typed,
    isNull: a.isNull && b.isNull,
    source: a.level === 2 ? a.source : b.source,
    ...(anyBytes([a, b]) ? { bytes: true } : {}),
  };
}

// --- What each function does with a scanned argument ------------------------------------

type FnRule =
  /**
   * Returns something that cannot carry the value: a length, a count, a hash, a rank.
   * Text at `textArgs` is interpreted (an encoding name), so a scanned value there is denied.
   */
  | { readonly kind: 'destroy'; readonly textArgs?: readonly number[] }
  /**
   * Accepts only numbers, times or intervals at the positions not listed in `textArgs`
   * (a scanned text value there is a type error), and computes a value from them that
   * still carries them (round, sum, date_trunc ...). Text at `textArgs` (a format, a
   * unit, a zone) would be interpreted, so a scanned value there is denied.
   */
  | { readonly kind: 'arith'; readonly textArgs: readonly number[] }
  /**
   * Returns the `carried` arguments' values whole, or inside a JSON document or array
   * whose strings the masker scans one by one. Other arguments are keys or positions.
   * `compares`: picks one of them by comparing them (min, max). `keys`: the arguments
   * that become keys of one JSON object ('pairs': every other one, from the first), which
   * jsonb sorts: a scanned key beside any other key is compared with it.
   */
  | { readonly kind: 'carry'; readonly carried: readonly number[] | 'all'; readonly compares?: boolean; readonly keys?: readonly number[] | 'pairs' }
  /** jsonb_path_*: navigation with a simple constant path keeps values whole; filters are oracles. */
  | { readonly kind: 'jsonpath'; readonly returns: 'whole' | 'bool' }
  /** mode(), percentile_disc(): returns one of the WITHIN GROUP (ORDER BY ...) values. */
  | { readonly kind: 'ordered-set' }
  /** Searches inside text: an oracle on its pieces. */
  | { readonly kind: 'search' }
  /** Joins text end to end, which can split or extend a secret at a boundary. */
  | { readonly kind: 'joins' };

const RULES = new Map<string, FnRule>();
function rule(r: FnRule, ...names: string[]): void {
  for (const n of names) RULES.set(n, r);
}
// length(bytea, name): the encoding name is cut to 63 bytes, and the error quotes the cut
// (`invalid encoding name "eyJhbGciOiJSUzI1NiIsImtpZCI6ImRlbW8tMSJ9.eyJpc3MiOiJodHRwczovL2"`).
rule({ kind: 'destroy', textArgs: [1] }, 'length');
rule(
  { kind: 'destroy' },
  'char_length', 'character_length', 'octet_length', 'bit_length', 'md5', 'sha224', 'sha256', 'sha384',
  'sha512', 'count', 'json_typeof', 'jsonb_typeof', 'json_array_length', 'jsonb_array_length', 'array_length',
  'cardinality', 'array_upper', 'array_lower', 'array_dims', 'array_ndims', 'array_position', 'array_positions',
  'generate_subscripts', 'pg_typeof', 'isfinite', 'bool_and', 'bool_or', 'every', 'row_number', 'rank', 'dense_rank',
  'percent_rank', 'cume_dist', 'ntile', 'regr_count',
);
rule(
  { kind: 'arith', textArgs: [] },
  // aggregates over numbers
  'sum', 'avg', 'stddev', 'stddev_pop', 'stddev_samp', 'variance', 'var_pop', 'var_samp', 'bit_and', 'bit_or',
  'bit_xor', 'corr', 'covar_pop', 'covar_samp', 'regr_avgx', 'regr_avgy', 'regr_intercept', 'regr_r2', 'regr_slope',
  'regr_sxx', 'regr_sxy', 'regr_syy', 'percentile_cont',
  // numbers
  'abs', 'ceil', 'ceiling', 'floor', 'round', 'trunc', 'sign', 'sqrt', 'cbrt', 'power', 'pow', 'exp', 'ln', 'log',
  'log10', 'mod', 'div', 'pi', 'degrees', 'radians', 'sin', 'cos', 'tan', 'asin', 'acos', 'atan', 'atan2', 'sinh',
  'cosh', 'tanh', 'scale', 'min_scale', 'trim_scale', 'gcd', 'lcm', 'factorial', 'random',
  // date and time
  'now', 'clock_timestamp', 'statement_timestamp', 'transaction_timestamp', 'age', 'make_date', 'make_time',
  'make_timestamp', 'make_interval', 'date_bin', 'justify_days', 'justify_hours', 'justify_interval', 'overlaps',
  'generate_series', 'format_type', 'current_date', 'current_time', 'current_timestamp', 'localtime', 'localtimestamp',
);
rule({ kind: 'arith', textArgs: [0, 2] }, 'date_trunc');
rule({ kind: 'arith', textArgs: [0] }, 'date_part', 'extract', 'timezone');
rule({ kind: 'arith', textArgs: [1] }, 'to_char');
rule({ kind: 'arith', textArgs: [6] }, 'make_timestamptz');
rule(
  { kind: 'carry', carried: 'all' },
  'to_json', 'to_jsonb', 'json_build_array', 'jsonb_build_array', 'array_append', 'array_prepend', 'array_cat', 'unnest',
);
// A jsonb object keeps its keys sorted (shorter first, then byte by byte) and returns
// them in that order; the masker replaces a key's text, not its place. So the order of
// jsonb_build_object(content, 0, 'guess', 1) is content < 'guess', a range comparison.
// A json object keeps its keys as given, but becomes jsonb as soon as to_jsonb,
// jsonb_agg or a jsonb builder is given it: json builders are held to the same rule.
// (One argument to *_build_object is a VARIADIC array of keys and values.)
rule({ kind: 'carry', carried: 'all', keys: 'pairs' }, 'json_build_object', 'jsonb_build_object');
rule({ kind: 'carry', carried: 'all', keys: [0] }, 'json_object', 'jsonb_object', 'json_object_agg', 'jsonb_object_agg');
rule(
  { kind: 'carry', carried: [0] },
  'row_to_json', 'array_to_json', 'json_extract_path', 'jsonb_extract_path', 'json_extract_path_text',
  'jsonb_extract_path_text', 'json_array_elements', 'jsonb_array_elements', 'json_array_elements_text',
  'jsonb_array_elements_text', 'json_each', 'jsonb_each', 'json_each_text', 'jsonb_each_text', 'json_object_keys',
  'jsonb_object_keys', 'jsonb_pretty', 'jsonb_strip_nulls', 'json_strip_nulls', 'json_to_record', 'jsonb_to_record',
  'json_to_recordset', 'jsonb_to_recordset', 'array_remove', 'trim_array', 'array_agg', 'json_agg', 'jsonb_agg',
  'first_value', 'last_value', 'nth_value',
);
rule({ kind: 'carry', carried: [0, 2] }, 'array_replace', 'lag', 'lead');
// The path's last element becomes a key of the result when it is missing
// (jsonb_set('{}', ARRAY[content], '1') is {"<content>": 1}): the path is carried too,
// and that key is sorted among the document's keys (which may be scanned values).
rule({ kind: 'carry', carried: [0, 1, 2], keys: [0, 1] }, 'jsonb_set', 'jsonb_set_lax', 'jsonb_insert');
rule({ kind: 'carry', carried: [0], compares: true }, 'min', 'max');
rule({ kind: 'jsonpath', returns: 'whole' }, 'jsonb_path_query', 'jsonb_path_query_array', 'jsonb_path_query_first');
rule({ kind: 'jsonpath', returns: 'bool' }, 'jsonb_path_exists', 'jsonb_path_match');
rule({ kind: 'ordered-set' }, 'mode', 'percentile_disc');
rule(
  { kind: 'search' },
  'strpos', 'position', 'starts_with', 'regexp_like', 'regexp_count', 'regexp_instr', 'regexp_match', 'regexp_matches',
  'regexp_substr', 'like_escape', 'similar_escape', 'similar_to_escape', 'width_bucket', 'ts_rank', 'ts_rank_cd',
);
rule({ kind: 'joins' }, 'string_agg', 'concat', 'concat_ws', 'array_to_string', 'format');
// Every other function (substr, left, split_part, lower, replace, translate, reverse,
// regexp_replace, encode, decode, convert_*, ascii, chr, to_hex, quote_*, lpad, trim,
// string_to_array, to_tsvector, to_number, ...) over a scanned value is denied.

// Functions of text arguments whose result is not text (for comparisons with their result).
const TYPED_RESULTS = new Set(['to_date', 'to_timestamp', 'to_number', 'gen_random_uuid']);
// Functions of the destroy and arith kinds whose result is text nonetheless: never a
// typed value a scanned one may be range-compared with. to_char's format spells any text
// of the statement's own (to_char(0, '"OPENAI_API_KEY=sk-M"')), so its result is also
// "mixed" when it carries a scanned number or time (to_char(step, '"guess"')).
// The sha* hashes return bytea, which a scanned value cast to bytea compares with: a hash
// of a chosen value is no typed value either.
const TEXT_RESULTS = new Set(['to_char', 'md5', 'sha224', 'sha256', 'sha384', 'sha512', 'format_type', 'array_dims', 'json_typeof', 'jsonb_typeof']);
// Hypothetical-set aggregates: rank('guess') WITHIN GROUP (ORDER BY content) is where
// 'guess' would sort among the data, a range comparison of each argument with its
// ORDER BY value.
const HYPOTHETICAL_SET = new Set(['rank', 'dense_rank', 'percent_rank', 'cume_dist']);

// A path of member accessors and array subscripts only: `$.a.b[*]`, `lax $."x y"[0]`,
// `$.**`. No filters (`?`, like_regex, starts with, comparisons) and no methods.
const SIMPLE_JSONPATH = /^\s*(?:(?:strict|lax)\s+)?\$(?:\s*(?:\.\s*(?:[A-Za-z_][A-Za-z0-9_]*|"(?:[^"\\]|\\.)*"|\*\*?)|\[\s*(?:\*|\d+|last)(?:\s*,\s*(?:\d+|last))*\s*\]))*\s*$/;

// --- Operators ---------------------------------------------------------------------------

const EQUALITY_OPS = new Set(['=', '<>', '!=']);
// `&&` too: on arrays it is an overlap of elements, but on network addresses and ranges a
// subnet or interval test (client_ip && '10.0.0.0/8'::inet reads an address a bit at a
// time), and the policy does not know the operands' types.
const RANGE_OPS = new Set(['<', '>', '<=', '>=', '&&']);
const PATTERN_OPS = new Set(['~~', '!~~', '~~*', '!~~*', '~', '~*', '!~', '!~*', '^@', '@@', '@?', '@@@']);
// Boolean answers about whole values: containment and key existence compare strings whole.
const CONTAINMENT_OPS = new Set(['@>', '<@', '?', '?|', '?&']);
const JSON_NAV_OPS = new Set(['->', '->>', '#>', '#>>']);
// Defined only for numbers, times, bits, network addresses and geometry (and `-` for a
// JSON document minus a key): never text. The result still carries the operands (step + 1,
// created_at - interval '1 day'); against a chosen value they are also oracles
// (inet << '10.0.0.0/8', inet - '0.0.0.0' spelling an address as a number).
const ARITH_OPS = new Set(['+', '-', '*', '/', '%', '^', '&', '|', '#', '<<', '>>', '|/', '||/', '@', '<->', '~']);

// --- Casts -------------------------------------------------------------------------------

// Keep the value as it is (text, or bytes the masker scans): `varchar(n)` truncates.
// json/jsonb are not here: casting text to JSON parses it, and the parse error quotes
// the token it stopped at (the first 13 characters of an AWS secret key, say).
const PRESERVING_CASTS = new Set(['text', 'varchar', 'bytea']);
// Types whose values cannot spell a secret (int4 holds at most 10 digits; a card number
// has 12 or more): text that does not parse is an error quoting it whole, and a parsed
// value is harmless. Not the reg* types: their errors quote a name lower-cased.
const DESTROYING_CASTS = new Set(['bool', 'int2', 'int4', 'date', 'time', 'timetz', 'timestamp', 'timestamptz', 'uuid', 'oid']);
// Not text-like, for comparisons: a value of these types is never compared as text.
const TYPED_TYPES = new Set([
  'bool', 'int2', 'int4', 'int8', 'numeric', 'float4', 'float8', 'money', 'date', 'time', 'timetz', 'timestamp',
  'timestamptz', 'interval', 'bit', 'varbit', 'uuid', 'oid',
]);

function builtin(name: QualifiedName | TypeRef): string | null {
  return name.schema === null || name.schema === 'pg_catalog' ? name.name : null;
}

// --- The walk ----------------------------------------------------------------------------

const MAX_DEPTH = 1000;
// A fixpoint over a recursive query's outputs: each round only raises a seed, and a
// taint can rise only a few times, so a handful of rounds settle any real statement.
const MAX_ROUNDS = 16;
const TOO_COMPLEX = 'the statement is too complex for the policy to follow how trace columns are used';

/** Why a statement would let a detector-scanned value out in a form the detectors miss, or null. */
export function derivationProblem(facts: SelectFacts, resolver: Resolver, classes: ReadonlyMap<EntryId, RelationClass>): string | null {
  let seeds: ReadonlyMap<OutputKey, Taint> = new Map();
  for (let round = 0; round < MAX_ROUNDS; round++) {
    try {
      new Derivation(facts, resolver, classes, seeds).check();
      return null;
    } catch (err) {
      // A denial found with seeds lower than the fixpoint holds at the fixpoint too.
      if (err instanceof Denied) return err.message;
      if (err instanceof Restart) {
        seeds = err.seeds;
        continue;
      }
      // Too deep for the stack: fail closed.
      if (err instanceof RangeError) return TOO_COMPLEX;
      throw err;
    }
  }
  return TOO_COMPLEX;
}

/**
 * Output `index` of query level `scope` as one number: string keys (`${scope}:${index}`)
 * cost a concatenation and a hash per lookup on every uncached statement. The analyser
 * bounds a statement to 50,000 nodes, so neither part comes near the stride; a larger
 * index is refused rather than allowed to collide with another output's key.
 */
type OutputKey = number;
const OUTPUT_STRIDE = 2 ** 20;

function outputKey(scope: ScopeId, index: number): OutputKey {
  if (!Number.isInteger(index) || index < 0 || index >= OUTPUT_STRIDE || !Number.isInteger(scope) || scope < 0 || scope >= OUTPUT_STRIDE) {
    throw new Denied(TOO_COMPLEX);
  }
  return scope * OUTPUT_STRIDE + index;
}

class Derivation {
  private readonly exprMemo = new Map<ExprId, Taint>();
  private readonly outputMemo = new Map<OutputKey, Taint>();
  private readonly entryMemo = new Map<EntryId, Taint>();
  private readonly outputsInProgress = new Set<OutputKey>();
  private readonly entriesInProgress = new Set<EntryId>();
  private readonly visited = new Set<UseId>();
  /** Outputs read while being computed (WITH RECURSIVE), and the seeds they need next round. */
  private readonly cyclic = new Set<OutputKey>();
  private readonly raised = new Map<OutputKey, Taint>();
  private readonly rootsByOutput = new Map<OutputKey, ExprRoot[]>();
  private readonly rootsByEntry = new Map<EntryId, ExprRoot[]>();
  private depth = 0;

  constructor(
    private readonly facts: SelectFacts,
    private readonly resolver: Resolver,
    private readonly classes: ReadonlyMap<EntryId, RelationClass>,
    private readonly seeds: ReadonlyMap<OutputKey, Taint>,
  ) {
    for (const r of facts.roots) {
      if (r.output) push(this.rootsByOutput, outputKey(r.output.scope, r.output.index), r);
      if (r.fromFunction) push(this.rootsByEntry, r.fromFunction.entry, r);
    }
  }

  check(): void {
    for (const root of this.facts.roots) {
      if (root.fromFunction) this.entryTaint(root.fromFunction.entry);
      const t = this.value(root.value, root.clause);
      if (root.ordering) this.noGuessSorted(t, root.clause.toUpperCase());
    }
    // ORDER BY, GROUP BY and DISTINCT ON all sort on the output they name.
    for (const ref of this.facts.outputRefs) this.noGuessSorted(this.outputRefTaint(ref), ref.clause.toUpperCase());
    // SELECT DISTINCT and UNION / INTERSECT / EXCEPT sort on every output column.
    for (const scope of this.facts.scopes) {
      if (!scope.sortsOutputs) continue;
      const what = scope.shape === 'setop' ? 'UNION/INTERSECT/EXCEPT (comparing rows, it sorts them)' : 'SELECT DISTINCT';
      scope.outputs.forEach((_, i) => this.noGuessSorted(this.outputTaint(scope.id, i), what));
    }
    // Every column reference lies under a root; one that does not is an analyser gap.
    for (const use of this.facts.uses) {
      if (!this.visited.has(use.id)) throw new Denied(`the policy could not follow how ${useName(this.facts, use.id)} is used`);
    }
    if (this.raised.size) throw new Restart(new Map([...this.seeds, ...this.raised]));
  }

  /**
   * The keys of one JSON object: a scanned one beside any other (a text or a number of
   * the statement's own, a length: every key is text) is sorted with it by jsonb.
   */
  private noGuessKeys(keys: readonly Taint[], fn: string): void {
    const scanned = keys.find((k) => k.level === 2);
    if (!scanned) return;
    const guess = keys.find((k) => (k.level === 2 ? k.mixed : !k.isNull));
    if (!guess) return;
    throw new Denied(
      `${fn}() makes ${scanned.source} a key of a JSON object beside keys of the statement's own (a constant, a parameter, a number, another branch of a UNION), ` +
        'and jsonb sorts an object\'s keys: their order compares the scanned value with chosen ones, a character at a time. Use keys of your own with the values as values, or the column\'s own keys',
    );
  }

  private noGuessSorted(t: Taint, clause: string): void {
    if (t.level === 2 && t.mixed) {
      throw new Denied(
        `${clause} sorts ${t.source} together with values of the statement's own (a constant, a parameter, a coalesce or CASE default, another branch of a UNION): ` +
          'sorting a scanned value against chosen values reveals it a character at a time; sort by the column itself',
      );
    }
  }

  private value(v: ValueRef, clause: Clause): Taint {
    switch (v.type) {
      case 'use':
        return this.useTaint(v.use);
      case 'expr':
        return this.exprTaint(v.expr, clause);
      case 'param':
        return CLEAN_TEXT;
      case 'const':
        return v.kind === 'string' ? CLEAN_TEXT : v.kind === 'null' ? NULL_VALUE : CLEAN_TYPED;
    }
  }

  private useTaint(id: UseId): Taint {
    this.visited.add(id);
    const origins = this.resolver.resolve(id).origins;
    if (origins.length === 0) return CLEAN_TEXT;
    // An unqualified name that is certainly a function's column or a whole row may also
    // be read as a column of the table (the policy does not know its columns; Postgres
    // would call it ambiguous): name the likelier reading in messages.
    const taints: Taint[] = [];
    for (const o of origins) if (o.type !== 'base') taints.push(this.originTaint(o));
    for (const o of origins) if (o.type === 'base') taints.push(this.originTaint(o));
    const t = alternatives(taints);
    const ctx = this.facts.uses[id]?.context;
    // `x::text`, `to_jsonb(x)`, `json_agg(x)` ... as a whole select-list item over a bare
    // name are analysed as a use of x alone (a whole row, or a column: the analyser cannot
    // tell which): a bytea in it would leave as hex.
    if (ctx?.type === 'wholerow-output' && t.bytes) throw new Denied(bytesMessage(ctx.via, t.source, 'renders a bytea as hex', 'select list'));
    return t;
  }

  private originTaint(o: Origin): Taint {
    switch (o.type) {
      case 'base':
      case 'whole-row':
      case 'packed': {
        const cls = this.classes.get(o.entry);
        if (cls?.type !== 'trace') return CLEAN_TEXT;
        return whole(o.type === 'whole-row' ? `whole rows of ${cls.table.qualified}` : `${cls.table.qualified}.${o.column}`, false);
      }
      case 'output':
        return this.outputTaint(o.scope, o.index);
      case 'function':
        return this.entryTaint(o.entry);
      case 'unknown':
        return whole(UNTRACEABLE, true);
    }
  }

  /** What output `index` of a query level carries. */
  private outputTaint(scopeId: ScopeId, index: number): Taint {
    const key = outputKey(scopeId, index);
    const hit = this.outputMemo.get(key);
    if (hit) return hit;
    if (this.outputsInProgress.has(key)) {
      this.cyclic.add(key);
      return this.seeds.get(key) ?? BOTTOM;
    }
    this.outputsInProgress.add(key);
    const t = this.outputTaintUncached(scopeId, index);
    this.outputsInProgress.delete(key);
    if (this.cyclic.has(key)) {
      const seed = this.seeds.get(key) ?? BOTTOM;
      if (!below(t, seed)) this.raised.set(key, join(seed, t));
    }
    this.outputMemo.set(key, t);
    return t;
  }

  private outputTaintUncached(scopeId: ScopeId, index: number): Taint {
    const scope = this.facts.scopes[scopeId];
    if (!scope) return whole(UNTRACEABLE, true);
    if (scope.shape === 'setop') {
      // Positions after a `*` are unknown: then every output of every branch.
      const stars = scope.branches.some((b) => this.facts.scopes[b]?.outputs.some((o) => o.type === 'star'));
      return alternatives(
        scope.branches.flatMap((b) => {
          const branch = this.facts.scopes[b];
          if (!branch) return [whole(UNTRACEABLE, true)];
          return stars ? branch.outputs.map((_, i) => this.outputTaint(b, i)) : [this.outputTaint(b, index)];
        }),
      );
    }
    const roots = this.rootsByOutput.get(outputKey(scopeId, index)) ?? [];
    if (roots.length === 0) return scope.shape === 'values' ? NULL_VALUE : whole(UNTRACEABLE, true);
    return alternatives(roots.map((r) => this.value(r.value, r.clause)));
  }

  /** What the columns of a function in FROM carry. */
  private entryTaint(entry: EntryId): Taint {
    const hit = this.entryMemo.get(entry);
    if (hit) return hit;
    if (this.entriesInProgress.has(entry)) return whole(UNTRACEABLE, true);
    this.entriesInProgress.add(entry);
    const alts: Taint[] = [];
    for (const r of this.rootsByEntry.get(entry) ?? []) {
      const t = this.value(r.value, r.clause);
      let bytes = false;
      if (t.level === 2) {
        for (const def of r.fromFunction?.definitions ?? []) bytes = this.castOf(def, t, `a column declared as ${typeName(def)}`, r.clause, true).bytes === true || bytes;
      }
      alts.push(bytes ? { ...t, bytes } : t);
    }
    this.entriesInProgress.delete(entry);
    const t = alts.length ? alternatives(alts) : whole(UNTRACEABLE, true);
    this.entryMemo.set(entry, t);
    return t;
  }

  private outputRefTaint(ref: OutputRef): Taint {
    const scope = this.facts.scopes[ref.scope];
    if (!scope) return whole(UNTRACEABLE, true);
    const referenced = referencedOutputs(scope, ref.by);
    const alts: Taint[] = [];
    scope.outputs.forEach((o, i) => {
      if (!referenced.includes(o)) return;
      // A set operation's `*` is its first branch's, but its columns carry every branch's
      // values (UNION ALL SELECT 'guess', ...): outputTaint follows them all.
      if (o.type === 'star' && ref.by.type === 'name' && scope.shape !== 'setop') {
        alts.push(...this.resolver.starColumn(o.use, ref.by.name).map((origin) => this.originTaint(origin)));
      } else {
        alts.push(this.outputTaint(ref.scope, i));
      }
    });
    return alternatives(alts);
  }

  private exprTaint(id: ExprId, clause: Clause): Taint {
    const hit = this.exprMemo.get(id);
    if (hit) return hit;
    const node = this.facts.exprs[id];
    if (!node) throw new Denied('the policy could not follow an expression');
    if (++this.depth > MAX_DEPTH) throw new Denied(TOO_COMPLEX);
    const t = this.node(node, clause);
    this.depth--;
    this.exprMemo.set(id, t);
    return t;
  }

  private node(n: ExprNode, clause: Clause): Taint {
    const all = (vs: readonly ValueRef[]): Taint[] => vs.map((v) => this.value(v, clause));
    switch (n.type) {
      case 'function':
        return this.functionCall(n, clause);
      case 'operator':
        return this.operator(n.name, n.form, all(n.args), clause);
      case 'cast':
        all(n.typmods);
        return this.castOf(n.target, this.value(n.arg, clause), `a cast to ${typeName(n.target)}`, clause);
      case 'collate':
        return this.value(n.arg, clause);
      case 'bool':
      case 'grouping':
        return destroyed(all(n.args));
      case 'test':
        return destroyed([this.value(n.arg, clause)]);
      case 'case': {
        const tests = all(n.subject ? [n.subject, ...n.conditions] : n.conditions);
        const r = alternatives(all(n.results));
        return r.level === 0 && tests.some((t) => t.level > 0) ? { ...r, level: 1 } : r;
      }
      case 'coalesce':
        return alternatives(all(n.args));
      case 'array':
      case 'row': {
        const args = all(n.args);
        const r = alternatives(args);
        if (n.type === 'row' && r.bytes) throw new Denied(bytesMessage('a ROW(...) value', r.source, 'renders a bytea field as hex in the record', clause));
        return r.level < 2 ? { ...r, typed: args.length > 0 && args.every((a) => a.typed) } : r;
      }
      case 'greatest-least': {
        const args = all(n.args);
        this.range('greatest/least', 'compares', args, clause);
        // Compared only with typed values (or NULL), it is one of the scanned values or a typed one.
        const w = args.find((a) => a.level === 2);
        return w ? whole(w.source, false, anyBytes(args)) : alternatives(args);
      }
      case 'sql-value':
        return CLEAN_TYPED;
      case 'indirection': {
        const base = this.value(n.arg, clause);
        const indexes = all(n.indexes);
        if (base.level === 2) return base;
        return indexes.some((t) => t.level > 0) ? { ...DESTROYED_UNTYPED, typed: base.typed } : base;
      }
      case 'sublink': {
        const sub = this.queryTaint(n.query);
        if (n.kind === 'exists') return DESTROYED;
        if (n.kind === 'expr' || n.kind === 'array') return sub;
        const test = n.test ? this.value(n.test, clause) : CLEAN_TEXT;
        const op = n.operator ?? { schema: null, name: '=', location: -1 };
        return this.operator(op, 'op', [test, sub], clause);
      }
    }
  }

  /** Everything a subquery used as a value can return (all of its outputs). */
  private queryTaint(scopeId: ScopeId): Taint {
    const scope = this.facts.scopes[scopeId];
    if (!scope) return whole(UNTRACEABLE, true);
    return alternatives(scope.outputs.map((_, i) => this.outputTaint(scopeId, i)));
  }

  private functionCall(n: Extract<ExprNode, { type: 'function' }>, clause: Clause): Taint {
    const args = n.args.map((v) => this.value(v, clause));
    const order = n.order.map((v) => this.value(v, clause));
    for (const t of order) this.noGuessSorted(t, `the ORDER BY of ${n.name.name}()`);
    // DISTINCT sorts the arguments: array_agg(DISTINCT x) returns them in order.
    if (n.distinct) for (const t of args) this.noGuessSorted(t, `the DISTINCT of ${n.name.name}()`);
    if (n.filter) this.value(n.filter, clause);
    if (n.window) {
      for (const v of n.window.partition) this.noGuessSorted(this.value(v, clause), `the window PARTITION BY of ${n.name.name}()`);
      for (const v of n.window.order) this.noGuessSorted(this.value(v, clause), `the window ORDER BY of ${n.name.name}()`);
      for (const v of n.window.offsets) this.value(v, clause);
    }
    const name = builtin(n.name) ?? '';
    if (HYPOTHETICAL_SET.has(name) && n.order.length > 0) this.range(`${n.name.name}() WITHIN GROUP`, 'compares', [...args, ...order], clause);
    const r = RULES.get(name);
    const scanned = args.findIndex((a) => a.level === 2);
    if (scanned === -1 && !(r?.kind === 'ordered-set' && order.some((t) => t.level === 2))) {
      // No scanned input: a result of known type, or whatever its inputs were.
      if (TEXT_RESULTS.has(name)) return [...args, ...order].some((a) => a.level > 0) ? DESTROYED_UNTYPED : CLEAN_TEXT;
      if (r?.kind === 'destroy' || r?.kind === 'arith' || TYPED_RESULTS.has(name)) return destroyed([...args, ...order]);
      const level = [...args, ...order].some((a) => a.level > 0) ? 1 : 0;
      return { ...CLEAN_TEXT, level };
    }
    const src = args[scanned]?.source ?? order.find((t) => t.level === 2)?.source ?? '';
    const what = `function ${n.name.name}`;
    switch (r?.kind) {
      case 'destroy': {
        const bad = r.textArgs?.find((i) => args[i]?.level === 2);
        if (bad !== undefined) throw new Denied(transformMessage(what, args[bad]?.source ?? src, clause));
        return TEXT_RESULTS.has(name) ? DESTROYED_UNTYPED : DESTROYED;
      }
      case 'arith': {
        const bad = r.textArgs.find((i) => args[i]?.level === 2);
        if (bad !== undefined) throw new Denied(transformMessage(what, args[bad]?.source ?? src, clause));
        return whole(src, TEXT_RESULTS.has(name) || args.some((a) => a.level === 2 && a.mixed));
      }
      case 'carry': {
        const carried = r.carried === 'all' ? args : r.carried.flatMap((i) => (args[i] ? [args[i]] : []));
        const t = alternatives(carried);
        if (t.level < 2) return DESTROYED_UNTYPED;
        if (r.compares && t.mixed) throw new Denied(compareMessage(`${n.name.name}() compares`, t.source));
        if (r.keys) this.noGuessKeys(r.keys === 'pairs' ? args.filter((_, i) => args.length % 2 === 1 || i % 2 === 0) : r.keys.flatMap((i) => (args[i] ? [args[i]] : [])), n.name.name);
        if (t.bytes && name.includes('json')) throw new Denied(bytesMessage(what, t.source, 'renders a bytea as a JSON string of hex', clause));
        return t;
      }
      case 'jsonpath': {
        const path = n.args[1];
        const simple = path?.type === 'const' && path.kind === 'string' && path.value !== null && SIMPLE_JSONPATH.test(path.value);
        if (!simple || (args[1]?.level ?? 0) === 2) {
          throw new Denied(
            `${what} over ${src} needs a constant path of member names and subscripts ($.a.b[*]): a jsonpath filter (?, like_regex, starts with, comparisons) or method asks questions about the values inside; use -> / ->> / #> or a simple path${where(clause)}`,
          );
        }
        if (args[0]?.level !== 2) return DESTROYED_UNTYPED;
        return r.returns === 'bool' ? DESTROYED : args[0];
      }
      case 'ordered-set': {
        // Whatever the fraction, the result is one of the ORDER BY values: with none
        // scanned, percentile_disc(step * 0 + 0.5) WITHIN GROUP (ORDER BY 'guess') is the
        // text 'guess', typed only if they are.
        const t = alternatives(order);
        return t.level === 2 ? t : { ...t, level: 1 };
      }
      case 'search':
        throw new Denied(searchMessage(what, src, clause));
      case 'joins':
        throw new Denied(
          `${what} over ${src} joins values end to end, which can split or extend a secret at a value's boundary so that the masking detectors miss it: ` +
            `select the values themselves, or collect them with array_agg / jsonb_agg${where(clause)}`,
        );
      case undefined:
        throw new Denied(transformMessage(what, src, clause));
    }
  }

  private operator(op: QualifiedName, form: OperatorForm, args: readonly Taint[], clause: Clause): Taint {
    const scanned = args.find((a) => a.level === 2);
    const name = builtin(op) ?? '';
    switch (form) {
      case 'like':
      case 'ilike':
      case 'similar':
        if (scanned) throw new Denied(searchMessage(form === 'similar' ? 'SIMILAR TO' : form === 'ilike' ? 'ILIKE' : 'LIKE', scanned.source, clause));
        return destroyed(args);
      case 'distinct':
      case 'not-distinct':
      case 'in':
        return destroyed(args);
      case 'nullif': {
        const first = args[0] ?? CLEAN_TEXT;
        if (first.level === 2) return whole(first.source, first.mixed, first.bytes);
        return args.some((a) => a.level > 0) ? { ...first, level: 1 } : first;
      }
      case 'between':
        this.range('BETWEEN', 'compares', args, clause);
        return destroyed(args);
      case 'op':
      case 'any':
      case 'all':
        break;
    }
    const what = `operator ${op.name}`;
    if (args.length === 1) {
      // Prefix operators (-x, @x, |/x, ~x) are arithmetic: the result still carries x.
      if (!scanned) return typedIfAll(args);
      if (!ARITH_OPS.has(name)) throw new Denied(transformMessage(what, scanned.source, clause));
      return whole(scanned.source, scanned.mixed);
    }
    if (EQUALITY_OPS.has(name) || CONTAINMENT_OPS.has(name)) return destroyed(args);
    if (RANGE_OPS.has(name)) {
      this.range(what, 'compares', args, clause);
      return destroyed(args);
    }
    if (PATTERN_OPS.has(name)) {
      if (scanned) throw new Denied(searchMessage(what, scanned.source, clause));
      return destroyed(args);
    }
    if (ARITH_OPS.has(name)) {
      // Without a scanned operand the result is typed only if every operand is: jsonb
      // minus an element ('["guess", 0]'::jsonb - 1) is a JSON value of the statement's own.
      if (!scanned) return typedIfAll(args);
      this.range(what, 'combines', args, clause);
      return whole(scanned.source, false);
    }
    if (form === 'op' && (JSON_NAV_OPS.has(name) || name === '#-')) {
      // The document carries on; the key or path is looked up.
      const doc = args[0] ?? CLEAN_TEXT;
      if (doc.level === 2) return doc;
      return { ...CLEAN_TEXT, level: args.some((a) => a.level > 0) ? 1 : 0 };
    }
    if (!scanned) return { ...CLEAN_TEXT, level: args.some((a) => a.level > 0) ? 1 : 0 };
    if (name === '||') {
      throw new Denied(
        `operator || over ${scanned.source} joins text end to end, which can extend a secret at its boundary so that the masking detectors miss it: select the column itself${where(clause)}`,
      );
    }
    throw new Denied(transformMessage(what, scanned.source, clause));
  }

  /**
   * `<`, `>`, BETWEEN, greatest/least, arithmetic over a scanned value: only with another
   * scanned value (data with data) or a value of a type that is not text.
   */
  private range(what: string, verb: 'compares' | 'combines', args: readonly Taint[], clause: Clause): void {
    const scanned = args.find((a) => a.level === 2);
    if (!scanned) return;
    const mixed = args.find((a) => a.level === 2 && a.mixed);
    if (mixed) throw new Denied(compareMessage(`${what} ${verb}`, mixed.source));
    if (args.some((a) => a.level < 2 && !a.typed)) {
      throw new Denied(
        `${what} ${verb} ${scanned.source} with a value that could be text: a range comparison (or arithmetic) of a scanned value against a chosen one reveals it a character at a time. ` +
          `Compare whole values (=, <>, IN), or use a typed value (step > 3, step + 1, created_at > now() - interval '1 day', created_at < $1::timestamptz)${where(clause)}`,
      );
    }
  }

  /**
   * A cast applied to a value, or a column definition type applied to a JSON value
   * (`fromJson`: a json/jsonb column keeps the JSON value as it is, with no text parse).
   */
  private castOf(target: TypeRef, arg: Taint, what: string, clause: Clause, fromJson = false): Taint {
    const name = builtin(target);
    if (arg.level < 2) {
      const typed = name !== null && !target.array && TYPED_TYPES.has(name);
      return { ...arg, typed, isNull: arg.isNull };
    }
    if (arg.bytes && !(name === 'bytea' && !target.array && !target.typmods)) throw new Denied(bytesMessage(what, arg.source, 'renders a bytea as hex', clause));
    if (name !== null && !target.array) {
      if (name === 'bytea' && !target.typmods) return { ...arg, bytes: true };
      if ((PRESERVING_CASTS.has(name) || (fromJson && (name === 'json' || name === 'jsonb'))) && !target.typmods) return arg;
      if (DESTROYING_CASTS.has(name)) return DESTROYED;
    }
    const why =
      name !== null && PRESERVING_CASTS.has(name) && target.typmods
        ? 'truncates it'
        : name === 'json' || name === 'jsonb'
          ? 'parses it, and a parse error quotes the piece it stopped at (use to_jsonb(), or JSON operators on the json/jsonb column itself)'
          : 'turns it into a value the masking detectors cannot recognise (a number, an array, a padded or truncated string, a lower-cased name)';
    throw new Denied(`${what} over ${arg.source} ${why}: select the column itself, or cast to text, int4, bool, date or timestamptz${where(clause)}`);
  }
}

function typeName(t: TypeRef): string {
  return `${t.name}${t.array ? '[]' : ''}`;
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function useName(facts: SelectFacts, id: UseId): string {
  const use = facts.uses[id];
  if (!use) return 'a column';
  const r = use.ref;
  return r.type === 'star' ? `${r.qualifier ? `${r.qualifier}.` : ''}*` : `${r.qualifier ? `${r.qualifier}.` : ''}${r.name}`;
}

const CONDITIONS = new Set<Clause>(['where', 'join condition', 'join using', 'having']);

function where(clause: Clause): string {
  return CONDITIONS.has(clause) ? ` (in the ${clause.toUpperCase()})` : clause === 'select list' ? '' : ` (in the ${clause})`;
}

function transformMessage(what: string, source: string, clause: Clause): string {
  const advice = CONDITIONS.has(clause) ? 'compare whole values instead (=, <>, IN, IS NULL, JSON operators)' : 'select the column itself (the masker recognises secrets only in whole values)';
  return `${what} over ${source} would return text the masking detectors cannot recognise (a secret cut into pieces, re-encoded or re-cased is not masked): ${advice}${where(clause)}`;
}

function bytesMessage(what: string, source: string, why: string, clause: Clause): string {
  return (
    `${what} over ${source} ${why}, which the masking detectors do not decode (only a bytea column is): ` +
    `select the bytea itself, or the text column without the cast${where(clause)}`
  );
}

function searchMessage(what: string, source: string, clause: Clause): string {
  return (
    `${what} over ${source} searches inside a detector-scanned value: each answer reveals a piece of a secret in it, a character at a time. ` +
    `Compare whole values (=, <>, IN, @>), or select the column and search it in the client${where(clause)}`
  );
}

function compareMessage(what: string, source: string): string {
  return (
    `${what} ${source} with values of the statement's own (a constant, a parameter, a coalesce or CASE default, another branch of a UNION): ` +
    'comparing a scanned value against chosen values reveals it a character at a time; compare with = or against typed values'
  );
}
