import { describe, expect, it } from 'vitest';
import { ALL_DETECTORS } from '../../../src/masking/detectors/registry.js';
import { unescapeJsonText } from '../../../src/masking/json-unescape.js';
import { resolveMatches, Scanner } from '../../../src/masking/scanner.js';
import { markerFor } from '../../../src/masking/types.js';

const scanner = new Scanner(ALL_DETECTORS);

describe('overlap resolution', () => {
  it('merges overlapping hits under the first, longest, most specific kind', () => {
    expect(
      resolveMatches([
        { start: 5, end: 9, kind: 'email' },
        { start: 0, end: 6, kind: 'bearer-token' },
        { start: 0, end: 6, kind: 'anthropic-key' },
        { start: 12, end: 14, kind: 'ipv4' },
      ]),
    ).toEqual([
      { start: 0, end: 9, kind: 'anthropic-key' },
      { start: 12, end: 14, kind: 'ipv4' },
    ]);
  });

  it('keeps adjacent hits apart', () => {
    expect(resolveMatches([{ start: 3, end: 6, kind: 'ipv4' }, { start: 0, end: 3, kind: 'email' }])).toHaveLength(2);
  });

  it('names a bearer-carried key by the key', () => {
    const key = 'sk-ant-api03-' + 'Xk9vQ2mN8pL4rT6wY1zB3cD5eF7gH9jK0lM2nP4qR6sT8uV0wX';
    expect(scanner.maskText(`Authorization: Bearer ${key}`)).toBe(`Authorization: Bearer ${markerFor('anthropic-key')}`);
  });
});

describe('markers', () => {
  it('are one fixed ASCII text per kind, safe inside JSON strings and array literals', () => {
    for (const d of ALL_DETECTORS) {
      expect(markerFor(d.kind)).toMatch(/^\[redacted:[a-z0-9-]+\]$/);
    }
  });
});

describe('escapes', () => {
  it('decodes \\u escapes with a map back onto escape boundaries', () => {
    const raw = 'a\\u0040b\\n';
    const u = unescapeJsonText(raw);
    expect(u?.text).toBe('a@b\n');
    expect(Array.from(u?.map ?? [])).toEqual([0, 1, 7, 8, 10]);
    expect(unescapeJsonText('no escapes')).toBeNull();
  });

  it('leaves invalid escapes as written', () => {
    expect(unescapeJsonText('\\x41 \\u12')?.text).toBe('\\x41 \\u12');
  });

  it('finds an email spelled with a \\u0040 escape', () => {
    expect(scanner.maskText('mail alice\\u0040example.com now')).toBe(`mail ${markerFor('email')} now`);
  });

  it('finds a key right after an escaped line break', () => {
    const key = 'sk-ant-api03-' + 'Xk9vQ2mN8pL4rT6wY1zB3cD5eF7gH9jK0lM2nP4qR6sT8uV0wX';
    expect(scanner.maskText(`line one\\n${key}`)).toBe(`line one\\n${markerFor('anthropic-key')}`);
    expect(scanner.maskText(`\\n4111111111111111`)).toBe(`\\n${markerFor('credit-card')}`);
  });

  it('finds a Slack webhook with escaped slashes', () => {
    expect(scanner.maskText('https:\\/\\/hooks.slack.com\\/services\\/T0000\\/B0000\\/XXXXXXXXXXXX')).toBe(markerFor('slack-token'));
  });

  it('still scans text as written when a backslash is just a character', () => {
    expect(scanner.maskText('C:\\AKIAIOSFODNN7EXAMPLE')).toBe(`C:\\${markerFor('aws-access-key')}`);
  });
});

describe('maskText', () => {
  it('returns the same string when nothing matched', () => {
    const s = 'nothing to see here, version 1.2.3 at 2024-05-01T12:00:00Z';
    expect(scanner.maskText(s)).toBe(s);
  });

  it('masks several kinds in one text', () => {
    expect(scanner.maskText('mail bob@example.com from 10.1.2.3 card 4111 1111 1111 1111')).toBe(
      `mail ${markerFor('email')} from ${markerFor('ipv4')} card ${markerFor('credit-card')}`,
    );
  });

  it('keeps non-ASCII text around a secret intact', () => {
    expect(scanner.maskText('Grüße 👋 an jörg@bücher.de — 日本語')).toBe(`Grüße 👋 an ${markerFor('email')} — 日本語`);
  });

  it('does nothing without detectors', () => {
    expect(new Scanner([]).maskText('alice@example.com')).toBe('alice@example.com');
  });
});
