// Reads and validates a policy file (YAML, `${ENV}` interpolated like the main config)
// into the indexed Policy the decision code uses. Every error names the file, the line
// and the key. Reading the file is the only I/O here; parsePolicy itself is pure.
import { readFileSync } from 'node:fs';
import { isMap, isScalar, LineCounter, parseDocument } from 'yaml';
import { ConfigFileError, loadYaml } from '../yaml-file.js';
import { policySchema, type PolicyDocument } from './schema.js';
import type { Entitlement, Policy, Rule, TraceTable } from './types.js';

export class PolicyError extends Error {
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    readonly key: string,
    readonly problem: string,
  ) {
    super(`${file}${line === undefined ? '' : `:${line}`}: ${key === '' ? '' : `${key}: `}${problem}`);
    this.name = 'PolicyError';
  }
}

export interface PolicyLoadOptions {
  /** Defaults to process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** The upstream session's search_path (config upstream.searchPath); default public. */
  readonly searchPath?: string;
}

export function loadPolicyFile(path: string, options: PolicyLoadOptions = {}): Policy {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new PolicyError(path, undefined, '', `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  return parsePolicy(text, path, options);
}

export function parsePolicy(text: string, fileName: string, options: PolicyLoadOptions = {}): Policy {
  let doc: PolicyDocument;
  try {
    doc = loadYaml(text, fileName, policySchema, options.env ?? process.env);
  } catch (err) {
    if (err instanceof ConfigFileError) throw unknownKeyError(text, err) ?? new PolicyError(err.file, err.line, err.key, err.problem);
    throw err;
  }
  return buildPolicy(doc, fileName, options.searchPath ?? 'public');
}

// A misspelt key is the likeliest mistake in a policy file: point at the key itself
// rather than at the start of the object that holds it.
function unknownKeyError(text: string, err: ConfigFileError): PolicyError | null {
  const m = /^Unrecognized keys?: "([^"]+)"/.exec(err.problem);
  if (!m?.[1]) return null;
  const name = m[1];
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  const path = err.key === '' ? [] : err.key.split('.').map((p) => (/^\d+$/.test(p) ? Number(p) : p));
  const holder = path.length ? doc.getIn(path, true) : doc.contents;
  if (!isMap(holder)) return null;
  const pair = holder.items.find((item) => isScalar(item.key) && item.key.value === name);
  const offset = pair && isScalar(pair.key) ? pair.key.range?.[0] : undefined;
  if (offset === undefined) return null;
  const key = err.key === '' ? name : `${err.key}.${name}`;
  return new PolicyError(err.file, lines.linePos(offset).line, key, 'unknown key (check its spelling and nesting)');
}

function buildPolicy(doc: PolicyDocument, file: string, searchPath: string): Policy {
  const traceTables: TraceTable[] = doc.traceTables.map((t) => {
    // An unqualified name in the policy file means public (as in masking rules); SQL
    // names are resolved against the search path separately.
    const [schema, name] = t.table.includes('.') ? (t.table.split('.') as [string, string]) : ['public', t.table];
    return { schema, name, qualified: `${schema}.${name}`, key: t.key, owner: t.owner ?? null, risk: t.risk ?? null };
  });
  const maskedColumns = new Map<string, Set<string>>();
  for (const c of doc.masking.columns) {
    const table = `${c.schema}.${c.table}`;
    const set = maskedColumns.get(table) ?? new Set<string>();
    set.add(c.name);
    maskedColumns.set(table, set);
  }
  return {
    file,
    searchPath,
    traceTables,
    traceTableByName: new Map(traceTables.map((t) => [t.qualified, t])),
    lookupTable: traceTables.find((t) => t.owner !== null || t.risk !== null) ?? null,
    rules: doc.rules.map(buildRule),
    settings: { allowed: new Set(doc.settings.allowed.map((s) => s.toLowerCase())), maxStatementTimeoutMs: doc.settings.maxStatementTimeout },
    masking: doc.masking,
    maskedColumns,
  };
}

function buildRule(r: PolicyDocument['rules'][number]): Rule {
  const entitlement: Entitlement =
    r.entitlement === 'any' ? { type: 'any' } : 'owner' in r.entitlement ? { type: 'owner', claim: r.entitlement.owner.claim } : { type: 'token-claim', claim: r.entitlement.tokenClaim };
  return {
    name: r.name,
    groups: r.groups,
    entitlement,
    limits: { maxRows: r.limits.maxRows, maxBytes: r.limits.maxBytes },
    quotas: {
      distinctTraces: r.quotas.distinctTraces ? { max: r.quotas.distinctTraces.max, windowMs: r.quotas.distinctTraces.window } : null,
      grantsPerMinute: r.quotas.grantsPerMinute ?? null,
    },
    grantTtlMs: r.grantTtl,
    approval: r.approval
      ? { risks: new Set(r.approval.when.risk), approverGroups: r.approval.approvers.groups, quorum: r.approval.quorum, timeoutMs: r.approval.timeout }
      : null,
    maskingExempt: r.maskingExempt,
  };
}
