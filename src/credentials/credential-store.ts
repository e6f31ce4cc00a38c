// Where issued one-time credentials live between issue and use: the contract, so that
// the in-memory store of a single instance (memory-credential-store.ts) and a Postgres
// store shared by several instances (SPEC section 11) are interchangeable. A store
// holds the secret's hash only, never the secret, and makes single use atomic: however
// many logins race with the same credential, exactly one redeems it.
//
// Life of a credential: issued → redeemed (a connection logged in with it) → spent (its
// read completed or its connection closed); an issued credential that passes its
// expiry unused becomes expired. Nothing ever goes back to issued.
import type { Identity } from '../identity.js';

export type CredentialState = 'issued' | 'redeemed' | 'spent' | 'expired';

export interface StoredCredential {
  /** The public id, `tgc_…`. */
  readonly id: string;
  /** SHA-256 of the secret (credential-secret.ts hashSecret). */
  readonly secretHash: Buffer;
  /** The identity of the token that asked for it: the session runs as this subject. */
  readonly holder: Identity;
  readonly traceId: string;
  readonly rule: string;
  readonly approvalId: string | null;
  readonly issuedAt: number;
  /** No login is accepted at or after this time, and a session opened with it ends then. */
  readonly expiresAt: number;
}

export type RedeemResult =
  | { readonly outcome: 'redeemed'; readonly credential: StoredCredential }
  /** The secret matched but the credential cannot be used: a reuse or a late use. */
  | { readonly outcome: 'refused'; readonly why: 'in-use' | 'spent' | 'expired'; readonly credential: StoredCredential }
  /** No such id, or the secret does not match: nothing is known about the presenter. */
  | { readonly outcome: 'unknown' };

export interface CredentialStore {
  /** Keeps a newly issued credential. Rejects when it cannot be kept. */
  add(credential: StoredCredential): Promise<void>;
  /**
   * Checks the secret in constant time against the stored hash, then, atomically, moves
   * an issued credential that has not expired at `now` to redeemed. A refusal changes
   * nothing, and a wrong secret is indistinguishable from an unknown id.
   */
  redeem(id: string, secret: string, now: number): Promise<RedeemResult>;
  /** Redeemed → spent; returns the credential if this call spent it, null otherwise. */
  spend(id: string, now: number): Promise<StoredCredential | null>;
  /** The state of a credential, while the store still knows it. */
  state(id: string): Promise<CredentialState | undefined>;
  /**
   * Moves issued credentials whose expiry has passed to expired and returns them (to be
   * recorded), and forgets spent and expired ones the retention period has passed.
   */
  sweep(now: number): Promise<StoredCredential[]>;
}
