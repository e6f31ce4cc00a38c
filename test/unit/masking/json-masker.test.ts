import { describe, expect, it } from 'vitest';
import { ALL_DETECTORS } from '../../../src/masking/detectors/registry.js';
import { maskJsonDocument, type PathRule } from '../../../src/masking/json-masker.js';
import { parseJsonPath } from '../../../src/masking/json-path.js';
import { Scanner } from '../../../src/masking/scanner.js';
import { strategyFor } from '../../../src/masking/strategies.js';
import { markerFor, type ColumnRule } from '../../../src/masking/types.js';

const scanner = new Scanner(ALL_DETECTORS);
const none = new Scanner([]);
const EMAIL = markerFor('email');
const CARD = markerFor('credit-card');

function mask(json: string, rules: PathRule[] = [], s: Scanner = scanner): unknown {
  const out = maskJsonDocument(json, s, rules);
  if (out === null) throw new Error('not JSON');
  return JSON.parse(out);
}

function rule(path: string, r: Pick<ColumnRule, 'strategy' | 'keep'>): PathRule {
  return { path: parseJsonPath(path), strategy: r.strategy, apply: strategyFor(r, 'json-masker-test-hash-key', (x) => x) };
}

describe('JSON masking by detectors', () => {
  it('returns the very same string when nothing matched', () => {
    const s = '{"a": [1, 2.5e3, true, null, "text"], "b": {"c": "d"}}';
    expect(maskJsonDocument(s, scanner, [])).toBe(s);
  });

  it('masks values deep inside nested objects and arrays, keeping the rest byte for byte', () => {
    const s = '{"a":{"b":[{"c":["x","mail bob@example.com please"]}]},"keep":"as is"}';
    const out = maskJsonDocument(s, scanner, []);
    expect(out).toBe(`{"a":{"b":[{"c":["x","mail ${EMAIL} please"]}]},"keep":"as is"}`);
  });

  it('masks object keys too', () => {
    expect(mask('{"alice@example.com": {"role": "admin"}}')).toEqual({ [EMAIL]: { role: 'admin' } });
  });

  it('turns a card number stored as a JSON number into the marker string', () => {
    expect(mask('{"card": 4111111111111111, "n": 42}')).toEqual({ card: CARD, n: 42 });
    expect(mask('[-4111111111111111]')).toEqual([CARD]);
  });

  it('masks a secret spelled with escapes', () => {
    expect(mask('{"e": "alice\\u0040example.com"}')).toEqual({ e: EMAIL });
    expect(mask('{"e": "al\\u0069ce\\u0040exampl\\u0065.com!"}')).toEqual({ e: `${EMAIL}!` });
    expect(mask('{"e": "say \\"bob@example.com\\" \\\\ ok"}')).toEqual({ e: `say "${EMAIL}" \\ ok` });
  });

  it('masks a key after an escaped line break without breaking the escape', () => {
    const key = 'sk-ant-api03-' + 'Xk9vQ2mN8pL4rT6wY1zB3cD5eF7gH9jK0lM2nP4qR6sT8uV0wX';
    expect(mask(JSON.stringify({ content: `line\n${key}\nnext` }))).toEqual({ content: `line\n${markerFor('anthropic-key')}\nnext` });
  });

  it('masks a service-account key file stored as JSON', () => {
    const pem = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n';
    const doc = { type: 'service_account', private_key_id: 'a1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6a7b8c9d0', private_key: pem, client_email: 'svc@demo.iam.gserviceaccount.com' };
    expect(mask(JSON.stringify(doc))).toEqual({
      type: 'service_account',
      private_key_id: markerFor('gcp-private-key'),
      private_key: `${markerFor('gcp-private-key')}\n`,
      client_email: EMAIL,
    });
  });

  it('uses keys as hints', () => {
    const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
    expect(mask(JSON.stringify({ aws_secret_access_key: secret }))).toEqual({ aws_secret_access_key: markerFor('aws-secret-key') });
    expect(mask(JSON.stringify({ headers: { Authorization: 'opaquetokenvalue' } }))).toEqual({ headers: { Authorization: markerFor('bearer-token') } });
  });

  it('handles a hit that crosses a string boundary by rescanning each string alone', () => {
    // "+44 20" ends one string and "7946 0958" starts the next: no phone in either alone.
    const s = '["call +44 20", "7946 0958 x", "bob@example.com"]';
    expect(mask(s)).toEqual(['call +44 20', '7946 0958 x', EMAIL]);
  });

  it('survives deep nesting without recursion', () => {
    const depth = 20_000;
    const s = '['.repeat(depth) + '"bob@example.com"' + ']'.repeat(depth);
    const out = maskJsonDocument(s, scanner, []);
    expect(out).toBe('['.repeat(depth) + `"${EMAIL}"` + ']'.repeat(depth));
  });

  it('reports text that is not JSON (when it has something to mask)', () => {
    expect(maskJsonDocument('{"a": "bob@example.com"', scanner, [])).toBeNull();
    expect(maskJsonDocument('{"a" "bob@example.com"}', scanner, [])).toBeNull();
    expect(maskJsonDocument('{"a": "bob@example.com"} trailing', scanner, [])).toBeNull();
  });

  it('takes the fast path for server JSON and agrees with the walk', () => {
    const docs = [
      '{"a": "bob@example.com", "n": 4111111111111111, "k": {"x@y.io": [1, -4111111111111111, "ok"]}}',
      '["a\\u0040b.io", "say \\"c@d.io\\"", 5500000000000004]',
      '["call +44 20", "7946 0958 x"]',
    ];
    for (const d of docs) expect(maskJsonDocument(d, scanner, [], undefined, true)).toBe(maskJsonDocument(d, scanner, []));
  });

  it('masks a top-level string document', () => {
    expect(mask('"bob@example.com"')).toBe(EMAIL);
  });

  it('keeps non-ASCII around secrets', () => {
    expect(mask('{"t": "Grüße 👋 bob@example.com 日本"}')).toEqual({ t: `Grüße 👋 ${EMAIL} 日本` });
  });
});

