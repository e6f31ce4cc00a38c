// The policy file's schema (policies/README.md is its reference). Every object is
// strict, so a misspelt key is an error with a line number rather than a silently
// ignored safety setting. Cross-field rules (an owner entitlement needs an owner
// column, rule names are unique ...) are checked here too, with the path of the key.
import { z } from 'zod';
import { DETECTOR_KINDS } from '../masking/types.js';
import { parseDuration, parseSize } from '../yaml-file.js';

// The detectors masking/ implements: one list, so a policy can name exactly those.
export const DETECTORS = DETECTOR_KINDS;

/** Settings a client may change with SET / RESET (SPEC section 2), unless the policy narrows it. */
export const DEFAULT_ALLOWED_SETTINGS = [
  'application_name',
  'extra_float_digits',
  'datestyle',
  'timezone',
  'client_encoding',
  'statement_timeout',
  'intervalstyle',
  'lc_monetary',
  'lc_numeric',
  'lc_time',
  'bytea_output',
  'client_min_messages',
] as const;

// A different search path, role, lexer setting or read-only state on the server than
// the proxy assumes is a bypass, so no policy may allow a client to change these.
export const NEVER_SETTABLE = new Set([
  'search_path',
  'role',
  'session_authorization',
  'standard_conforming_strings',
  'backslash_quote',
  'escape_string_warning',
  'row_security',
  'default_transaction_read_only',
  'transaction_read_only',
  'session_replication_role',
  'lo_compat_privileges',
  // Pinned off for every session (startup-params.ts): a trace table is read by its key.
  'enable_seqscan',
]);

const IDENT = /^[a-z_][a-z0-9_$]*$/;
const identifier = z.string().regex(IDENT, 'must be a lower-case SQL identifier');
const qualifiedTable = z
  .string()
  .regex(/^([a-z_][a-z0-9_$]*\.)?[a-z_][a-z0-9_$]*$/, 'must be a lower-case table name, optionally schema-qualified (public.traces)');
const qualifiedColumn = z
  .string()
  .regex(/^([a-z_][a-z0-9_$]*\.)?[a-z_][a-z0-9_$]*\.[a-z_][a-z0-9_$]*$/, 'must be table.column or schema.table.column (public.traces.user_email)');
const JSON_PATH = /^\$((\.[A-Za-z_][A-Za-z0-9_-]*)|(\.\*)|(\[(\d+|\*)\]))*$/;

const duration = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const ms = parseDuration(v);
  if (ms === undefined || ms <= 0) {
    ctx.addIssue({ code: 'custom', message: `expected a positive duration such as 30s, 10m or 1h, got ${JSON.stringify(v)}` });
    return z.NEVER;
  }
  return ms;
});

const size = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const bytes = parseSize(v);
  if (bytes === undefined || bytes <= 0) {
    ctx.addIssue({ code: 'custom', message: `expected a positive size such as 8MB or 512KiB, got ${JSON.stringify(v)}` });
    return z.NEVER;
  }
  return bytes;
});

const positiveInt = z.number().int().positive();
const groupList = z.array(z.string().min(1)).min(1);

const traceTable = z
  .object({
    table: qualifiedTable,
    key: identifier,
    owner: identifier.optional(),
    risk: identifier.optional(),
  })
  .strict();

const entitlement = z.union(
  [
    z.literal('any'),
    z.object({ owner: z.object({ claim: z.string().min(1) }).strict() }).strict(),
    z.object({ tokenClaim: z.string().min(1) }).strict(),
  ],
  { error: 'must be any, { owner: { claim: NAME } } or { tokenClaim: NAME }' },
);

const rule = z
  .object({
    name: z.string().min(1),
    groups: groupList,
    entitlement: entitlement.default('any'),
    limits: z
      .object({ maxRows: positiveInt.default(10_000), maxBytes: size.default(16 * 1024 * 1024) })
      .strict()
      .default({ maxRows: 10_000, maxBytes: 16 * 1024 * 1024 }),
    quotas: z
      .object({
        distinctTraces: z.object({ max: positiveInt, window: duration }).strict().optional(),
        grantsPerMinute: positiveInt.optional(),
      })
      .strict()
      .default({}),
    grantTtl: duration.default(30_000),
    approval: z
      .object({
        when: z.object({ risk: z.array(z.string().min(1)).min(1) }).strict(),
        approvers: z.object({ groups: groupList }).strict(),
        quorum: positiveInt.default(1),
        timeout: duration.default(600_000),
      })
      .strict()
      .optional(),
    maskingExempt: z.boolean().default(false),
  })
  .strict();

