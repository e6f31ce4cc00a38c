// Statement and portal names as Postgres tells them apart: by their first 63 bytes.
import { describe, expect, test } from 'vitest';
import { ObjectNameMap, objectNameKey } from '../../../src/session/object-name.js';

describe('objectNameKey', () => {
  test('names that share their first 63 bytes are one name', () => {
    const prefix = 's'.repeat(63);
    expect(objectNameKey(`${prefix}_harmless`)).toBe(objectNameKey(`${prefix}_reader`));
    expect(objectNameKey(`${prefix}_reader`)).toBe(objectNameKey(prefix));
  });

  test('names that differ within 63 bytes stay apart', () => {
    expect(objectNameKey('s1')).not.toBe(objectNameKey('s2'));
    expect(objectNameKey('')).toBe('');
    expect(objectNameKey(`${'a'.repeat(62)}b`)).not.toBe(objectNameKey(`${'a'.repeat(62)}c`));
    expect(objectNameKey('a'.repeat(62))).not.toBe(objectNameKey('a'.repeat(63)));
  });

  test('the limit is in bytes: 21 three-byte characters fill it, and a 22nd is cut off', () => {
    const full = '€'.repeat(21); // 63 bytes of UTF-8
    expect(objectNameKey(`${full}x`)).toBe(objectNameKey(full));
    expect(objectNameKey(`${full}€`)).toBe(objectNameKey(`${full}y`));
    expect(objectNameKey('€'.repeat(20))).not.toBe(objectNameKey(full));
  });

  test('a cut inside a multi-byte character compares the bytes, as Postgres does', () => {
    // 62 ASCII bytes, then a two-byte character: byte 63 is its first byte only.
    const base = 'a'.repeat(62);
    expect(objectNameKey(`${base}é`)).toBe(objectNameKey(`${base}è`)); // both start 0xC3
    expect(objectNameKey(`${base}é`)).not.toBe(objectNameKey(`${base}a`));
  });

  test('a short non-ASCII name never equals a different name by its characters', () => {
    // 'é' is U+00E9; latin1 of a byte 0xE9 is the same character, but the bytes differ.
    expect(objectNameKey('é')).not.toBe(objectNameKey('\u00c3\u00a9'));
  });
});

describe('ObjectNameMap', () => {
  test('set, get, has and delete go by the key', () => {
    const prefix = 'p'.repeat(63);
    const map = new ObjectNameMap<number>();
    map.set(`${prefix}_low`, 1);
    expect(map.has(`${prefix}_high`)).toBe(true);
    expect(map.get(prefix)).toBe(1);
    map.delete(`${prefix}_high`);
    expect(map.has(`${prefix}_low`)).toBe(false);
  });

  test('forget removes an entry only while it is the one given; deleteWhere filters', () => {
    const map = new ObjectNameMap<{ n: number }>();
    const first = { n: 1 };
    const second = { n: 2 };
    map.set('€'.repeat(30), first);
    map.set('€'.repeat(21), second);
    map.forget('€'.repeat(25), first);
    expect(map.get('€'.repeat(22))).toBe(second);
    map.forget('€'.repeat(25), second);
    expect(map.has('€'.repeat(21))).toBe(false);
    map.set('é'.repeat(40), { n: 3 });
    map.set('x', { n: 4 });
    map.deleteWhere((v) => v.n === 3);
    expect(map.has('é'.repeat(40))).toBe(false);
    expect(map.get('x')).toEqual({ n: 4 });
  });
});
