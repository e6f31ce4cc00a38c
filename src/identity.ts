// Who is calling: the verified result of an OIDC access token (or, later, a one-time
// trace credential). Produced by auth/, read by policy/, audit/ and the session.
// It never holds the token itself, only its jti and a hash for correlation.

export interface Identity {
  readonly subject: string;
  readonly groups: readonly string[];
  /** The verified token claims, for entitlement rules that bind a claim (e.g. trace ids). */
  readonly claims: Readonly<Record<string, unknown>>;
  readonly jti: string | undefined;
  /** Expiry as epoch milliseconds; the session ends once Date.now() passes it. */
  readonly expiresAt: number;
  /** SHA-256 of the token, hex: lets an auditor match a token without storing it. */
  readonly tokenHash: string;
}
