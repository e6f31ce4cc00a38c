// Revocation over HTTP (SPEC section 3): by subject, session or token jti. The order is
// the security order: the revocation is in force first (new logins refused), then the
// matching live sessions are ended with FATAL 57P01 (their running statements are
// cancelled upstream as the session ends), then the action is recorded. A revocation
// only ever takes access away, so an audit store that cannot record does not stop it:
// the admin gets 503 saying it is in force but unrecorded, and the log says so too.
import { z } from 'zod';
import type { AdminActionDetail } from '../audit/store.js';
import { MAX_REVOCATION_TTL_MS, revokedError, targetApplies, type RevocationTarget } from '../revocation/revocations.js';
import type { AdminDeps, AdminLiveSession } from './deps.js';
import { badRequest, HttpError, json, readJsonBody } from './http.js';
import type { Route } from './router.js';
import { parseTimeInput } from './time-input.js';

const BODY_LIMIT = 16 * 1024;

const key = z.string().min(1).max(200);
const revokeBody = z
  .object({
    subject: key.optional(),
    session: key.optional(),
    jti: key.optional(),
    until: z.union([z.string().min(1).max(64), z.number()]).optional(),
    reason: z.string().trim().min(1, 'reason is required').max(500, 'reason is limited to 500 characters'),
  })
  .strict()
  .refine((b) => [b.subject, b.session, b.jti].filter((v) => v !== undefined).length === 1, {
    message: 'name exactly one of subject, session and jti',
  });

export function revokeRoutes(deps: Pick<AdminDeps, 'revocations' | 'revocationsShared' | 'listener' | 'recorder' | 'log'>, now: () => number): Route[] {
  return [
    {
      method: 'POST',
      path: '/api/revoke',
      access: 'admins',
      handle: async (ctx) => {
        const parsed = revokeBody.safeParse(await readJsonBody(ctx.req, BODY_LIMIT));
        if (!parsed.success) throw badRequest(parsed.error.issues);
        const body = parsed.data;
        const actor = ctx.caller?.subject;
        if (actor === undefined) throw new HttpError(401, 'unauthenticated', 'an admin must be authenticated');
        const at = now();
        const until = body.until === undefined ? undefined : parseTimeInput(body.until, at, 'ahead');
        // Longer than any token lives, short enough that a typo (a year 3026) is caught.
        if (body.until !== undefined && (until === undefined || until <= at || until > at + MAX_REVOCATION_TTL_MS)) {
          throw new HttpError(400, 'bad-request', 'until: a future time within a year, as ISO 8601, epoch milliseconds or a duration such as 2h');
        }
        const target: RevocationTarget =
          body.subject !== undefined
            ? { kind: 'subject', subject: body.subject }
            : body.session !== undefined
              ? { kind: 'session', sessionId: body.session }
              : { kind: 'jti', jti: body.jti as string };

        // The proxy ends matching sessions as the revocation is made (it listens to the
        // list, so revocations from other instances take effect too); count them first,
        // and end here whatever is still live, in case nothing listens.
        const applies = (s: AdminLiveSession): boolean => targetApplies(target, { id: s.info.id, identity: s.info.identity });
        const sessionsEnded = deps.listener.sessions().filter(applies).length;
        const revocation = deps.revocations.revoke({ target, reason: body.reason, by: actor, ...(until === undefined ? {} : { until }) });
        deps.listener.terminate(applies, revokedError(revocation));
        deps.log.info({ event: 'admin.revoke', revocation: revocation.id, target: target.kind, actor, sessionsEnded }, 'access revoked');
        try {
          await deps.recorder.recordAdminAction({ actionId: revocation.id, at: revocation.at, actor, reason: body.reason, action: actionOf(target) });
        } catch (err) {
          deps.log.error({ event: 'admin.revoke.unrecorded', revocation: revocation.id, err }, 'revocation in force but not recorded');
          throw new HttpError(
            503,
            'audit-unavailable',
            `revocation ${revocation.id} is in force and ended ${sessionsEnded} session(s), but the audit store could not record it`,
          );
        }
        // Another instance learns of it only from the shared store: an admin told "done"
        // must be able to rely on every instance refusing the subject.
        if (deps.revocationsShared && !(await deps.revocationsShared())) {
          throw new HttpError(
            503,
            'not-shared',
            `revocation ${revocation.id} is in force on this instance and ended ${sessionsEnded} session(s) here, but is not yet stored for the other instances; it is retried, and repeating the request is safe`,
          );
        }
        return json({ revocation, sessionsEnded }, 201);
      },
    },
    { method: 'GET', path: '/api/revocations', access: 'admins', handle: () => json({ revocations: deps.revocations.list() }) },
  ];
}

function actionOf(target: RevocationTarget): AdminActionDetail {
  switch (target.kind) {
    case 'subject':
      return { type: 'revoke-subject', subject: target.subject };
    case 'session':
      return { type: 'revoke-session', sessionId: target.sessionId };
    case 'jti':
      return { type: 'revoke-jti', jti: target.jti };
    default:
      return assertNever(target);
  }
}

function assertNever(value: never): never {
  throw new TypeError(`unexpected revocation target ${JSON.stringify(value)}`);
}
