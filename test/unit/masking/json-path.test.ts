import { describe, expect, it } from 'vitest';
import { JsonPathError, parseJsonPath, pathMatches } from '../../../src/masking/json-path.js';

const m = (path: string, steps: Array<string | number>): boolean => pathMatches(parseJsonPath(path), steps);

describe('JSON paths', () => {
  it('parses the supported forms', () => {
    expect(parseJsonPath('$').segments).toEqual([]);
    expect(parseJsonPath('$.user.email').segments).toEqual([
      { type: 'key', key: 'user', deep: false },
      { type: 'key', key: 'email', deep: false },
    ]);
    expect(parseJsonPath("$['odd.key'][2][*].*..x").segments).toEqual([
      { type: 'key', key: 'odd.key', deep: false },
      { type: 'index', index: 2, deep: false },
      { type: 'any', deep: false },
      { type: 'any', deep: false },
      { type: 'key', key: 'x', deep: true },
    ]);
    expect(parseJsonPath('$["a\\"b"]').segments).toEqual([{ type: 'key', key: 'a"b', deep: false }]);
  });

  it.each(['user.email', '$.', '$[', '$[x]', '$..', '$.a[1', "$['a]"])('rejects %j', (p) => {
    expect(() => parseJsonPath(p)).toThrow(JsonPathError);
  });

  it('matches exact paths only', () => {
    expect(m('$.user.email', ['user', 'email'])).toBe(true);
    expect(m('$.user.email', ['user'])).toBe(false);
    expect(m('$.user.email', ['user', 'email', 'x'])).toBe(false);
    expect(m('$', [])).toBe(true);
  });

  it('matches wildcards and indices', () => {
    expect(m('$.messages[*].content', ['messages', 3, 'content'])).toBe(true);
    expect(m('$.messages[*].content', ['messages', 'x', 'content'])).toBe(true);
    expect(m('$.messages[0].content', ['messages', 1, 'content'])).toBe(false);
    expect(m('$.a.*', ['a', 'b'])).toBe(true);
  });

  it('matches recursive descent at any depth', () => {
    expect(m('$..password', ['password'])).toBe(true);
    expect(m('$..password', ['a', 0, 'b', 'password'])).toBe(true);
    expect(m('$..password', ['a', 'password', 'x'])).toBe(false);
    expect(m('$.a..c', ['a', 'b', 'c'])).toBe(true);
    expect(m('$.a..c', ['x', 'b', 'c'])).toBe(false);
  });
});
