// What decide() answers. A discriminated union on `outcome`; every variant carries the
// rule that applied and a reason a developer can act on. Reasons never contain row
// data: they name tables, columns, functions and the statement's own constants only.
import type { Limits } from './types.js';

export type DecisionCategory =
  /** Transaction control, allowed SET/SHOW, constant SELECTs, driver type introspection. */
  | 'housekeeping'
  /** A pinned read of one trace. */
  | 'trace-read'
  /** A command that is always blocked (writes, DDL, COPY ...). */
  | 'blocked'
  /** A read the policy refuses (scope, tables, functions, masking, entitlement). */
  | 'denied'
  /** Text the parser rejects. */
  | 'invalid'
  /** The caller's token or rule does not allow statements at all. */
  | 'identity';

export type DenySqlstate = '42501' | '42601' | '54000' | '28000';

interface DecisionBase {
  readonly category: DecisionCategory;
  /** The rule that applied (null when no rule matches the caller). */
  readonly rule: string | null;
  readonly reason: string;
}

export interface GrantTerms {
  readonly traceId: string;
  readonly limits: Limits;
  readonly grantTtlMs: number;
  readonly maskingExempt: boolean;
  /**
   * Parameters ($n) used as pins. The session must check their declared types in Parse
   * are unspecified (0), text (25) or varchar (1043): a parameter declared as another
   * type (bytea, name, bpchar) is converted by the server, and the compared value would
   * no longer be the text this decision saw.
   */
  readonly pinnedParams: readonly number[];
  /**
   * Those of pinnedParams the statement also uses elsewhere than `key = $n`, where an
   * unspecified type (0) would be inferred from that use (select-check.ts): the
   * session must find them declared as text or varchar.
   */
  readonly pinnedParamsUsedElsewhere: readonly number[];
}

export type Decision =
  | (DecisionBase & { readonly outcome: 'allow'; readonly category: 'housekeeping'; readonly limits: Limits | null })
  | (DecisionBase & { readonly outcome: 'allow'; readonly category: 'trace-read' } & GrantTerms)
  | (DecisionBase & { readonly outcome: 'deny'; readonly sqlstate: DenySqlstate })
  | (DecisionBase & {
      readonly outcome: 'needs-approval';
      readonly category: 'trace-read';
      readonly approval: { readonly approverGroups: readonly string[]; readonly quorum: number; readonly timeoutMs: number };
    } & GrantTerms)
  | (DecisionBase & {
      readonly outcome: 'lookup';
      readonly category: 'trace-read';
      readonly traceId: string;
      /** What decide needs to know about the trace; call again with TraceInfo. */
      readonly columns: readonly ('owner' | 'risk')[];
      /** Where to look it up (shape of upstream/lookups.ts TraceTableColumns). */
      readonly table: { readonly table: string; readonly key: string; readonly owner?: string; readonly risk?: string };
    });

/** Parameter type OIDs under which a pinned parameter keeps its text value. */
export const PIN_PARAM_TYPE_OIDS: ReadonlySet<number> = new Set([0, 25, 1043]);

export function deny(category: DecisionCategory, rule: string | null, reason: string, sqlstate: DenySqlstate = '42501'): Decision {
  return { outcome: 'deny', category, rule, reason, sqlstate };
}

/** How the reason for a statement the parser rejects begins; the parser's message follows. */
export const DOES_NOT_PARSE = 'the statement does not parse';

/** The one text for "not entitled" and "no such trace": the two must be indistinguishable. */
export const NOT_ENTITLED = 'the trace does not exist or you are not entitled to read it';
