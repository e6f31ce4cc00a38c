// The secrets and PII planted in the demo data, and the near misses that look like
// secrets but are not. The seed writes them into plain columns and deep inside JSON;
// masking tests assert every planted needle is absent from what a client receives and
// every near miss is still present. These are published test values (card-network test
// numbers, AWS's documented example key, IBAN registry examples), never real credentials.

export const PLANTED_KINDS = [
  'email',
  'phone',
  'credit-card',
  'iban',
  'jwt',
  'bearer',
  'aws-access-key',
  'github-token',
  'openai-key',
  'slack-token',
  'gcp-api-key',
  'private-key',
  'ip-address',
] as const;

export type PlantedKind = (typeof PLANTED_KINDS)[number];

export interface PlantedSecret {
  readonly kind: PlantedKind;
  /** The value exactly as written into the data (inside JSON it is JSON-escaped). */
  readonly value: string;
  /**
   * A distinctive fragment of the value that survives JSON escaping (no newline, quote or
   * backslash): search a client's output for this, not for `value`.
   */
  readonly needle: string;
}

const PEM_BODY = [
  'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj',
  'MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu',
  'NMoSfm76oqFvAp8Gy0iz5sxjZmSnXyCdPEovGhLa0VzMaQ8s+CLOyS56YyCFGeJZ',
].join('\n');

const PEM_BLOCK = `-----BEGIN PRIVATE KEY-----\n${PEM_BODY}\n-----END PRIVATE KEY-----`;

const RSA_PEM_BLOCK =
  '-----BEGIN RSA PRIVATE KEY-----\n' +
  'MIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n' +
  'KUpRKfFLfRYC9AIKjbJTWit+CqvjWYzvQwECAwEAAQJAIJLixBy2qpFoS4DSmoEm\n' +
  '-----END RSA PRIVATE KEY-----';

const SAMPLE_JWT =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.' +
  'eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.' +
  'SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';

const SERVICE_JWT =
  'eyJhbGciOiJSUzI1NiIsImtpZCI6ImRlbW8tMSJ9.' +
  'eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlLmNvbSIsInN1YiI6InN2Yy1iaWxsaW5nIiwiZXhwIjo0MTAyNDQ0ODAwfQ.' +
  'c2lnbmF0dXJlLW5vdC1yZWFsLWJ1dC1sb29rcy1saWtlLW9uZQ';

function secret(kind: PlantedKind, value: string, needle: string = value): PlantedSecret {
  return { kind, value, needle };
}

export const PLANTED: readonly PlantedSecret[] = [
  secret('email', 'alice.nguyen@example.com'),
  secret('email', 'bob+billing@corp.example.org'),
  secret('email', 'carol_ops@mail.example.net'),
  secret('phone', '+1-415-555-0132'),
  secret('phone', '+44 20 7946 0958'),
  secret('phone', '(212) 555-0199'),
  secret('credit-card', '4111111111111111'),
  secret('credit-card', '5500 0000 0000 0004'),
  secret('credit-card', '378282246310005'),
  secret('credit-card', '4012-8888-8888-1881'),
  secret('iban', 'DE89370400440532013000'),
  secret('iban', 'GB82 WEST 1234 5698 7654 32'),
  secret('iban', 'FR1420041010050500013M02606'),
  secret('jwt', SAMPLE_JWT),
  secret('jwt', SERVICE_JWT),
  secret('bearer', 'Bearer tgdemo.7Hq2vXk9LmN4pR8sT1wY3zA6bC0dE5fG'),
  secret('aws-access-key', 'AKIAIOSFODNN7EXAMPLE'),
  secret('aws-access-key', 'AKIAJ7Q3ZDEMO2XY4ZQW'),
  secret('github-token', 'ghp_1A2b3C4d5E6f7G8h9I0jK1lM2nO3pQ4rS5tU'),
  secret('github-token', 'ghp_Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0Pp9Oo8'),
  secret('openai-key', 'sk-DEMOa1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6q7r8s9t0u1v2'),
  secret('openai-key', 'sk-proj-DEMO9x8w7v6u5t4s3r2q1p0o9n8m7l6k5j4i3h2g1f0e'),
  secret('slack-token', 'xoxb-123456789012-1234567890123-DEMOtokenAbCdEfGhIjKlMn'),
  secret('gcp-api-key', 'AIzaSyDEMO-1a2B3c4D5e6F7g8H9i0J1k2L3m4N5o'),
  secret('private-key', PEM_BLOCK, PEM_BODY.split('\n')[0]),
  secret('private-key', RSA_PEM_BLOCK, 'MIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu'),
  secret('ip-address', '203.0.113.42'),
  secret('ip-address', '192.168.14.77'),
  secret('ip-address', '10.20.30.40'),
];

export const NEAR_MISS_KINDS = ['non-luhn-16', 'version', 'uuid'] as const;

export type NearMissKind = (typeof NEAR_MISS_KINDS)[number];

export interface NearMiss {
  readonly kind: NearMissKind;
  readonly value: string;
}

/**
 * Values a careful masker must leave alone. The four-part versions always appear after
 * the word "version" or "v" (or under a `version` key) and each has a part above 255, so
 * no reading of them is an IPv4 address.
 */
export const NEAR_MISSES: readonly NearMiss[] = [
  { kind: 'non-luhn-16', value: '4111111111111112' },
  { kind: 'non-luhn-16', value: '1234567812345678' },
  { kind: 'non-luhn-16', value: '9876543210123456' },
  { kind: 'version', value: '10.0.19045.3570' },
  { kind: 'version', value: '2.14.300.1' },
  { kind: 'version', value: '1.2.3.4000' },
  { kind: 'uuid', value: '3f2504e0-4f89-41d3-9a0c-0305e82c3301' },
  { kind: 'uuid', value: 'c9bf9e57-1685-4c89-bafb-ff5af830be8a' },
];

/** The trace that carries every planted secret and every near miss: the masking showcase. */
export const SHOWCASE_TRACE_ID = 'tr_000001';

export function plantedOfKind(kind: PlantedKind): readonly PlantedSecret[] {
  return PLANTED.filter((p) => p.kind === kind);
}
