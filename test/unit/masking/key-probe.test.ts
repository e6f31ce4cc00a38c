// The prefilter's KeyProbe tells a json column with jsonPaths rules which rule keys its
// document holds, from the bytes, so a document without them is never decoded. Over
// generated documents (escapes, whitespace around ':', multi-byte UTF-8, keys glued to
// other text, fields cut out of a larger buffer) it must see every key the text holds
// as a member key, found here independently on the decoded string; without any
// backslash in the document it must see exactly those.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KeyProbe, prefilter } from '../../../src/masking/prefilter.js';

const KEYS = ['user', 'email', 'credentials', 'odd/key', 'a"b', '', 'x'];
const SPELLED = KEYS.map((k) => JSON.stringify(k));

/** Bit k: KEYS[k] spelled as JSON.stringify spells it, then optional whitespace and ':'. */
function memberKeys(text: string): number {
  let seen = 0;
  SPELLED.forEach((k, i) => {
    for (let at = text.indexOf(k); at >= 0; at = text.indexOf(k, at + 1)) {
      if (/^[ \t\r\n]*:/.test(text.slice(at + k.length))) seen |= 1 << i;
    }
  });
  return seen;
}

const fragment = fc.oneof(
  fc.constantFrom(...SPELLED),
  fc.constantFrom(':', ' :', ': ', '\n:', '\t', ',', '{', '}', '[', ']', '"', '\\"', '\\n', '\\\\', '\\u0040', '\\/', 'é', '日本', '👋', 'user', 'email"', 'x"'),
  fc.string({ maxLength: 4 }),
  fc.stringMatching(/^[a-z" :]{1,8}$/),
);

describe('KeyProbe', () => {
  it('sees every member key in the bytes, and only those when nothing is escaped', () => {
    const probe = new KeyProbe(SPELLED.map((k) => Buffer.from(k, 'latin1')));
    fc.assert(
      fc.property(fc.array(fragment, { maxLength: 30 }), fc.string({ maxLength: 3 }), fc.string({ maxLength: 3 }), (parts, before, after) => {
        const text = parts.join('');
        const head = Buffer.from(before, 'utf8');
        const buf = Buffer.concat([head, Buffer.from(text, 'utf8'), Buffer.from(after, 'utf8')]);
        prefilter(buf, head.length, head.length + Buffer.byteLength(text, 'utf8'), [], probe);
        const expected = memberKeys(text);
        expect(probe.seen & expected).toBe(expected);
        if (!text.includes('\\')) expect(probe.seen).toBe(expected);
      }),
      { numRuns: 3000 },
    );
  });

  it('counts every key as seen once a \\u or \\/ escape appears', () => {
    const probe = new KeyProbe(SPELLED.map((k) => Buffer.from(k, 'latin1')));
    for (const text of ['{"\\u0075ser": 1}', '{"odd\\/key": 2}', '"\\/"']) {
      prefilter(Buffer.from(text, 'utf8'), 0, Buffer.byteLength(text, 'utf8'), [], probe);
      expect(probe.seen).toBe((1 << KEYS.length) - 1);
    }
  });

  it('forgets the previous document', () => {
    const probe = new KeyProbe(SPELLED.map((k) => Buffer.from(k, 'latin1')));
    const a = Buffer.from('{"user": {"email": 1}}');
    prefilter(a, 0, a.length, [], probe);
    expect(probe.seen).toBe(0b11);
    const b = Buffer.from('{"role": "user", "email" : 2}');
    prefilter(b, 0, b.length, [], probe);
    expect(probe.seen).toBe(0b10);
  });
});
