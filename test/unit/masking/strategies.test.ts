import { describe, expect, it } from 'vitest';
import { hmacHex, lastCodePoints, PARTIAL_MASK, REDACTED, strategyFor } from '../../../src/masking/strategies.js';

const KEY = 'a-test-hash-key-of-32-characters';
const noScrub = (s: string): string => s;

describe('strategies', () => {
  it('redacts', () => {
    expect(strategyFor({ strategy: 'redact' }, undefined, noScrub)('alice@example.com')).toBe(REDACTED);
  });

  it('nulls', () => {
    expect(strategyFor({ strategy: 'null' }, undefined, noScrub)('x')).toBeNull();
  });

  it('keeps the last N characters behind a fixed mask', () => {
    const p = strategyFor({ strategy: 'partial', keep: 4 }, undefined, noScrub);
    expect(p('alice@example.com')).toBe(`${PARTIAL_MASK}.com`);
    expect(p('a much longer value that ends in 1234')).toBe(`${PARTIAL_MASK}1234`);
  });

  it('counts code points, never splitting a character', () => {
    const p = strategyFor({ strategy: 'partial', keep: 3 }, undefined, noScrub);
    expect(p('naïve Grüße 👋🏽x')).toBe(`${PARTIAL_MASK}👋🏽x`);
    expect(lastCodePoints('ab👋', 1)).toBe('👋');
    expect(lastCodePoints('ab👋', 2)).toBe('b👋');
    expect(Buffer.from(p('日本語テキスト') ?? '', 'utf8').toString('utf8')).toBe(`${PARTIAL_MASK}キスト`);
  });

  it('hides a value no longer than keep entirely', () => {
    const p = strategyFor({ strategy: 'partial', keep: 4 }, undefined, noScrub);
    expect(p('abcd')).toBe(PARTIAL_MASK);
    expect(p('')).toBe(PARTIAL_MASK);
    expect(strategyFor({ strategy: 'partial' }, undefined, noScrub)('abc')).toBe(PARTIAL_MASK);
  });

  it('runs the detectors over the kept part', () => {
    const p = strategyFor({ strategy: 'partial', keep: 13 }, undefined, (s) => s.replace('bob@x.io', '[redacted:email]'));
    expect(p('a long prefix, mail bob@x.io')).toBe(`${PARTIAL_MASK}mail [redacted:email]`);
  });

  it('hashes with a keyed, stable HMAC-SHA256', () => {
    const h = strategyFor({ strategy: 'hash' }, KEY, noScrub);
    const a = h('alice@example.com');
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(h('alice@example.com')).toBe(a);
    expect(h('bob@example.com')).not.toBe(a);
    expect(strategyFor({ strategy: 'hash' }, `${KEY}-other`, noScrub)('alice@example.com')).not.toBe(a);
    expect(a).toBe(hmacHex(KEY, 'alice@example.com'));
  });

  it('refuses a hash rule without a usable key and a bad keep', () => {
    expect(() => strategyFor({ strategy: 'hash' }, undefined, noScrub)).toThrow(/hashKey/);
    expect(() => strategyFor({ strategy: 'hash' }, 'short', noScrub)).toThrow(/hashKey/);
    expect(() => strategyFor({ strategy: 'partial', keep: -1 }, undefined, noScrub)).toThrow(RangeError);
    expect(() => strategyFor({ strategy: 'partial', keep: 1.5 }, undefined, noScrub)).toThrow(RangeError);
  });
});
