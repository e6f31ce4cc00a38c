// Column rules: compiled once from the policy, looked up per result column by the
// catalog name of the column's origin (RowDescription table OID + column number), so an
// alias cannot dodge them. A rule replaces the whole value by its strategy, or, with
// jsonPaths, only the values at those paths of a JSON document (detectors still run
// over the rest). The strategy's output is text, so a rule on a column whose type is
// not text or JSON makes the field NULL, as do rules on arrays.
import { parseJsonPath } from './json-path.js';
import { maskJsonDocument, type PathRule } from './json-masker.js';
import { valueKind } from './pg-types.js';
import { strategyFor, type StrategyFn } from './strategies.js';
import type { ColumnRule, MaskStrategy } from './types.js';
import type { FieldMask, ValueMasker } from './value-masker.js';

export interface CompiledRule {
  /** `schema.table.column` */
  readonly name: string;
  readonly strategy: MaskStrategy;
  readonly apply: StrategyFn;
  /** Null: the rule covers the whole value. */
  readonly paths: readonly PathRule[] | null;
}

const NULL_FIELD: FieldMask = () => null;

/** `table.column` means schema public; anything but 2 or 3 dotted parts is refused. */
export function qualifiedColumn(name: string): string {
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
    out.set(name, { name, strategy: rule.strategy, apply, paths });
  }
  return out;
}

function jsonbBytes(text: string): Buffer {
  return Buffer.concat([Buffer.of(1), Buffer.from(text, 'utf8')]);
}

/** The per-field function applying `rule` to a column of this type and format. */
export function ruleFieldMask(rule: CompiledRule, typeOid: number, format: 0 | 1, values: ValueMasker): FieldMask {
  const kind = valueKind(typeOid);
  if (kind !== 'string' && kind !== 'json' && kind !== 'jsonb') return NULL_FIELD;
  const binaryJsonb = kind === 'jsonb' && format === 1;
  // A JSON document must stay one: a whole-value strategy yields a JSON string.
  const whole = (text: string): string | null => {
    const out = rule.apply(text);
    return out === null || kind === 'string' ? out : JSON.stringify(out);
  };
  const paths = rule.paths;
  // Paths apply when the value is JSON (a text column may hold JSON); a value that is
  // not gets the strategy whole, since its paths cannot be found.
  const masked = paths === null ? whole : (text: string): string | null => maskJsonDocument(text, values.scanner, paths) ?? whole(text);
  return (buf, start, end) => {
    if (binaryJsonb && (end - start < 1 || buf[start] !== 1)) return null;
    const text = buf.toString('utf8', binaryJsonb ? start + 1 : start, end);
    const out = masked(text);
    if (out === null) return null;
    if (out === text) return undefined;
    return binaryJsonb ? jsonbBytes(out) : Buffer.from(out, 'utf8');
  };
}
