// The CredentialStore of a single tracegate instance: a map in memory. Every method
// does its check and its state change in one synchronous step, so two logins racing
// with the same credential cannot both redeem it (the event loop runs one at a time).
//
// Spent and expired credentials are kept for `retainMs` after they settle, so that a
// later use of a leaked copy is recognised and recorded as a reuse attempt rather than
// refused as unknown. The map is bounded: past `maxEntries`, the oldest settled entries
// go first; live ones (issued, redeemed) are never dropped to make room.
import { secretMatches } from './credential-secret.js';
import type { CredentialState, CredentialStore, RedeemResult, StoredCredential } from './credential-store.js';

export interface MemoryCredentialStoreOptions {
  /** How long a spent or expired credential stays recognisable; default 1 h. */
  readonly retainMs?: number;
  /** Most credentials kept at once; default 100 000. */
  readonly maxEntries?: number;
}

interface Entry {
  readonly credential: StoredCredential;
  state: CredentialState;
  settledAt: number | null;
}

export class MemoryCredentialStore implements CredentialStore {
  private readonly entries = new Map<string, Entry>();
  private readonly retainMs: number;
  private readonly maxEntries: number;

  constructor(opts: MemoryCredentialStoreOptions = {}) {
    this.retainMs = opts.retainMs ?? 60 * 60 * 1000;
    this.maxEntries = opts.maxEntries ?? 100_000;
  }

  async add(credential: StoredCredential): Promise<void> {
    if (this.entries.has(credential.id)) throw new Error(`credential ${credential.id} exists already`);
    if (this.entries.size >= this.maxEntries) this.dropOldestSettled();
    if (this.entries.size >= this.maxEntries) throw new Error(`the credential store holds ${this.maxEntries} live credentials, its limit`);
    this.entries.set(credential.id, { credential, state: 'issued', settledAt: null });
  }

  async redeem(id: string, secret: string, now: number): Promise<RedeemResult> {
    const entry = this.entries.get(id);
    if (!entry || !secretMatches(entry.credential.secretHash, secret)) return { outcome: 'unknown' };
    const { credential } = entry;
    switch (entry.state) {
      case 'issued':
        if (now >= credential.expiresAt) return { outcome: 'refused', why: 'expired', credential };
        entry.state = 'redeemed';
        return { outcome: 'redeemed', credential };
      case 'redeemed':
        return { outcome: 'refused', why: 'in-use', credential };
      case 'spent':
        return { outcome: 'refused', why: 'spent', credential };
      case 'expired':
        return { outcome: 'refused', why: 'expired', credential };
      default:
        return assertNever(entry.state);
    }
  }

  async spend(id: string, now: number): Promise<StoredCredential | null> {
    const entry = this.entries.get(id);
    if (entry?.state !== 'redeemed') return null;
    entry.state = 'spent';
    entry.settledAt = now;
    return entry.credential;
  }

  async state(id: string): Promise<CredentialState | undefined> {
    return this.entries.get(id)?.state;
  }

  async sweep(now: number): Promise<StoredCredential[]> {
    const expired: StoredCredential[] = [];
    for (const [id, entry] of this.entries) {
      if (entry.state === 'issued' && now >= entry.credential.expiresAt) {
        entry.state = 'expired';
        entry.settledAt = now;
        expired.push(entry.credential);
      } else if (entry.settledAt !== null && now - entry.settledAt > this.retainMs) {
        this.entries.delete(id);
      }
    }
    return expired;
  }

  private dropOldestSettled(): void {
    // Map order is insertion order, so this drops the earliest issued of the settled ones.
    for (const [id, entry] of this.entries) {
      if (entry.settledAt === null) continue;
      this.entries.delete(id);
      return;
    }
  }
}

function assertNever(value: never): never {
  throw new Error(`unexpected credential state ${JSON.stringify(value)}`);
}