const maskingColumn = z
  .object({
    column: qualifiedColumn,
    strategy: z.enum(['redact', 'partial', 'hash', 'null']),
    keep: positiveInt.optional(),
    jsonPaths: z.array(z.string().regex(JSON_PATH, 'must be a JSON path such as $.user.email or $.items[*].token')).min(1).optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.keep !== undefined && c.strategy !== 'partial') ctx.addIssue({ code: 'custom', path: ['keep'], message: 'keep applies only to strategy partial' });
  })
  .transform((c) => {
    const parts = c.column.split('.');
    const [schema, table, name] = parts.length === 3 ? parts : ['public', ...parts];
    return {
      ...c,
      column: `${schema}.${table}.${name}`,
      schema: schema as string,
      table: table as string,
      name: name as string,
      keep: c.strategy === 'partial' ? (c.keep ?? 4) : undefined,
    };
  });

export const maskingSchema = z
  .object({
    hashKey: z.string().min(16, 'must be at least 16 characters').optional(),
    detectors: z
      .union([z.literal('all'), z.literal('none'), z.array(z.enum(DETECTORS))], { error: `must be all, none or a list of: ${DETECTORS.join(', ')}` })
      .default('all'),
    columns: z.array(maskingColumn).default([]),
  })
  .strict()
  .superRefine((m, ctx) => {
    if (m.hashKey === undefined && m.columns.some((c) => c.strategy === 'hash')) {
      ctx.addIssue({ code: 'custom', path: ['hashKey'], message: 'is required when a column uses strategy hash' });
    }
  });

export const policySchema = z
  .object({
    version: z.literal(1),
    traceTables: z.array(traceTable).min(1),
    settings: z
      .object({
        allowed: z.array(z.string().min(1)).default([...DEFAULT_ALLOWED_SETTINGS]),
        maxStatementTimeout: duration.default(60_000),
      })
      .strict()
      .default({ allowed: [...DEFAULT_ALLOWED_SETTINGS], maxStatementTimeout: 60_000 }),
    rules: z.array(rule).min(1),
    masking: maskingSchema.default({ detectors: 'all', columns: [] }),
  })
  .strict()
  .superRefine((p, ctx) => crossCheck(p, ctx));

type PolicyInput = z.output<typeof policySchema>;

function tableName(t: string): string {
  return t.includes('.') ? t : `public.${t}`;
}

function crossCheck(p: Omit<PolicyInput, never>, ctx: z.RefinementCtx): void {
  const tables = new Map<string, number>();
  p.traceTables.forEach((t, i) => {
    const name = tableName(t.table);
    const [schema, rel] = name.split('.');
    if (tables.has(name)) ctx.addIssue({ code: 'custom', path: ['traceTables', i, 'table'], message: `${name} is listed twice` });
    tables.set(name, i);
    if (schema === 'pg_catalog' || schema === 'information_schema' || schema?.startsWith('pg_')) {
      ctx.addIssue({ code: 'custom', path: ['traceTables', i, 'table'], message: 'a trace table cannot be in a system schema' });
    }
    if (rel?.startsWith('pg_')) ctx.addIssue({ code: 'custom', path: ['traceTables', i, 'table'], message: 'a trace table name cannot start with pg_ (it would be looked up in pg_catalog first)' });
  });
  const owners = p.traceTables.map((t, i) => [t, i] as const).filter(([t]) => t.owner !== undefined || t.risk !== undefined);
  if (owners.length > 1) {
    ctx.addIssue({ code: 'custom', path: ['traceTables', owners[1]?.[1] ?? 0], message: 'only one trace table may declare owner/risk columns (the one a trace id is looked up in)' });
  }
  const root = owners[0]?.[0];
  const names = new Set<string>();
  p.rules.forEach((r, i) => {
    if (names.has(r.name)) ctx.addIssue({ code: 'custom', path: ['rules', i, 'name'], message: `rule name ${r.name} is used twice` });
    names.add(r.name);
    if (typeof r.entitlement === 'object' && 'owner' in r.entitlement && root?.owner === undefined) {
      ctx.addIssue({ code: 'custom', path: ['rules', i, 'entitlement'], message: 'an owner entitlement needs a trace table with an owner column' });
    }
    if (r.approval && root?.risk === undefined) {
      ctx.addIssue({ code: 'custom', path: ['rules', i, 'approval'], message: 'approval by risk needs a trace table with a risk column' });
    }
  });
  p.settings.allowed.forEach((s, i) => {
    if (NEVER_SETTABLE.has(s.toLowerCase())) ctx.addIssue({ code: 'custom', path: ['settings', 'allowed', i], message: `${s} can never be changed by a client` });
  });
  p.masking.columns.forEach((c, i) => {
    if (!tables.has(`${c.schema}.${c.table}`)) {
      ctx.addIssue({ code: 'custom', path: ['masking', 'columns', i, 'column'], message: `${c.schema}.${c.table} is not a trace table` });
    }
  });
}

export type PolicyDocument = z.output<typeof policySchema>;
