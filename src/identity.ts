// Who is calling: the verified result of an OIDC access token, or of a one-time trace
// credential (credentials/), which carries the identity of the token that asked for it
// plus the credential's binding. Produced by auth/ and credentials/, read by policy/,
// audit/, the gate and the session. It never holds a token or a credential secret, only
// the token's jti and hash and the credential's id.

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
  /**
   * Set when the session was opened with a one-time trace credential: the gate lets it
   * read this one trace, once, and nothing else (see gate/policy-gate.ts).
   */
  readonly credential?: CredentialBinding;
}

export interface CredentialBinding {
  /** The credential's public id (`tgc_…`), never its secret. */
  readonly id: string;
  /** The only trace the session may read. */
  readonly traceId: string;
  /** The rule the credential was issued under: a read decided under another is refused. */
  readonly rule: string;
  /** The approval the credential was issued under; it covers the session's one read. */
  readonly approvalId: string | null;
}
