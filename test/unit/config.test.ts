// The configuration schema's handling of the token verifier's remembered verifications
// and of the statement size limit, and the shipped example: it must stay a
// configuration `serve` accepts.
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { parseConfig } from '../../src/config.js';

const minimal = (extraOidc = ''): string => `
upstream: { host: 127.0.0.1, port: 5432, database: traces, user: tracegate_proxy, password: secret }
oidc:
  issuer: http://127.0.0.1:9000
  audience: tracegate
${extraOidc}
`;

describe('oidc.verifiedCache', () => {
  test('defaults to 1000 tokens for 60 s', () => {
    expect(parseConfig(minimal(), '/etc/tracegate/tracegate.yaml', {}).oidc.verifiedCache).toEqual({ size: 1000, ttl: 60_000 });
  });

  test('size 0 (every token checked in full) and a duration are taken', () => {
    const config = parseConfig(minimal('  verifiedCache: { size: 0, ttl: 5s }'), '/etc/tracegate/tracegate.yaml', {});
    expect(config.oidc.verifiedCache).toEqual({ size: 0, ttl: 5_000 });
  });

  test('a negative size or an unknown key is refused', () => {
    expect(() => parseConfig(minimal('  verifiedCache: { size: -1 }'), 'x.yaml', {})).toThrow(/size/);
    expect(() => parseConfig(minimal('  verifiedCache: { size: 10, forever: true }'), 'x.yaml', {})).toThrow(/forever/);
  });
});

describe('limits.maxStatementSize', () => {
  test('defaults to 64 KiB and takes a size', () => {
    expect(parseConfig(minimal(), 'x.yaml', {}).limits.maxStatementSize).toBe(65_536);
    const config = parseConfig(`${minimal()}limits: { maxStatementSize: 16KiB }\n`, 'x.yaml', {});
    expect(config.limits.maxStatementSize).toBe(16_384);
  });
});

test('examples/tracegate.yaml is a configuration serve accepts', () => {
  const text = readFileSync(new URL('../../examples/tracegate.yaml', import.meta.url), 'utf8');
  const config = parseConfig(text, '/etc/tracegate/tracegate.yaml', {});
  expect(config.oidc.verifiedCache).toEqual({ size: 1000, ttl: 60_000 });
  expect(config.upstream.pool.maxIdle).toBe(20);
  expect(config.limits.maxStatementSize).toBe(65_536);
});
