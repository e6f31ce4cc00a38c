// The masking entry point the session uses. createMasker compiles the policy's masking
// section once; per statement, planResult turns a RowDescription into a ResultMasker
// that rewrites each DataRow as it passes (row by row: nothing is buffered), and error
// and notice fields are masked the same way, since they echo data ("invalid input syntax
// for type integer: \"alice@example.com\"").
//
// Pure: no I/O, no clock, no state between calls besides the compiled config. It never
// decides whether a statement may run (policy/ does); it only rewrites what comes back.
import type { FieldDescription } from '../../protocol/backend.js';
import type { ErrorFields } from '../../protocol/error-fields.js';
import { compileColumnRules, ruleFieldMask, type CompiledRule } from './column-rules.js';
import { maskDataRowFrame } from './data-row.js';
import { enabledDetectors } from './detectors/registry.js';
import { Scanner } from './scanner.js';
import { isDetectorKind, type MaskingConfig } from './types.js';
import { ValueMasker, type FieldMask } from './value-masker.js';

export interface ColumnRef {
  /** `schema.name` */
  table: string;
  column: string;
}

export type ColumnResolver = (tableOid: number, columnNumber: number) => ColumnRef | undefined;

export interface ResultMasker {
  /** A full DataRow frame in, a full frame out; the same Buffer when nothing changed. */
  maskDataRow(frame: Buffer): Buffer;
}

export interface Masker {
  /** False when no column rules exist: the session can skip catalog lookups entirely. */
  readonly needsCatalog: boolean;
  /**
   * The row masker for a result, or null when no field can need masking (exempt caller,
   * or only types detectors cannot fire on and no column rules): relay DataRows as is.
   * A field whose origin column cannot be resolved while column rules exist is NULL in
   * every row (fail closed: it might be a ruled column); load the catalog first.
   */
  planResult(fields: readonly FieldDescription[], columnOf: ColumnResolver, opts: { exempt: boolean }): ResultMasker | null;
  /** ErrorResponse / NoticeResponse fields; the same object when nothing changed. */
  maskErrorFields(fields: ErrorFields): ErrorFields;
  maskText(s: string): string;
}

// Fields that carry codes, positions or source locations of the server, never data.
const STRUCTURAL_ERROR_FIELDS = new Set(['severity', 'severityNonLocalized', 'code', 'position', 'internalPosition', 'file', 'line', 'routine']);

const NULL_FIELD: FieldMask = () => null;

class RowMasker implements ResultMasker {
  constructor(private readonly masks: readonly (FieldMask | null)[]) {}

  maskDataRow(frame: Buffer): Buffer {
    return maskDataRowFrame(frame, this.masks);
  }
}

class PolicyMasker implements Masker {
  readonly needsCatalog: boolean;

  constructor(
    private readonly values: ValueMasker,
    private readonly rules: ReadonlyMap<string, CompiledRule>,
  ) {
    this.needsCatalog = rules.size > 0;
  }

  planResult(fields: readonly FieldDescription[], columnOf: ColumnResolver, opts: { exempt: boolean }): ResultMasker | null {
    if (opts.exempt) return null;
    let any = false;
    const masks = fields.map((f): FieldMask | null => {
      let rule: CompiledRule | undefined;
      let hint = f.name;
      // Negative column numbers are system columns (ctid, xmin): never ruled.
      if (this.rules.size > 0 && f.tableOid !== 0 && f.columnNumber > 0) {
        const ref = columnOf(f.tableOid, f.columnNumber);
        if (ref === undefined) {
          any = true;
          return NULL_FIELD;
        }
        rule = this.rules.get(`${ref.table}.${ref.column}`);
        hint = ref.column;
      }
      const mask = rule ? ruleFieldMask(rule, f.typeOid, f.format, this.values) : this.values.fieldMask(f.typeOid, f.format, hint);
      if (mask) any = true;
      return mask;
    });
    return any ? new RowMasker(masks) : null;
  }

  maskErrorFields(fields: ErrorFields): ErrorFields {
    let out: ErrorFields | null = null;
    for (const [key, value] of Object.entries(fields)) {
      if (value === undefined || STRUCTURAL_ERROR_FIELDS.has(key)) continue;
      const masked = this.values.maskString(value);
      if (masked !== value) (out ??= { ...fields })[key] = masked;
    }
    return out ?? fields;
  }

  maskText(s: string): string {
    return this.values.maskString(s);
  }
}

export function createMasker(cfg: MaskingConfig): Masker {
  const selection = cfg.detectors;
  if (Array.isArray(selection)) {
    for (const k of selection as readonly string[]) {
      if (!isDetectorKind(k)) throw new RangeError(`unknown masking detector ${JSON.stringify(k)}`);
    }
  }
  const values = new ValueMasker(new Scanner(enabledDetectors(selection)));
  const rules = compileColumnRules(cfg.columns ?? [], cfg.hashKey, (s) => values.maskString(s));
  return new PolicyMasker(values, rules);
}
