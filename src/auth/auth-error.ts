// Why a token was refused. The reason is safe to show a client and to record; the
// message says it in words; neither ever carries the token or any of its claims, and
// no underlying error (whose fields may hold the decoded payload) is attached.

export const AUTH_FAILURE_REASONS = [
  'expired',
  'not-yet-valid',
  'audience',
  'issuer',
  'signature',
  'unknown-key',
  'algorithm',
  'malformed',
  'claims',
  'jwks-unavailable',
] as const;

export type AuthFailureReason = (typeof AUTH_FAILURE_REASONS)[number];

const DESCRIPTIONS: Record<AuthFailureReason, string> = {
  expired: 'the token has expired',
  'not-yet-valid': 'the token is not valid yet (nbf is in the future)',
  audience: 'the token was not issued for this service (audience)',
  issuer: 'the token was not issued by the configured issuer',
  signature: 'the token signature does not verify',
  'unknown-key': "the token is signed with a key the issuer's JWKS does not hold",
  algorithm: 'the token is signed with an algorithm that is not allowed',
  malformed: 'the token is not a well-formed signed JWT',
  claims: 'the token lacks a required claim or a claim has the wrong type',
  'jwks-unavailable': "the issuer's signing keys could not be fetched",
};

export class AuthError extends Error {
  override readonly name = 'AuthError';
  readonly reason: AuthFailureReason;

  constructor(reason: AuthFailureReason, detail?: string) {
    super(`token rejected (${reason}): ${DESCRIPTIONS[reason]}${detail ? `; ${detail}` : ''}`);
    this.reason = reason;
  }
}
