// Column rules: compiled once from the policy, looked up per result column by the
// catalog name of the column's origin (RowDescription table OID + column number), so an
// alias cannot dodge them. A rule replaces the whole value by its strategy, or, with
// jsonPaths, only the values at those paths of a JSON document (detectors still run
// over the rest). The strategy's output is text, so a rule on a column whose type is
// not text or JSON makes the field NULL, as do rules on arrays.
import { parseJsonPath, type Segment } from './json-path.js';
import { maskJsonDocument, type PathRule } from './json-masker.js';
import { valueKind } from './pg-types.js';
import { partialKeep, partialOfTail, strategyFor, type StrategyFn } from './strategies.js';
import type { ColumnRule, MaskStrategy } from './types.js';
import type { FieldMask, TextMask, ValueMasker } from './value-masker.js';

export interface CompiledRule {
  /** `schema.table.column` */
  readonly name: string;
  readonly strategy: MaskStrategy;
  readonly apply: StrategyFn;
  /** Null: the rule covers the whole value. */
  readonly paths: readonly PathRule[] | null;
  /** A partial rule's keep and its result from a value's tail (partialOfTail); else null. */
  readonly partial: { readonly keep: number; readonly ofTail: (tail: string) => string } | null;
}

const NULL_FIELD: FieldMask = () => null;

/** `table.column` means schema public; anything but 2 or 3 dotted parts is refused. */
function qualifiedColumn(name: string): string {
  const parts = name.split('.');
  if (parts.length === 2) return `public.${name}`;
  if (parts.length === 3 && parts.every((p) => p.length > 0)) return name;
  throw new RangeError(`masking column ${JSON.stringify(name)} must be schema.table.column or table.column`);
}

export function compileColumnRules(
  rules: readonly ColumnRule[],
  hashKey: string | undefined,
  scrub: (s: string) => string,
): ReadonlyMap<string, CompiledRule> {
  const out = new Map<string, CompiledRule>();
  for (const rule of rules) {
    const name = qualifiedColumn(rule.column);
    if (out.has(name)) throw new RangeError(`masking column ${name} has more than one rule`);
    const apply = strategyFor(rule, hashKey, scrub);
    const paths =
      rule.jsonPaths === undefined || rule.jsonPaths.length === 0
        ? null
        : rule.jsonPaths.map((p) => ({ path: parseJsonPath(p), strategy: rule.strategy, apply }));
    const partial = rule.strategy === 'partial' ? { keep: partialKeep(rule), ofTail: (tail: string) => partialOfTail(tail, scrub) } : null;
    out.set(name, { name, strategy: rule.strategy, apply, paths, partial });
  }
  return out;
}

function jsonbBytes(text: string): Buffer {
  return Buffer.concat([Buffer.of(1), Buffer.from(text, 'utf8')]);
}

/** Runs a text mask over a string or JSON field's bytes, in either format. */
function onFieldText(mask: TextMask, binaryJsonb: boolean): FieldMask {
  return (buf, start, end) => {
    if (binaryJsonb && (end - start < 1 || buf[start] !== 1)) return null;
    const text = buf.toString('utf8', binaryJsonb ? start + 1 : start, end);
    const out = mask(text);
    if (out === null || out === undefined) return out;
    return binaryJsonb ? jsonbBytes(out) : Buffer.from(out, 'utf8');
  };
}

/** `rule` applied to the text of a value of this type (a column, or a field of a row value). */
export function ruleTextMask(rule: CompiledRule, typeOid: number, values: ValueMasker): TextMask {
  const kind = valueKind(typeOid);
  if (kind !== 'string' && kind !== 'json' && kind !== 'jsonb') return () => null;
  // A JSON document must stay one: a whole-value strategy yields a JSON string.
  const whole = (text: string): string | null => {
    const out = rule.apply(text);
    return out === null || kind === 'string' ? out : JSON.stringify(out);
  };
  const paths = rule.paths;
  return (text) => {
    // Paths apply when the value is JSON (a text column may hold JSON); a value that is
    // not gets the strategy whole, since its paths cannot be found.
    const out = paths === null ? whole(text) : (maskJsonDocument(text, values.scanner, paths) ?? whole(text));
    return out === text ? undefined : out;
  };
}

/** The per-field function applying `rule` to a column of this type and format. */
export function ruleFieldMask(rule: CompiledRule, typeOid: number, format: 0 | 1, values: ValueMasker): FieldMask {
  const kind = valueKind(typeOid);
  if (kind !== 'string' && kind !== 'json' && kind !== 'jsonb') return NULL_FIELD;
  const binaryJsonb = kind === 'jsonb' && format === 1;
  if (kind !== 'string' && rule.paths !== null) {
    // A document that does not parse gets the strategy whole, as a JSON string.
    return values.jsonPathsField(rule.paths, binaryJsonb, (text) => {
      const out = rule.apply(text);
      return out === null ? null : JSON.stringify(out);
    });
  }
  const onText = onFieldText(ruleTextMask(rule, typeOid, values), binaryJsonb);
  const partial = rule.partial;
  if (kind !== 'string' || rule.paths !== null || partial === null) return onText;
  const keep = partial.keep;
  // A partial rule on a string column (an email kept to its last four): when the last
  // `keep` bytes are ASCII they are the last `keep` code points (an ASCII byte is a code
  // point whole, and never part of an invalid sequence either), and a byte before them
  // makes the value longer than `keep`: only the tail is decoded. Else the text's way.
  return (buf, start, end) => {
    const from = end - keep;
    if (from <= start) return onText(buf, start, end);
    for (let i = from; i < end; i++) if ((buf[i] as number) >= 0x80) return onText(buf, start, end);
    return Buffer.from(partial.ofTail(buf.toString('latin1', from, end)), 'utf8');
  };
}

/**
 * Column rules as paths into a JSON value computed by an expression, such as
 * to_jsonb(t), row_to_json(t) or json_agg(t): a ruled column appears there as a key, at
 * any depth, and the rule applies to its value (with its own paths below it). The source
 * table of an expression is unknown, so every rule applies by column name alone: a
 * same-named key of another table is masked too, which costs detail, never secrecy.
 */
export function expressionPathRules(rules: ReadonlyMap<string, CompiledRule>): PathRule[] {
  const out: PathRule[] = [];
  for (const rule of rules.values()) {
    const column = rule.name.slice(rule.name.lastIndexOf('.') + 1);
    const at: Segment = { type: 'key', key: column, deep: true };
    if (rule.paths === null) {
      out.push({ path: { source: `$..${column}`, segments: [at] }, strategy: rule.strategy, apply: rule.apply });
      continue;
    }
    for (const p of rule.paths) {
      out.push({ path: { source: `$..${column}${p.path.source.slice(1)}`, segments: [at, ...p.path.segments] }, strategy: p.strategy, apply: p.apply });
    }
  }
  return out;
}

/** Detectors plus `paths` over a json/jsonb field; text that is not JSON gets detectors only. */
export function jsonPathsFieldMask(paths: readonly PathRule[], typeOid: number, format: 0 | 1, values: ValueMasker): FieldMask {
  return values.jsonPathsField(paths, valueKind(typeOid) === 'jsonb' && format === 1, (text) => values.scanner.maskText(text));
}
