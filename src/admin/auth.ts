// Bearer-token authentication for the admin server: the same OIDC verifier as the
// proxy login, then the configured groups decide what the caller may do. A revoked
// token or subject is refused here too, so revoking an admin takes effect on the API.
// The token is never logged or echoed; an AuthError's message is safe to return (it
// says why, not what the token held).
import type { IncomingMessage } from 'node:http';
import { AuthError } from '../auth/auth-error.js';
import type { Identity } from '../identity.js';
import type { AdminRevocations, AdminTokenVerifier } from './deps.js';
import { HttpError } from './http.js';
import type { Access } from './router.js';

export interface AccessGroups {
  readonly adminGroups: readonly string[];
  readonly approverGroups: readonly string[];
}

const REALM = 'Bearer realm="tracegate-admin"';

export async function authenticate(req: IncomingMessage, verifier: AdminTokenVerifier, revocations: AdminRevocations): Promise<Identity> {
  const header = req.headers.authorization;
  const match = header === undefined ? null : /^Bearer +([^\s]+) *$/i.exec(header);
  if (!match) throw new HttpError(401, 'unauthenticated', 'send an access token: Authorization: Bearer <token>', { 'www-authenticate': REALM });
  let identity: Identity;
  try {
    identity = await verifier.verify(match[1] as string);
  } catch (err) {
    if (err instanceof AuthError) {
      if (err.reason === 'jwks-unavailable') throw new HttpError(503, 'issuer-unavailable', err.message);
      throw new HttpError(401, 'invalid-token', err.message, { 'www-authenticate': `${REALM}, error="invalid_token"` });
    }
    throw err;
  }
  const revoked = revocations.isRevoked(identity);
  if (revoked) throw new HttpError(403, 'revoked', `access revoked by an administrator (revocation ${revoked.id})`);
  return identity;
}

export function roles(identity: Identity, groups: AccessGroups): { readonly admin: boolean; readonly approver: boolean } {
  return {
    admin: identity.groups.some((g) => groups.adminGroups.includes(g)),
    approver: identity.groups.some((g) => groups.approverGroups.includes(g)),
  };
}

export function authorize(identity: Identity, access: Exclude<Access, 'public'>, groups: AccessGroups): void {
  const { admin, approver } = roles(identity, groups);
  const allowed =
    access === 'authenticated' || (access === 'admins' && admin) || (access === 'approvers' && approver) || (access === 'staff' && (admin || approver));
  if (allowed) return;
  const needed =
    access === 'admins' ? groups.adminGroups : access === 'approvers' ? groups.approverGroups : [...groups.adminGroups, ...groups.approverGroups];
  throw new HttpError(403, 'forbidden', `${identity.subject} is not in a group allowed here (one of: ${needed.join(', ')})`);
}
