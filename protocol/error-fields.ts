// The fields of ErrorResponse and NoticeResponse, named as in the PostgreSQL docs
// ("Error and Notice Message Fields"), and the single-letter codes they travel as.
export interface ErrorFields {
  severity: string;
  code: string;
  message: string;
  severityNonLocalized?: string;
  detail?: string;
  hint?: string;
  position?: string;
  internalPosition?: string;
  internalQuery?: string;
  where?: string;
  schema?: string;
  table?: string;
  column?: string;
  dataType?: string;
  constraint?: string;
  file?: string;
  line?: string;
  routine?: string;
  [k: string]: string | undefined;
}

/** Wire letter to field name, in the order Postgres itself sends them. */
export const ERROR_FIELD_CODES = [
  [0x53, 'severity'], // S
  [0x56, 'severityNonLocalized'], // V
  [0x43, 'code'], // C
  [0x4d, 'message'], // M
  [0x44, 'detail'], // D
  [0x48, 'hint'], // H
  [0x50, 'position'], // P
  [0x70, 'internalPosition'], // p
  [0x71, 'internalQuery'], // q
  [0x57, 'where'], // W
  [0x73, 'schema'], // s
  [0x74, 'table'], // t
  [0x63, 'column'], // c
  [0x64, 'dataType'], // d
  [0x6e, 'constraint'], // n
  [0x46, 'file'], // F
  [0x4c, 'line'], // L
  [0x52, 'routine'], // R
] as const;

export type ErrorFieldName = (typeof ERROR_FIELD_CODES)[number][1];

export const ERROR_FIELD_BY_CODE: ReadonlyMap<number, ErrorFieldName> = new Map(ERROR_FIELD_CODES);