describe('JSON masking by column-rule paths', () => {
  const doc = JSON.stringify({
    user: { email: 'alice@example.com', name: 'Alice' },
    credentials: { password: 'hunter2', token: 'abc' },
    messages: [
      { role: 'user', content: 'hello' },
      { role: 'assistant', content: 'hi there' },
    ],
    n: 12345,
    nothing: null,
  });

  it('redacts a string at a path', () => {
    expect(mask(doc, [rule('$.user.name', { strategy: 'redact' })], none)).toMatchObject({ user: { email: 'alice@example.com', name: '[redacted]' } });
  });

  it('replaces a whole object at a path', () => {
    expect(mask(doc, [rule('$.credentials', { strategy: 'redact' })], none)).toMatchObject({ credentials: '[redacted]' });
    expect(mask(doc, [rule('$.credentials', { strategy: 'null' })], none)).toMatchObject({ credentials: null });
    expect(mask(doc, [rule('$.credentials', { strategy: 'partial', keep: 4 })], none)).toMatchObject({ credentials: '[redacted]' });
    const hashed = mask(doc, [rule('$.credentials', { strategy: 'hash' })], none) as { credentials: string };
    expect(hashed.credentials).toMatch(/^[0-9a-f]{64}$/);
  });

  it('applies wildcards to every element', () => {
    const out = mask(doc, [rule('$.messages[*].content', { strategy: 'partial', keep: 2 })], none) as { messages: Array<{ content: string; role: string }> };
    expect(out.messages).toEqual([
      { role: 'user', content: '****lo' },
      { role: 'assistant', content: '****re' },
    ]);
  });

  it('applies strategies to numbers and leaves null alone', () => {
    expect(mask(doc, [rule('$.n', { strategy: 'partial', keep: 2 })], none)).toMatchObject({ n: '****45' });
    expect(mask(doc, [rule('$.nothing', { strategy: 'redact' })], none)).toMatchObject({ nothing: null });
  });

  it('hashes equal values equally at any path', () => {
    const out = mask(JSON.stringify({ a: { email: 'x@y.io' }, b: [{ email: 'x@y.io' }] }), [rule('$..email', { strategy: 'hash' })], none) as {
      a: { email: string };
      b: Array<{ email: string }>;
    };
    expect(out.a.email).toMatch(/^[0-9a-f]{64}$/);
    expect(out.b[0]?.email).toBe(out.a.email);
  });

  it('replaces the whole document for $', () => {
    expect(mask(doc, [rule('$', { strategy: 'redact' })], none)).toBe('[redacted]');
  });

  it('runs detectors everywhere else', () => {
    const out = mask(doc, [rule('$.user.name', { strategy: 'redact' })]) as { user: { email: string; name: string } };
    expect(out.user).toEqual({ email: EMAIL, name: '[redacted]' });
  });

  it('uses original (decoded) keys for paths', () => {
    expect(mask('{"us\\u0065r": {"email": "z"}}', [rule('$.user.email', { strategy: 'redact' })], none)).toEqual({ user: { email: '[redacted]' } });
  });

  it('leaves a document without the path unchanged', () => {
    const s = '{"other": 1}';
    expect(maskJsonDocument(s, none, [rule('$.user.email', { strategy: 'redact' })])).toBe(s);
  });
});
