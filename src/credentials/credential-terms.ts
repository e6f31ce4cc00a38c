// What the policy says about a credential request, decided exactly as for a statement
// that reads the trace (SPEC section 3): the caller's rule, then entitlement (owner
// column or token claim, looked up with tracegate's own credential) and approval, by the
// same entitlementDecision the statement path uses. So a trace the caller may not read
// gets no credential, a trace that needs approval gets a pending request, and an unknown
// trace and a trace of someone else get the same answer. Pure: `now` is passed in.
import type { Identity } from '../identity.js';
import { deny, type Decision } from '../policy/decision.js';
import { entitlementDecision } from '../policy/entitlement.js';
import { ruleForIdentity } from '../policy/rules.js';
import type { Policy, Rule, TraceInfo } from '../policy/types.js';

/** The credential lifetime when the caller names none. */
export const DEFAULT_CREDENTIAL_TTL_MS = 60_000;

/**
 * The decision for a credential to read `traceId`. `trace` is what a lookup found (null:
 * no such trace); undefined until looked up, when the answer may be `lookup`.
 */
export function decideCredential(policy: Policy, identity: Identity, traceId: string, trace?: TraceInfo | null): Decision {
  const rule = ruleForIdentity(policy, identity);
  if (!rule) return deny('identity', null, `no tracegate rule matches the groups of ${identity.subject}`, '28000');
  const terms = { traceId, limits: rule.limits, grantTtlMs: rule.grantTtlMs, maskingExempt: rule.maskingExempt, pinnedParams: [], pinnedParamsUsedElsewhere: [] };
  return entitlementDecision(policy, rule, identity, terms, trace);
}

/**
 * How long a credential lives: what the caller asked for (default 60 s), at most the
 * rule's grantTtl. A credential stands for one read, and the rule already says how long
 * one read's grant may last; a separate limit would be a second knob for the same risk.
 */
export function credentialTtlMs(rule: Rule, requestedMs: number | undefined): number {
  return Math.min(requestedMs ?? DEFAULT_CREDENTIAL_TTL_MS, rule.grantTtlMs);
}

/**
 * When a credential granted at `grantedAt` expires: after its TTL, and never after the
 * access token it is handed to, so a credential cannot outlive the caller's own access.
 */
export function credentialExpiry(grantedAt: number, ttlMs: number, receiver: Identity): number {
  return Math.min(grantedAt + ttlMs, receiver.expiresAt);
}
