// Detectors whose pattern is tried, sticky, only where one of its prefixes starts
// (chars.ts nextAnchoredMatch) instead of being run globally over the text: the same
// hits as the global regex, the reference written out here as the detectors had it.
// The inputs pile prefixes into each other ("ghp_ghp_...", "sk-sk-ant-"), glue them to
// tokens, escapes and non-ASCII text, and cut them short.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { awsAccessKeyDetector } from '../../../src/masking/detectors/aws-keys.js';
import { jwtDetector } from '../../../src/masking/detectors/jwt.js';
import { findNumberRuns } from '../../../src/masking/detectors/number-runs.js';
import { findPrivateKeyBlocks } from '../../../src/masking/detectors/private-key.js';
import {
  anthropicKeyDetector,
  gcpApiKeyDetector,
  githubTokenDetector,
  gitlabTokenDetector,
  openaiKeyDetector,
  slackTokenDetector,
  slackWebhookDetector,
  stripeKeyDetector,
} from '../../../src/masking/detectors/vendor-tokens.js';
import type { Detector, DetectorKind, Match, ScanContext } from '../../../src/masking/types.js';

const isTokenChar = (c: string | undefined): boolean => c !== undefined && /[A-Za-z0-9_-]/.test(c);
const isWord = (c: string | undefined): boolean => c !== undefined && /[A-Za-z0-9_]/.test(c);

function randomBody(token: string): boolean {
  const body = token.slice(3);
  return /[0-9]/.test(body) && /[A-Z]/.test(body) && /[a-z]/.test(body);
}

interface Reference {
  detector: Detector;
  kind: DetectorKind;
  pattern: RegExp;
  accept?: (token: string) => boolean;
}

const VENDORS: readonly Reference[] = [
  { detector: githubTokenDetector, kind: 'github-token', pattern: /gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,255}/g },
  { detector: gitlabTokenDetector, kind: 'gitlab-token', pattern: /gl(?:pat|dt|rt|ptt|cbt|imt|oas|soat|ffct|ft|agent)-[A-Za-z0-9_-]{20,}/g },
  { detector: slackTokenDetector, kind: 'slack-token', pattern: /xox[abposre]-[A-Za-z0-9-]{10,}|xapp-\d-[A-Za-z0-9-]{10,}/g },
  { detector: slackWebhookDetector, kind: 'slack-token', pattern: /https?:\/\/hooks\.slack\.com\/(?:services|workflows|triggers)\/[A-Za-z0-9_/-]+/g },
  { detector: stripeKeyDetector, kind: 'stripe-key', pattern: /(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,}|whsec_[A-Za-z0-9]{20,}/g },
  { detector: anthropicKeyDetector, kind: 'anthropic-key', pattern: /sk-ant-[A-Za-z0-9_-]{20,}/g },
  { detector: openaiKeyDetector, kind: 'openai-key', pattern: /sk-(?!ant-)(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}/g, accept: randomBody },
  { detector: gcpApiKeyDetector, kind: 'gcp-api-key', pattern: /AIza[0-9A-Za-z_-]{35,}/g },
];

function vendorReference(r: Reference, s: string): Match[] {
  const out: Match[] = [];
  for (const m of s.matchAll(r.pattern)) {
    if (isTokenChar(s[m.index - 1]) && !m[0].startsWith('http')) continue;
    if (r.accept && !r.accept(m[0])) continue;
    out.push({ start: m.index, end: m.index + m[0].length, kind: r.kind });
  }
  return out;
}

function accessKeys(s: string): Match[] {
  const out: Match[] = [];
  for (const m of s.matchAll(/(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}/g)) {
    const end = m.index + m[0].length;
    if (!isWord(s[m.index - 1]) && !isWord(s[end])) out.push({ start: m.index, end, kind: 'aws-access-key' });
  }
  return out;
}

function jwts(s: string): Match[] {
  const out: Match[] = [];
  const re = /eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)?/y;
  for (let i = s.indexOf('eyJ'); i >= 0; i = s.indexOf('eyJ', i + 1)) {
    if (isTokenChar(s[i - 1])) continue;
    re.lastIndex = i;
    const m = re.exec(s);
    if (m === null) continue;
    out.push({ start: i, end: i + m[0].length, kind: 'jwt' });
    i += m[0].length - 1;
  }
  return out;
}

function blocksReference(s: string): Array<{ start: number; end: number }> {
  const blocks: Array<{ start: number; end: number }> = [];
  const begin = /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----/g;
  const end = /-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----/y;
  const body = /[A-Za-z0-9+/= \t\n\r\\:,.-]/;
  for (let m = begin.exec(s); m !== null; m = begin.exec(s)) {
    let i = m.index + m[0].length;
    let e = -1;
    for (; i < s.length && body.test(s[i] as string); i++) {
      end.lastIndex = i;
      const x = s[i] === '-' ? end.exec(s) : null;
      if (x) {
        e = i + x[0].length;
        break;
      }
    }
    if (e < 0) {
      e = i;
      while (e > m.index && /[ \t\n\r]/.test(s[e - 1] as string)) e--;
    }
    blocks.push({ start: m.index, end: e });
    begin.lastIndex = e;
  }
  return blocks;
}

