// One-time trace credentials as the composition root wires them (SPEC section 3): the
// issuer behind the admin API, the redeemer behind the Postgres login, one store between
// them, and a sweep that expires what nobody used. main.ts hands `login` to the session
// login, `spend` to the statement gate and `issuer` to the admin server.
import { hasCredentialPrefix } from './credential-secret.js';
import { CredentialIssuer, type CredentialIssuerDeps } from './credential-issuer.js';
import { CredentialRedeemer } from './credential-redeemer.js';
import type { CredentialLogin } from '../session/login.js';

export interface Credentials {
  readonly issuer: CredentialIssuer;
  readonly redeemer: CredentialRedeemer;
  readonly login: CredentialLogin;
  /** Stops the sweep and answers every long poll. */
  close(): void;
}

export interface CredentialsOptions extends CredentialIssuerDeps {
  /** How often expired credentials are settled and recorded; default 5 s. */
  readonly sweepEveryMs?: number;
}

export function startCredentials(opts: CredentialsOptions): Credentials {
  const issuer = new CredentialIssuer(opts);
  const redeemer = new CredentialRedeemer(opts);
  let sweeping = false;
  const timer = setInterval(() => {
    // A slow store must not stack sweeps on top of each other.
    if (sweeping) return;
    sweeping = true;
    void Promise.all([issuer.sweep(), redeemer.sweep()])
      .catch((err: unknown) => opts.log.error({ event: 'credential.sweep-failed', err: String(err) }, 'credential sweep failed'))
      .finally(() => (sweeping = false));
  }, opts.sweepEveryMs ?? 5_000);
  timer.unref();
  return {
    issuer,
    redeemer,
    login: {
      matches: hasCredentialPrefix,
      redeem: (password, user) => redeemer.redeem(password, user),
      closed: (credentialId) => void redeemer.spend(credentialId, 'its connection closed'),
    },
    close: () => {
      clearInterval(timer);
      issuer.close();
    },
  };
}
