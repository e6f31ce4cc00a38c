// The masking entry point the session uses. createMasker compiles the policy's masking
// section once; per statement, planResult turns a RowDescription into a ResultMasker
// that rewrites each DataRow as it passes (row by row: nothing is buffered), and error
// and notice fields are masked the same way, since they echo data ("invalid input syntax
// for type integer: \"alice@example.com\"").
//
// Each result column gets the first of these that applies (or none: relayed untouched):
//   1. its origin column (RowDescription table OID + column number, through the
//      catalog, so aliases do not matter) has a column rule: the rule's strategy;
//   2. its origin cannot be resolved while rules exist: NULL (fail closed);
//   3. its type is a table's row type (SELECT t FROM traces t): field by field, each
//      by its column's rule or detectors (row-type-mask.ts); an anonymous record (a
//      subquery's or WITH query's row, ROW(...)) while rules exist: NULL, since its
//      fields have no origin and one may be a ruled column or a ruled table's row;
//   4. it is JSON computed by an expression (to_jsonb(t)) while rules exist: the rules
//      by key (column-rules.ts expressionPathRules), plus detectors;
//   5. detectors, by the value's type (value-masker.ts).
// An exempt caller (a rule's masking exemption, e.g. security reviewers) gets no masker
// at all; the session records that exemption with the statement.
//
// Pure: no I/O, no clock, no state between calls besides the compiled config. It never
// decides whether a statement may run (policy/ does); it only rewrites what comes back.
import type { FieldDescription } from '../../protocol/backend.js';
import type { ErrorFields } from '../../protocol/error-fields.js';
import { compileColumnRules, expressionPathRules, jsonPathsFieldMask, ruleFieldMask, type CompiledRule } from './column-rules.js';
import { maskDataRowFrame } from './data-row.js';
import { enabledDetectors } from './detectors/registry.js';
import type { PathRule } from './json-masker.js';
import { FIRST_NORMAL_OID, Oid, valueKind } from './pg-types.js';
import { rowTypeFieldMask } from './row-type-mask.js';
import { Scanner } from './scanner.js';
import { isDetectorKind, type MaskingConfig } from './types.js';
import { ValueMasker, type FieldMask } from './value-masker.js';

export interface ColumnRef {
  /** `schema.name` */
  table: string;
  column: string;
}

export type ColumnResolver = (tableOid: number, columnNumber: number) => ColumnRef | undefined;

export interface RowColumn {
  column: string;
  /** The column's type (a domain's base type). */
  typeOid: number;
}

/** A table's row type: its columns in attnum order, dropped ones left out. */
export interface RowTypeRef {
  /** `schema.name` */
  table: string;
  columns: readonly RowColumn[];
  /** True for the array type of the row type (array_agg(t)). */
  array: boolean;
}

/** The table whose row type (or array of it) `typeOid` is; undefined for any other type. */
export type RowTypeResolver = (typeOid: number) => RowTypeRef | undefined;

export interface PlanOptions {
  /** The caller's rule exempts it from masking (security reviewers): nothing is masked. */
  exempt: boolean;
  /**
   * Resolves row types (ColumnCatalog.rowTypeOf). Without it, while column rules exist,
   * a field of a non-built-in type is NULL: it could be a ruled table's whole row.
   */
  rowTypeOf?: RowTypeResolver;
}

export interface ResultMasker {
  /** A full DataRow frame in, a full frame out; the same Buffer when nothing changed. */
  maskDataRow(frame: Buffer): Buffer;
}

export interface Masker {
  /**
   * False when no column rules exist: the session may skip catalog lookups (whole-row
   * values are then masked by detectors alone, without knowing their columns).
   */
  readonly needsCatalog: boolean;
  /**
   * The row masker for a result, or null when no field can need masking (exempt caller,
   * or only types detectors cannot fire on and no column rules): relay DataRows as is.
   * A field whose origin column cannot be resolved while column rules exist is NULL in
   * every row (fail closed: it might be a ruled column); load the catalog first.
   */
  planResult(fields: readonly FieldDescription[], columnOf: ColumnResolver, opts: PlanOptions): ResultMasker | null;
  /** ErrorResponse / NoticeResponse fields; the same object when nothing changed. */
  maskErrorFields(fields: ErrorFields): ErrorFields;
  maskText(s: string): string;
}

// Fields that carry codes, positions or source locations of the server, never data.
const STRUCTURAL_ERROR_FIELDS = new Set(['severity', 'severityNonLocalized', 'code', 'position', 'internalPosition', 'file', 'line', 'routine']);

const NULL_FIELD: FieldMask = () => null;

