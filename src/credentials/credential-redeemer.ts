// The Postgres side of one-time credentials: a credential presented as the password is
// redeemed here (login.ts asks before any OIDC verification), and the session it opens
// reports back when the credential is spent.
//
//   login ── parse ── user name = credential id? ── store.redeem (hash, state, expiry)
//               │                                      ├ redeemed → an Identity bound to the trace
//               └ anything wrong → FATAL 28P01         └ in use / spent / expired → 28P01, recorded reuse-refused
//   session start → redeemed (recorded, with the session id)
//   first trace read completes, or the connection closes → spent (recorded once)
//
// The user name must be the credential id (`tgc_…`, the part of the credential before
// its secret): it is what the caller was handed, needs no URL escaping, and makes a
// session's user name name its credential. A wrong user name is refused without using
// the credential up, since it is almost always a client configured with another user.
import type { Logger } from 'pino';
import type { CredentialEvent } from '../audit/store.js';
import { fatal } from '../errors.js';
import type { Identity } from '../identity.js';
import { parseCredential } from './credential-secret.js';
import type { CredentialStore, StoredCredential } from './credential-store.js';

/** Durable recording of credential events; AuditStore fits. */
export interface CredentialRecorder {
  recordCredentialEvent(event: CredentialEvent): Promise<void>;
}

export interface CredentialRedeemerDeps {
  readonly store: CredentialStore;
  readonly recorder: CredentialRecorder;
  readonly log: Logger;
  readonly now: () => number;
}

const UNKNOWN = 'one-time credential rejected: it is not a credential tracegate issued, or its secret is wrong';

const REFUSALS = {
  'in-use': 'is in use by another connection; a credential opens one session only',
  spent: 'has been used already; request a new one',
  expired: 'has expired; request a new one',
} as const;

export class CredentialRedeemer {
  /** Session ids of redeemed credentials, for the events recorded after login. */
  private readonly sessions = new Map<string, string>();

  constructor(private readonly deps: CredentialRedeemerDeps) {}

  /**
   * The identity a session opened with this credential runs as, or a FATAL 28P01.
   * `user` is the user name of the startup message.
   */
  async redeem(password: string, user: string): Promise<Identity> {
    const parsed = parseCredential(password);
    if (!parsed) throw fatal('28P01', UNKNOWN);
    if (user !== parsed.id) {
      throw fatal('28P01', `one-time credential rejected: connect with its id ${parsed.id} as the user name`, {
        hint: 'the user name of a one-time credential session is the credential id, the part before its secret',
      });
    }
    const now = this.deps.now();
    const result = await this.deps.store.redeem(parsed.id, parsed.secret, now);
    switch (result.outcome) {
      case 'unknown':
        this.deps.log.warn({ event: 'credential.unknown', credentialId: parsed.id }, 'unknown one-time credential presented');
        throw fatal('28P01', UNKNOWN);
      case 'refused': {
        const { credential, why } = result;
        this.deps.log.warn({ event: 'credential.reuse', credentialId: credential.id, subject: credential.holder.subject, why }, 'one-time credential reuse refused');
        await this.record(credential, 'reuse-refused', null, `login refused: the credential ${REFUSALS[why]}`);
        throw fatal('28P01', `one-time credential ${credential.id} ${REFUSALS[why]}`);
      }
      case 'redeemed':
        return sessionIdentity(result.credential);
      default:
        return assertNever(result);
    }
  }

  /** The session opened with the credential is about to start: recorded, or it throws. */
  async redeemed(identity: Identity, sessionId: string): Promise<void> {
    const binding = identity.credential;
    if (!binding) return;
    this.sessions.set(binding.id, sessionId);
    await this.deps.recorder.recordCredentialEvent({
      credentialId: binding.id,
      at: this.deps.now(),
      type: 'redeemed',
      subject: identity.subject,
      traceId: binding.traceId,
      sessionId,
      expiresAt: identity.expiresAt,
      detail: `session ${sessionId} opened`,
    });
  }

  /**
   * The credential's use is over (`detail` says why). It was redeemed, so it can open no
   * other session either way; this settles it for the record. Never rejects: a failure
   * is logged, since spending only ever takes access away.
   */
  async spend(credentialId: string, detail: string): Promise<void> {
    const sessionId = this.sessions.get(credentialId) ?? null;
    let credential: StoredCredential | null;
    try {
      credential = await this.deps.store.spend(credentialId, this.deps.now());
    } catch (err) {
      this.deps.log.error({ event: 'credential.spend-failed', credentialId, err: String(err) }, 'one-time credential could not be marked spent');
      return;
    }
    this.sessions.delete(credentialId);
    if (credential) await this.record(credential, 'spent', sessionId, detail);
  }

  /** Expires what passed its expiry unused, and records it. */
  async sweep(): Promise<void> {
    for (const credential of await this.deps.store.sweep(this.deps.now())) {
      await this.record(credential, 'expired', null, 'expired without being used');
    }
  }

  private async record(credential: StoredCredential, type: CredentialEvent['type'], sessionId: string | null, detail: string): Promise<void> {
    try {
      await this.deps.recorder.recordCredentialEvent({
        credentialId: credential.id,
        at: this.deps.now(),
        type,
        subject: credential.holder.subject,
        traceId: credential.traceId,
        sessionId,
        expiresAt: credential.expiresAt,
        detail,
      });
    } catch (err) {
      this.deps.log.error({ event: 'credential.unrecorded', credentialId: credential.id, type, err: String(err) }, 'credential event not recorded');
    }
  }
}

/**
 * The requester's identity, bound to the credential: its groups and claims decide the
 * rule and the entitlement again at every statement, its jti and subject keep revocation
 * working, and the session ends when the credential expires.
 */
function sessionIdentity(credential: StoredCredential): Identity {
  const { holder } = credential;
  return {
    subject: holder.subject,
    groups: holder.groups,
    claims: holder.claims,
    jti: holder.jti,
    tokenHash: holder.tokenHash,
    expiresAt: credential.expiresAt,
    credential: { id: credential.id, traceId: credential.traceId, rule: credential.rule, approvalId: credential.approvalId },
  };
}

function assertNever(value: never): never {
  throw new Error(`unexpected redeem result ${JSON.stringify(value)}`);
}
