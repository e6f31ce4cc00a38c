// Values whose type is a table's row type: SELECT t FROM traces t returns the whole row
// as one field of type "traces", in text format as a record literal and in binary as a
// record with one typed entry per column; array_agg(t) returns an array of them. The
// catalog tells which table a row type belongs to and its columns in order, so each
// entry is masked as that column would be: by its column rule if it has one (a whole-row
// read must not carry a ruled column out), else by the detectors for its type.
//
// A value whose field count differs from the cached columns (the table was altered
// since the catalog was loaded) is NULL: its entries cannot be matched to columns.
import { maskArrayText } from './array-text.js';
import { MALFORMED, maskBinaryArray, maskBinaryRecord } from './binary-composites.js';
import { ruleFieldMask, ruleTextMask, type CompiledRule } from './column-rules.js';
import type { RowTypeRef, RowTypeResolver } from './masker.js';
import { maskRecordText } from './record-text.js';
import { fieldBytes, type FieldMask, type TextMask, type ValueMasker } from './value-masker.js';

export interface RowTypeContext {
  values: ValueMasker;
  rules: ReadonlyMap<string, CompiledRule>;
  rowTypeOf: RowTypeResolver;
}

const MAX_DEPTH = 8;

function entryTextMask(ref: RowTypeRef, i: number, ctx: RowTypeContext, depth: number): TextMask | null {
  const col = ref.columns[i];
  if (col === undefined) return () => null;
  const rule = ctx.rules.get(`${ref.table}.${col.column}`);
  if (rule) return ruleTextMask(rule, col.typeOid, ctx.values);
  const nested = ctx.rowTypeOf(col.typeOid);
  if (nested) return rowTypeTextMask(nested, ctx, depth + 1);
  return ctx.values.textMask(col.typeOid, col.column, depth + 1);
}

function entryFieldMask(ref: RowTypeRef, i: number, ctx: RowTypeContext, depth: number): FieldMask | null {
  const col = ref.columns[i];
  if (col === undefined) return () => null;
  const rule = ctx.rules.get(`${ref.table}.${col.column}`);
  if (rule) return ruleFieldMask(rule, col.typeOid, 1, ctx.values);
  const nested = ctx.rowTypeOf(col.typeOid);
  if (nested) return rowTypeFieldMask(nested, 1, ctx, depth + 1);
  return ctx.values.fieldMask(col.typeOid, 1, col.column);
}

/** The text mask for a value of this row type (or array of it); NULL when it does not fit. */
function rowTypeTextMask(ref: RowTypeRef, ctx: RowTypeContext, depth = 0): TextMask {
  if (depth > MAX_DEPTH) return () => null;
  const entries = ref.columns.map((_, i) => entryTextMask(ref, i, ctx, depth));
  const count = entries.length;
  const row: TextMask = (text) => {
    const r = maskRecordText(text, (entry, i) => entries[i]?.(entry), count);
    if (r === null) return null;
    return r === text ? undefined : r;
  };
  if (!ref.array) return row;
  return (text) => {
    const r = maskArrayText(text, row);
    if (r === null) return null;
    return r === text ? undefined : r;
  };
}

/** The field mask for a value of this row type (or array of it), in either format. */
export function rowTypeFieldMask(ref: RowTypeRef, format: 0 | 1, ctx: RowTypeContext, depth = 0): FieldMask {
  if (format === 0) {
    const mask = rowTypeTextMask(ref, ctx, depth);
    return (buf, start, end) => {
      const r = mask(buf.toString('utf8', start, end));
      return r === undefined || r === null ? r : Buffer.from(r, 'utf8');
    };
  }
  if (depth > MAX_DEPTH) return () => null;
  const entries = ref.columns.map((_, i) => entryFieldMask(ref, i, ctx, depth));
  const count = entries.length;
  const row: FieldMask = (buf, start, end) => {
    const r = maskBinaryRecord(buf, start, end, (_oid, b, s, e, i) => fieldBytes(entries[i]?.(b, s, e), b, s, e), count);
    return r === MALFORMED ? null : r;
  };
  if (!ref.array) return row;
  return (buf, start, end) => {
    const r = maskBinaryArray(buf, start, end, (_oid, b, s, e) => fieldBytes(row(b, s, e), b, s, e));
    return r === MALFORMED ? null : r;
  };
}
