// The loaded policy as the decision code uses it: validated, defaults applied, names
// normalised and indexed so that a decision is a few map lookups. Built once per policy
// load by load.ts; immutable afterwards.
import type { z } from 'zod';
import type { maskingSchema } from './schema.js';

/** The policy file's masking section, validated (what src/masking implements). */
export type MaskingPolicy = z.output<typeof maskingSchema>;
export type MaskingColumnRule = MaskingPolicy['columns'][number];

export interface TraceTable {
  readonly schema: string;
  readonly name: string;
  /** schema.name */
  readonly qualified: string;
  readonly key: string;
  readonly owner: string | null;
  readonly risk: string | null;
}

export type Entitlement =
  | { readonly type: 'any' }
  /** The trace's owner column must equal this claim of the caller's token. */
  | { readonly type: 'owner'; readonly claim: string }
  /** The token names the trace ids it was minted for in this claim. */
  | { readonly type: 'token-claim'; readonly claim: string };

export interface ApprovalRule {
  readonly risks: ReadonlySet<string>;
  readonly approverGroups: readonly string[];
  readonly quorum: number;
  readonly timeoutMs: number;
}

export interface Limits {
  readonly maxRows: number;
  readonly maxBytes: number;
}

export interface Quotas {
  readonly distinctTraces: { readonly max: number; readonly windowMs: number } | null;
  readonly grantsPerMinute: number | null;
}

export interface Rule {
  readonly name: string;
  readonly groups: readonly string[];
  readonly entitlement: Entitlement;
  readonly limits: Limits;
  readonly quotas: Quotas;
  readonly grantTtlMs: number;
  readonly approval: ApprovalRule | null;
  readonly maskingExempt: boolean;
}

export interface Policy {
  readonly file: string;
  /** The upstream session's fixed search_path schema: where unqualified names resolve. */
  readonly searchPath: string;
  readonly traceTables: readonly TraceTable[];
  /** By `schema.name`. */
  readonly traceTableByName: ReadonlyMap<string, TraceTable>;
  /** The table whose owner / risk columns entitlement and approval look up, if any. */
  readonly lookupTable: TraceTable | null;
  readonly rules: readonly Rule[];
  readonly settings: { readonly allowed: ReadonlySet<string>; readonly maxStatementTimeoutMs: number };
  readonly masking: MaskingPolicy;
  /** Masked column names by `schema.table`. */
  readonly maskedColumns: ReadonlyMap<string, ReadonlySet<string>>;
}

/** The facts about a trace that only the upstream knows (SPEC section 3). */
export interface TraceInfo {
  readonly exists: boolean;
  readonly owner?: string | null;
  readonly risk?: string | null;
}