// Postgres's date/time parsers lower-case a word of the value before they report it as
// an unknown time zone or unit: `'DE89370400440532013000'::time` fails with `time zone
// "de89370400440532013000" not recognized`, date_part(x, ...) with `unit "..." not
// recognized`. The detectors are case-sensitive and miss the lower-cased value, which
// upper() restores (IBANs, AWS key ids) or md5 confirms. Such a message is replaced
// whole: recognised by its English text, and by the routine that raised it, which a
// server whose messages are in another language reports unchanged (PostgreSQL 15:
// DecodeTimeOnly, DecodeDateTime; 16 and later report through DateTimeParseError; the
// unit parsers are the *_part and *_trunc functions).
const LOWER_CASED_NAME = /^(?:time zone|unit) "[\s\S]*" not (?:recognized|supported)/;
const LOWER_CASING_ROUTINE = /^(?:Decode\w*|DateTimeParseError|\w+_(?:part|trunc)\w*)$/;
const LOWER_CASED_MASKED = 'the value could not be read as a date, time, time zone or unit (the server\'s message is withheld: it may quote part of the value lower-cased, where masking cannot recognise a secret)';

function quotesLowerCased(fields: ErrorFields): boolean {
  return (fields.message !== undefined && LOWER_CASED_NAME.test(fields.message)) || (fields.routine !== undefined && LOWER_CASING_ROUTINE.test(fields.routine));
}

class RowMasker implements ResultMasker {
  constructor(private readonly masks: readonly (FieldMask | null)[]) {}

  maskDataRow(frame: Buffer): Buffer {
    return maskDataRowFrame(frame, this.masks);
  }
}

class PolicyMasker implements Masker {
  readonly needsCatalog: boolean;
  /** Column rules as paths into JSON computed by expressions (to_jsonb(t), ...). */
  private readonly expressionPaths: readonly PathRule[];

  constructor(
    private readonly values: ValueMasker,
    private readonly rules: ReadonlyMap<string, CompiledRule>,
  ) {
    this.needsCatalog = rules.size > 0;
    this.expressionPaths = expressionPathRules(rules);
  }

  planResult(fields: readonly FieldDescription[], columnOf: ColumnResolver, opts: PlanOptions): ResultMasker | null {
    if (opts.exempt) return null;
    const masks = fields.map((f) => this.fieldMask(f, columnOf, opts.rowTypeOf));
    return masks.some((m) => m !== null) ? new RowMasker(masks) : null;
  }

  private fieldMask(f: FieldDescription, columnOf: ColumnResolver, rowTypeOf: RowTypeResolver | undefined): FieldMask | null {
    const ruled = this.rules.size > 0;
    let hint = f.name;
    // Negative column numbers are system columns (ctid, xmin): never ruled.
    if (ruled && f.tableOid !== 0 && f.columnNumber > 0) {
      const ref = columnOf(f.tableOid, f.columnNumber);
      if (ref === undefined) return NULL_FIELD;
      const rule = this.rules.get(`${ref.table}.${ref.column}`);
      if (rule) return ruleFieldMask(rule, f.typeOid, f.format, this.values);
      hint = ref.column;
    }
    if (f.typeOid >= FIRST_NORMAL_OID) {
      const row = rowTypeOf?.(f.typeOid);
      if (row && rowTypeOf) return rowTypeFieldMask(row, f.format, { values: this.values, rules: this.rules, rowTypeOf });
      if (ruled && rowTypeOf === undefined) return NULL_FIELD;
    }
    if (ruled && (f.typeOid === Oid.record || f.typeOid === Oid.recordArray)) return NULL_FIELD;
    const kind = valueKind(f.typeOid);
    if (ruled && f.tableOid === 0 && (kind === 'json' || kind === 'jsonb')) {
      return jsonPathsFieldMask(this.expressionPaths, f.typeOid, f.format, this.values);
    }
    return this.values.fieldMask(f.typeOid, f.format, hint);
  }

  maskErrorFields(fields: ErrorFields): ErrorFields {
    let out: ErrorFields | null = null;
    const withheld = quotesLowerCased(fields);
    for (const [key, value] of Object.entries(fields)) {
      if (value === undefined || STRUCTURAL_ERROR_FIELDS.has(key)) continue;
      const masked = withheld && (key === 'message' || key === 'detail' || key === 'hint') ? LOWER_CASED_MASKED : this.values.maskStringPrefiltered(value);
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
  const rules = compileColumnRules(cfg.columns ?? [], cfg.hashKey, (s) => values.maskStringPrefiltered(s));
  return new PolicyMasker(values, rules);
}
