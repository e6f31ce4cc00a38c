import { describe, expect, it } from 'vitest';
import { found } from '../helpers.js';

const JWT = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';

describe('JWT detector', () => {
  it.each([
    ['bare', JWT, JWT],
    ['in a sentence', `token=${JWT}; path=/`, JWT],
    ['alg none, empty signature', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.'],
    ['JWE, five parts', 'eyJhbGciOiJSU0EifQ.abcdef.ghijkl.mnopqr.stuvwx', 'eyJhbGciOiJSU0EifQ.abcdef.ghijkl.mnopqr.stuvwx'],
  ])('finds a %s token', (_what, text, token) => {
    expect(found('jwt', text)).toEqual([token]);
  });

  it.each([
    ['a base64 JSON blob without dots', 'eyJhbGciOiJIUzI1NiJ9'],
    ['eyJ inside a word', `x${JWT}`],
    ['a version string', 'eyJ.1.2'],
  ])('leaves %s alone', (_what, text) => {
    expect(found('jwt', text)).toEqual([]);
  });
});

describe('bearer token detector', () => {
  it.each([
    ['a Bearer header', 'Authorization: Bearer abc123def456ghi', 'abc123def456ghi'],
    ['lower case', 'authorization: bearer s3cr3tT0ken', 's3cr3tT0ken'],
    ['Bearer in prose with a random token', 'use Bearer AbCdEfGhIjKl', 'AbCdEfGhIjKl'],
    ['a Basic credential', 'Authorization: Basic dXNlcjpwYXNz', 'dXNlcjpwYXNz'],
    ['a header without scheme', 'Authorization: 9f8e7d6c5b4a3210', '9f8e7d6c5b4a3210'],
    ['a JSON header', '{"Authorization": "Token abcd1234"}', 'abcd1234'],
    ['a trailing period', 'send Bearer abc123def456. Then', 'abc123def456'],
    ['a base64 token with padding', 'Bearer QWxhZGRpbjpvcGVuIHNlc2FtZQ==', 'QWxhZGRpbjpvcGVuIHNlc2FtZQ=='],
  ])('masks the credential of %s', (_what, text, token) => {
    expect(found('bearer-token', text)).toEqual([token]);
  });

  it('masks a value whose JSON key says it is an authorization header', () => {
    expect(found('bearer-token', 'opaque-credential', 'Authorization')).toEqual(['opaque-credential']);
    expect(found('bearer-token', 'Bearer xyz9', 'proxy-authorization')).toEqual(['xyz9']);
  });

  it.each([
    ['prose about bearer tokens', 'send a bearer token in the header'],
    ['Bearer authentication', 'Bearer authentication is configured'],
    ['an authorization policy', 'the authorization policy denies it'],
    ['a short word after Bearer', 'Bearer token'],
  ])('leaves %s alone', (_what, text) => {
    expect(found('bearer-token', text)).toEqual([]);
  });
});
