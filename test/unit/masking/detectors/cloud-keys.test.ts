import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { eachLongSecretRun } from '../../../../src/masking/detectors/aws-keys.js';
import { found } from '../helpers.js';

const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const PEM = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\n';

describe('AWS access key detector', () => {
  it.each([
    ['AKIAIOSFODNN7EXAMPLE', 'AKIAIOSFODNN7EXAMPLE'],
    ['temp ASIAY34FZKBOKMUTVV7A ok', 'ASIAY34FZKBOKMUTVV7A'],
    ['{"key":"AKIAI44QH8DHBEXAMPLE"}', 'AKIAI44QH8DHBEXAMPLE'],
  ])('finds it in %j', (text, key) => {
    expect(found('aws-access-key', text)).toEqual([key]);
  });

  it.each([
    ['too short', 'AKIAIOSFODNN7EXAMPL'],
    ['too long', 'AKIAIOSFODNN7EXAMPLEX'],
    ['glued', 'XAKIAIOSFODNN7EXAMPLE'],
    ['a role id prefix', 'AROAIOSFODNN7EXAMPLE'],
  ])('leaves %s alone', (_what, text) => {
    expect(found('aws-access-key', text)).toEqual([]);
  });
});

describe('AWS secret key detector', () => {
  it.each([
    ['an env line', `AWS_SECRET_ACCESS_KEY=${SECRET}`],
    ['a credentials file', `[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = ${SECRET}\n`],
    ['prose', `the secret is ${SECRET}`],
  ])('finds the secret in %s', (_what, text) => {
    expect(found('aws-secret-key', text)).toEqual([SECRET]);
  });

  it('uses the JSON key as hint', () => {
    expect(found('aws-secret-key', SECRET, 'SecretAccessKey')).toEqual([SECRET]);
  });

  it.each([
    ['no hint nearby', `random blob ${SECRET}`],
    ['a git SHA near the word secret', 'secret rotated in a94a8fe5ccb19ba61c4c0873d391e987982fbbd3'],
    ['a 41-character run', `secret ${SECRET}Z`],
    ['base64 padding', `secret ${SECRET}=`],
    ['a hint too far back', `aws ${'x '.repeat(60)} ${SECRET}`],
  ])('leaves %s alone', (_what, text) => {
    expect(found('aws-secret-key', text)).toEqual([]);
  });
});

describe('GCP service-account key detector', () => {
  const file = JSON.stringify({
    type: 'service_account',
    project_id: 'demo',
    private_key_id: 'a1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6a7b8c9d0',
    private_key: PEM,
    client_email: 'svc@demo.iam.gserviceaccount.com',
  });

  it('finds the PEM and the key id of a pasted key file', () => {
    const escaped = file; // the PEM's line breaks are "\n" escapes here
    const hits = found('gcp-private-key', escaped);
    expect(hits).toHaveLength(2);
    expect(hits[0]).toBe('a1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6a7b8c9d0');
    expect(hits[1]?.startsWith('-----BEGIN PRIVATE KEY-----\\n')).toBe(true);
    expect(hits[1]?.endsWith('-----END PRIVATE KEY-----')).toBe(true);
  });

  it('finds a PEM that is the value of a private_key key', () => {
    expect(found('gcp-private-key', PEM, 'private_key')).toEqual([PEM.trimEnd()]);
    expect(found('gcp-private-key', 'a1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6a7b8c9d0', 'private_key_id')).toHaveLength(1);
  });

  it('leaves a PEM under another name to the private-key detector', () => {
    expect(found('gcp-private-key', `ssh key: ${PEM}`)).toEqual([]);
    expect(found('private-key', `ssh key: ${PEM}`)).toEqual([PEM.trimEnd()]);
  });
});

describe('eachLongSecretRun', () => {
  // The regex the run finder replaces, as the reference.
  const reference = (s: string): string[] => [...s.matchAll(/[A-Za-z0-9/+]{40,}/g)].map((m) => `${m.index}-${m.index + m[0].length}`);
  const runs = (s: string): string[] => {
    const out: string[] = [];
    eachLongSecretRun(s, (start, end) => out.push(`${start}-${end}`));
    return out;
  };

  it('finds exactly the maximal runs of 40 or more that the regex finds', () => {
    const piece = fc.oneof(
      fc.stringMatching(/^[A-Za-z0-9/+]{0,60}$/),
      fc.constantFrom(' ', '=', '-', '"', '\n', 'é', '\u{1F44B}', '_', '.'),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }), (parts) => {
        const s = parts.join('');
        expect(runs(s)).toEqual(reference(s));
      }),
      { numRuns: 3000 },
    );
  });
});
