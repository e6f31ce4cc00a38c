// Column-rule strategies applied to one value's text:
//   redact   "[redacted]"
//   partial  "****" followed by the last `keep` characters (code points, so a multi-byte
//            character is never split); a value no longer than `keep` is fully hidden,
//            and the fixed "****" does not reveal the hidden length
//   hash     lowercase hex HMAC-SHA256 under the policy's hashKey: stable across rows,
//            sessions and text/binary format, so equal values stay joinable; keyed, so
//            a dictionary of likely emails cannot be hashed to reverse it
//   null     SQL NULL for a column, JSON null inside a document
// Pure: the key comes from the config, nothing is cached between values.
import { createHmac } from 'node:crypto';
import type { ColumnRule } from './types.js';

export const REDACTED = '[redacted]';
export const PARTIAL_MASK = '****';
export const MIN_HASH_KEY_LENGTH = 16;

/** The masked text, or null for SQL/JSON null. */
export type StrategyFn = (value: string) => string | null;

/** The last `n` code points of `s`. */
export function lastCodePoints(s: string, n: number): string {
  let i = s.length;
  for (let k = 0; k < n && i > 0; k++) {
    const c = s.charCodeAt(i - 1);
    // Step over a whole surrogate pair, never half of one.
    i -= c >= 0xdc00 && c <= 0xdfff && i >= 2 && s.charCodeAt(i - 2) >= 0xd800 && s.charCodeAt(i - 2) <= 0xdbff ? 2 : 1;
  }
  return s.slice(i);
}

export function hmacHex(key: string, value: string): string {
  return createHmac('sha256', key).update(value, 'utf8').digest('hex');
}

/** A partial rule's `keep`, checked. */
export function partialKeep(rule: Pick<ColumnRule, 'keep'>): number {
  const keep = rule.keep ?? 0;
  if (!Number.isSafeInteger(keep) || keep < 0) throw new RangeError(`partial keep must be a non-negative integer, got ${keep}`);
  return keep;
}

/** The partial strategy's result for a value longer than `keep`, given its last `keep` code points. */
export function partialOfTail(tail: string, scrub: (s: string) => string): string {
  return PARTIAL_MASK + scrub(tail);
}

/**
 * The function for one rule. `scrub` runs the detectors over the part `partial` keeps,
 * so a generous `keep` cannot carry a whole secret out.
 */
export function strategyFor(rule: Pick<ColumnRule, 'strategy' | 'keep'>, hashKey: string | undefined, scrub: (s: string) => string): StrategyFn {
  switch (rule.strategy) {
    case 'redact':
      return () => REDACTED;
    case 'null':
      return () => null;
    case 'partial': {
      const keep = partialKeep(rule);
      return (value) => {
        const tail = lastCodePoints(value, keep);
        return tail.length === value.length ? PARTIAL_MASK : partialOfTail(tail, scrub);
      };
    }
    case 'hash': {
      if (hashKey === undefined || hashKey.length < MIN_HASH_KEY_LENGTH) {
        throw new RangeError(`the hash strategy needs masking.hashKey of at least ${MIN_HASH_KEY_LENGTH} characters`);
      }
      return (value) => hmacHex(hashKey, value);
    }
  }
}