function context(s: string): ScanContext {
  return { hint: undefined, numberRuns: () => findNumberRuns(s), privateKeyBlocks: () => findPrivateKeyBlocks(s) };
}

function scan(d: Detector, s: string): Match[] {
  const out: Match[] = [];
  d.scan(s, out, context(s));
  return out;
}

const prefixes = fc.constantFrom(
  'ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_', 'github_pat_', 'github_', 'gh_', 'glpat-', 'gldt-', 'glagent-', 'glsoat-', 'gl-', 'xoxb-', 'xoxe-', 'xapp-1-', 'xapp-',
  'https://hooks.slack.com/services/', 'http://hooks.slack.com/triggers/', 'hooks.slack.com/', 'sk_live_', 'rk_test_', 'whsec_', 'sk-ant-', 'sk-', 'sk-proj-',
  'ant-', 'AIza', 'AI', 'AKIA', 'ASIA', 'ABIA', 'ACCA', 'eyJ', 'ey', 'J', '_', '-', '/',
);
const pieces = fc.oneof(
  { weight: 3, arbitrary: prefixes },
  { weight: 3, arbitrary: fc.stringMatching(/^[A-Za-z0-9]{1,40}$/) },
  fc.stringMatching(/^[A-Za-z0-9_-]{1,24}$/),
  fc.constantFrom('.', ' ', '"', ':', '\\n', '\\', 'é', '日本', 'x', 'A', '0', 'Ab3dEf6hIj9kLmN0pQr2sTu4vWx6yZ8a', 'a'.repeat(36)),
  fc.string({ maxLength: 4 }),
);
const text = fc.array(pieces, { maxLength: 16 }).map((p) => p.join(''));

describe('detectors tried only where a prefix starts', () => {
  it('each vendor detector finds what its global regex finds', () => {
    fc.assert(
      fc.property(text, (s) => {
        for (const r of VENDORS) expect(scan(r.detector, s)).toEqual(vendorReference(r, s));
      }),
      { numRuns: 3000 },
    );
  });

  it('aws-access-key and jwt find what their reference scans find', () => {
    fc.assert(
      fc.property(text, (s) => {
        expect(scan(awsAccessKeyDetector, s)).toEqual(accessKeys(s));
        expect(scan(jwtDetector, s)).toEqual(jwts(s));
      }),
      { numRuns: 3000 },
    );
  });

  it('finds the private key blocks a global BEGIN regex finds', () => {
    const pem = fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom('-----BEGIN PRIVATE KEY-----', '-----BEGIN RSA PRIVATE KEY-----', '-----BEGIN PGP PRIVATE KEY BLOCK-----', '-----END PRIVATE KEY-----', '-----END RSA PRIVATE KEY-----', '-----BEGIN ', '-----BEGIN', 'BEGIN', 'PRIVATE KEY', '-----') },
      fc.constantFrom('\\n', '\n', ' ', 'MIIEvQIBADANBgkq+/=', 'Proc-Type: 4,ENCRYPTED', '"', '}', 'é', 'N', '-'),
      fc.stringMatching(/^[A-Za-z0-9]{1,12}$/),
      fc.string({ maxLength: 3 }),
    );
    fc.assert(
      fc.property(fc.array(pem, { maxLength: 14 }), (parts) => {
        const s = parts.join('');
        expect(findPrivateKeyBlocks(s)).toEqual(blocksReference(s));
      }),
      { numRuns: 3000 },
    );
  });

  it('prefixes inside and right after a match', () => {
    const cases = [
      'ghp_' + 'a'.repeat(36) + 'ghp_' + 'b'.repeat(36),
      'xghp_' + 'a'.repeat(36) + ' ghp_' + 'b'.repeat(36),
      'sk-sk-ant-' + 'A1b2'.repeat(6),
      'sk-' + 'aaaa'.repeat(6) + ' sk-' + 'A1b2'.repeat(6),
      'glpat-glpat-' + 'x'.repeat(20),
      'AKIAAKIAIOSFODNN7EXAMPLE',
      'https://hooks.slack.com/services/https://hooks.slack.com/services/T0/B0',
      'eyJeyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.sig',
    ];
    for (const s of cases) {
      for (const r of VENDORS) expect(scan(r.detector, s)).toEqual(vendorReference(r, s));
      expect(scan(awsAccessKeyDetector, s)).toEqual(accessKeys(s));
      expect(scan(jwtDetector, s)).toEqual(jwts(s));
    }
  });
});
