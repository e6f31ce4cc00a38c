// The login side of one-time credentials: the identity a redeemed credential opens a
// session as, the refusals (all FATAL 28P01) and which of them are recorded as reuse,
// and the spend recorded exactly once with the session that used it.
import pino from 'pino';
import { describe, expect, test } from 'vitest';
import type { CredentialEvent } from '../../../src/audit/store.js';
import { formatCredential, hashSecret, newCredentialId, newSecret } from '../../../src/credentials/credential-secret.js';
import { CredentialRedeemer } from '../../../src/credentials/credential-redeemer.js';
import type { StoredCredential } from '../../../src/credentials/credential-store.js';
import { MemoryCredentialStore } from '../../../src/credentials/memory-credential-store.js';
import { ClientError } from '../../../src/errors.js';

const NOW = 1_700_000_000_000;

async function setup() {
  const clock = { at: NOW };
  const events: CredentialEvent[] = [];
  const store = new MemoryCredentialStore();
  const redeemer = new CredentialRedeemer({
    store,
    recorder: { recordCredentialEvent: async (e) => void events.push(e) },
    log: pino({ level: 'silent' }),
    now: () => clock.at,
  });
  const id = newCredentialId();
  const secret = newSecret();
  const stored: StoredCredential = {
    id,
    secretHash: hashSecret(secret),
    holder: { subject: 'agent-a', groups: ['ai-agents'], claims: { sub: 'agent-a', team: 'x' }, jti: 'jti-1', expiresAt: NOW + 3_600_000, tokenHash: 'hash-1' },
    traceId: 'tr_1',
    rule: 'agents',
    approvalId: 'appr-1',
    issuedAt: NOW,
    expiresAt: NOW + 30_000,
  };
  await store.add(stored);
  return { clock, events, store, redeemer, id, credential: formatCredential(id, secret) };
}

async function refusal(promise: Promise<unknown>): Promise<ClientError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ClientError)) throw new Error(`expected a ClientError, got ${String(err)}`);
  expect(err.sqlstate).toBe('28P01');
  expect(err.fatal).toBe(true);
  return err;
}

describe('CredentialRedeemer', () => {
  test('the session runs as the requester, bound to the trace, rule and approval, until the credential expires', async () => {
    const { redeemer, id, credential } = await setup();
    expect(await redeemer.redeem(credential, id)).toEqual({
      subject: 'agent-a',
      groups: ['ai-agents'],
      claims: { sub: 'agent-a', team: 'x' },
      jti: 'jti-1',
      tokenHash: 'hash-1',
      expiresAt: NOW + 30_000,
      credential: { id, traceId: 'tr_1', rule: 'agents', approvalId: 'appr-1' },
    });
  });

  test('a wrong user name is refused without using the credential up or recording a reuse', async () => {
    const { redeemer, id, credential, events, store } = await setup();
    const err = await refusal(redeemer.redeem(credential, 'agent-a'));
    expect(err.message).toContain(`connect with its id ${id} as the user name`);
    expect(await store.state(id)).toBe('issued');
    expect(events).toEqual([]);
  });

  test('a second login is refused and recorded as a reuse, while the first is open and after it is spent', async () => {
    const { redeemer, id, credential, events } = await setup();
    const identity = await redeemer.redeem(credential, id);
    await redeemer.redeemed(identity, 'session-1');
    expect((await refusal(redeemer.redeem(credential, id))).message).toMatch(/in use by another connection/);
    await redeemer.spend(id, 'its one read completed');
    expect((await refusal(redeemer.redeem(credential, id))).message).toMatch(/has been used already/);
    expect(events.map((e) => [e.type, e.sessionId])).toEqual([
      ['redeemed', 'session-1'],
      ['reuse-refused', null],
      ['spent', 'session-1'],
      ['reuse-refused', null],
    ]);
    expect(events.every((e) => e.credentialId === id && e.subject === 'agent-a' && e.traceId === 'tr_1')).toBe(true);
  });

  test('spending twice (read done, then connection closed) records once', async () => {
    const { redeemer, id, credential, events } = await setup();
    await redeemer.redeemed(await redeemer.redeem(credential, id), 'session-1');
    await redeemer.spend(id, 'its one read completed');
    await redeemer.spend(id, 'its connection closed');
    expect(events.filter((e) => e.type === 'spent')).toEqual([expect.objectContaining({ detail: 'its one read completed' })]);
  });

  test('late: refused as expired and recorded; the sweep records the expiry once', async () => {
    const { redeemer, id, credential, events, clock } = await setup();
    clock.at = NOW + 30_000;
    expect((await refusal(redeemer.redeem(credential, id))).message).toMatch(/has expired/);
    await redeemer.sweep();
    await redeemer.sweep();
    expect(events.map((e) => e.type)).toEqual(['reuse-refused', 'expired']);
  });

  test('garbage and forgeries are refused alike, and recorded nowhere (nothing is known of them)', async () => {
    const { redeemer, id, events } = await setup();
    const forged = formatCredential(id, newSecret());
    const a = await refusal(redeemer.redeem(forged, id));
    const b = await refusal(redeemer.redeem('tgc_garbage', 'tgc_garbage'));
    expect(a.message).toBe(b.message);
    expect(events).toEqual([]);
  });
});
