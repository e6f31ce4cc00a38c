// The in-memory credential store: it keeps only the secret's hash, redeems a credential
// exactly once however many logins race, refuses a wrong secret like an unknown id and
// without using the credential up, refuses at and after expiry, and remembers settled
// credentials for the retention period so that reuse is recognised.
import { describe, expect, test } from 'vitest';
import { formatCredential, hashSecret, newCredentialId, newSecret } from '../../../src/credentials/credential-secret.js';
import type { StoredCredential } from '../../../src/credentials/credential-store.js';
import { MemoryCredentialStore } from '../../../src/credentials/memory-credential-store.js';

const NOW = 1_700_000_000_000;

function credential(expiresAt = NOW + 60_000): { stored: StoredCredential; secret: string } {
  const id = newCredentialId();
  const secret = newSecret();
  const stored: StoredCredential = {
    id,
    secretHash: hashSecret(secret),
    holder: { subject: 'agent-a', groups: ['ai-agents'], claims: { sub: 'agent-a' }, jti: 'j', expiresAt: NOW + 3_600_000, tokenHash: 'h' },
    traceId: 'tr_1',
    rule: 'agents',
    approvalId: null,
    issuedAt: NOW,
    expiresAt,
  };
  return { stored, secret };
}

describe('MemoryCredentialStore', () => {
  test('holds the hash only: nothing it keeps contains the secret', async () => {
    const store = new MemoryCredentialStore();
    const { stored, secret } = credential();
    await store.add(stored);
    const seen = JSON.stringify(store, (_k, v: unknown) => (v instanceof Map ? [...v.entries()] : Buffer.isBuffer(v) ? v.toString('hex') : v));
    expect(seen).not.toContain(secret);
    expect(seen).not.toContain(formatCredential(stored.id, secret));
  });

  test('redeems once: the second use is refused as in use, and after the spend as spent', async () => {
    const store = new MemoryCredentialStore();
    const { stored, secret } = credential();
    await store.add(stored);
    expect(await store.redeem(stored.id, secret, NOW)).toEqual({ outcome: 'redeemed', credential: stored });
    expect(await store.state(stored.id)).toBe('redeemed');
    expect(await store.redeem(stored.id, secret, NOW)).toEqual({ outcome: 'refused', why: 'in-use', credential: stored });
    expect(await store.spend(stored.id, NOW + 1)).toBe(stored);
    expect(await store.spend(stored.id, NOW + 2)).toBeNull();
    expect(await store.redeem(stored.id, secret, NOW + 3)).toEqual({ outcome: 'refused', why: 'spent', credential: stored });
  });

  test('of many racing logins exactly one redeems', async () => {
    const store = new MemoryCredentialStore();
    const { stored, secret } = credential();
    await store.add(stored);
    const results = await Promise.all(Array.from({ length: 50 }, () => store.redeem(stored.id, secret, NOW)));
    expect(results.filter((r) => r.outcome === 'redeemed')).toHaveLength(1);
    expect(results.filter((r) => r.outcome === 'refused' && r.why === 'in-use')).toHaveLength(49);
  });

  test('a wrong secret is answered like an unknown id and does not use the credential up', async () => {
    const store = new MemoryCredentialStore();
    const { stored, secret } = credential();
    await store.add(stored);
    expect(await store.redeem(stored.id, newSecret(), NOW)).toEqual({ outcome: 'unknown' });
    expect(await store.redeem(newCredentialId(), secret, NOW)).toEqual({ outcome: 'unknown' });
    expect(await store.state(stored.id)).toBe('issued');
    expect((await store.redeem(stored.id, secret, NOW)).outcome).toBe('redeemed');
  });

  test('refused at and after its expiry; the sweep expires it once and reports it', async () => {
    const store = new MemoryCredentialStore();
    const { stored, secret } = credential(NOW + 1_000);
    await store.add(stored);
    expect(await store.redeem(stored.id, secret, NOW + 1_000)).toEqual({ outcome: 'refused', why: 'expired', credential: stored });
    expect(await store.sweep(NOW + 999)).toEqual([]);
    expect(await store.sweep(NOW + 1_000)).toEqual([stored]);
    expect(await store.sweep(NOW + 2_000)).toEqual([]);
    expect(await store.state(stored.id)).toBe('expired');
    expect(await store.redeem(stored.id, secret, NOW + 2_000)).toEqual({ outcome: 'refused', why: 'expired', credential: stored });
  });

  test('a redeemed credential is not expired under its session: only spending settles it', async () => {
    const store = new MemoryCredentialStore();
    const { stored, secret } = credential(NOW + 1_000);
    await store.add(stored);
    await store.redeem(stored.id, secret, NOW);
    expect(await store.sweep(NOW + 5_000)).toEqual([]);
    expect(await store.state(stored.id)).toBe('redeemed');
  });

  test('settled credentials are remembered for the retention period, then forgotten', async () => {
    const store = new MemoryCredentialStore({ retainMs: 10_000 });
    const { stored, secret } = credential();
    await store.add(stored);
    await store.redeem(stored.id, secret, NOW);
    await store.spend(stored.id, NOW);
    await store.sweep(NOW + 10_000);
    expect(await store.state(stored.id)).toBe('spent');
    await store.sweep(NOW + 10_001);
    expect(await store.state(stored.id)).toBeUndefined();
    expect(await store.redeem(stored.id, secret, NOW + 10_001)).toEqual({ outcome: 'unknown' });
  });

  test('bounded: a full store drops the oldest settled credential, never a live one', async () => {
    const store = new MemoryCredentialStore({ maxEntries: 2 });
    const a = credential();
    const b = credential();
    await store.add(a.stored);
    await store.add(b.stored);
    await expect(store.add(credential().stored)).rejects.toThrow(/limit/);
    await store.redeem(a.stored.id, a.secret, NOW);
    await store.spend(a.stored.id, NOW);
    const c = credential();
    await store.add(c.stored);
    expect(await store.state(a.stored.id)).toBeUndefined();
    expect(await store.state(b.stored.id)).toBe('issued');
    expect(await store.state(c.stored.id)).toBe('issued');
  });

  test('an id is issued once', async () => {
    const store = new MemoryCredentialStore();
    const { stored } = credential();
    await store.add(stored);
    await expect(store.add(stored)).rejects.toThrow(/exists/);
  });
});
