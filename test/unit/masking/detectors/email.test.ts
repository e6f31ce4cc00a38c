import { describe, expect, it } from 'vitest';
import { found } from '../helpers.js';

describe('email detector', () => {
  it.each([
    ['contact alice@example.com today', 'alice@example.com'],
    ['<bob.smith+tag@mail.example.co.uk>', 'bob.smith+tag@mail.example.co.uk'],
    ["o'brien@example.ie", "o'brien@example.ie"],
    ['mailto:carol@example.org', 'carol@example.org'],
    ['end of sentence dave@example.com.', 'dave@example.com'],
    ['jörg@bücher.de wrote', 'jörg@bücher.de'],
    ['user@[192.0.2.1] literal', 'user@[192.0.2.1]'],
    ['"to":"eve@example.com"', 'eve@example.com'],
    ['punycode x@xn--bcher-kva.xn--p1ai', 'x@xn--bcher-kva.xn--p1ai'],
    ["SQL quotes 'carol@example.org'", 'carol@example.org'],
  ])('finds the whole address in %j', (text, addr) => {
    expect(found('email', text)).toEqual([addr]);
  });

  it('finds several addresses', () => {
    expect(found('email', 'a@x.io, b@y.io; c@z.io')).toEqual(['a@x.io', 'b@y.io', 'c@z.io']);
  });

  it.each([
    'ping @alice in the channel',
    'import from @scope/package',
    'ssh git@localhost',
    'an @ sign alone',
    'weird a@b.c single-letter tld',
    'numbers a@b.123',
    'user@ nothing after',
    'decorator @Component({})',
  ])('leaves %j alone', (text) => {
    expect(found('email', text)).toEqual([]);
  });

  it('stays linear on many @ without a domain', () => {
    const text = 'a@'.repeat(50_000);
    const t0 = performance.now();
    expect(found('email', text)).toEqual([]);
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});
