// The column names a function in FROM produces, so an unqualified column reference can
// be resolved the way Postgres resolves it. Record-returning functions on the policy's
// allow-list are listed; a function returning a base type yields one column named after
// its alias or itself. Where the shape depends on an argument (json_populate_record,
// multi-argument unnest) the columns are unknown, which makes unqualified names that
// could come from it ambiguous, never wrongly resolved.

const RECORD_COLUMNS: Readonly<Record<string, readonly string[]>> = {
  json_each: ['key', 'value'],
  jsonb_each: ['key', 'value'],
  json_each_text: ['key', 'value'],
  jsonb_each_text: ['key', 'value'],
  json_array_elements: ['value'],
  jsonb_array_elements: ['value'],
  json_array_elements_text: ['value'],
  jsonb_array_elements_text: ['value'],
};

const SHAPE_FROM_ARGUMENTS = new Set([
  'json_populate_record',
  'jsonb_populate_record',
  'json_populate_recordset',
  'jsonb_populate_recordset',
  'json_to_record',
  'jsonb_to_record',
  'json_to_recordset',
  'jsonb_to_recordset',
]);

/**
 * Columns of one function in FROM: from its column definition list when it has one,
 * from the table above, or one column named `scalarName`. null when unknowable.
 */
export function functionColumns(name: string, argCount: number, definitionList: readonly string[] | null, scalarName: string): readonly string[] | null {
  if (definitionList !== null) return definitionList;
  const known = RECORD_COLUMNS[name];
  if (known) return known;
  if (SHAPE_FROM_ARGUMENTS.has(name)) return null;
  if (name === 'unnest' && argCount !== 1) return null;
  return [scalarName];
}
