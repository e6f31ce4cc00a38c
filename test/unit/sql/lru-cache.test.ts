import { describe, expect, it } from 'vitest';
import { LruCache } from '../../../src/sql/lru-cache.js';

describe('LruCache', () => {
  it('evicts the least recently used entry beyond its count', () => {
    const c = new LruCache<string, number>(2);
    c.set('a', 1);
    c.set('b', 2);
    expect(c.get('a')).toBe(1);
    c.set('c', 3);
    expect([c.get('a'), c.get('b'), c.get('c')]).toEqual([1, undefined, 3]);
  });

  it('evicts by total weight and never keeps an entry heavier than the budget', () => {
    const c = new LruCache<string, number>(100, 10);
    c.set('a', 1, 4);
    c.set('b', 2, 4);
    c.set('c', 3, 4);
    expect([c.get('a'), c.get('b'), c.get('c')]).toEqual([undefined, 2, 3]);
    c.set('huge', 4, 11);
    expect(c.get('huge')).toBeUndefined();
    c.set('b', 5, 1);
    c.set('d', 6, 5);
    expect([c.get('b'), c.get('c'), c.get('d')]).toEqual([5, 3, 6]);
    c.clear();
    expect(c.size).toBe(0);
  });

  it('refuses a nonsensical capacity', () => {
    expect(() => new LruCache(0)).toThrow();
  });
});
