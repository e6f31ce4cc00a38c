// Which rule applies to a caller: the first rule, in file order, whose groups intersect
// the caller's groups. No rule means the caller may not use the proxy at all (the
// session refuses the login with 28000).
import type { Identity } from '../identity.js';
import type { Policy, Rule } from './types.js';

export function ruleForIdentity(policy: Policy, identity: Identity): Rule | null {
  for (const rule of policy.rules) {
    if (rule.groups.some((g) => identity.groups.includes(g))) return rule;
  }
  return null;
}
