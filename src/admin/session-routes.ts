// Sessions and grants for admins: who is connected now (from the listener), which
// single-use grants are held now, and the recording (from the audit store): search,
// one session with its statements, and the replay text `tracegate sessions replay`
// prints. Live views show the caller's subject, groups and token jti, never the token
// hash or claims.
import type { AdminDeps } from './deps.js';
import { HttpError, json, text } from './http.js';
import type { Route } from './router.js';
import { parseTimeInput } from './time-input.js';

const MAX_LIMIT = 1000;

export function sessionRoutes(deps: Pick<AdminDeps, 'listener' | 'grants' | 'recordings' | 'renderReplay'>, now: () => number): Route[] {
  const recordings = () => {
    if (!deps.recordings) throw new HttpError(503, 'no-store', 'no audit store is configured, so nothing is recorded to show');
    return deps.recordings;
  };
  const recorded = async (id: string) => {
    const detail = await recordings().getSession(id);
    if (!detail) throw new HttpError(404, 'not-found', `no recorded session ${id}`);
    return detail;
  };

  return [
    {
      method: 'GET',
      path: '/api/sessions',
      access: 'admins',
      handle: () => {
        const at = now();
        const sessions = deps.listener
          .sessions()
          .map(({ info }) => ({
            id: info.id,
            subject: info.identity.subject,
            groups: info.identity.groups,
            jti: info.identity.jti ?? null,
            clientAddress: info.clientAddress,
            applicationName: info.applicationName,
            tls: info.tls,
            startedAt: info.startedAt,
            ageMs: Math.max(0, at - info.startedAt),
            tokenExpiresAt: info.identity.expiresAt,
          }))
          .sort((a, b) => a.startedAt - b.startedAt);
        return json({ sessions });
      },
    },
    {
      method: 'GET',
      path: '/api/sessions/recorded',
      access: 'admins',
      handle: async ({ url }) => {
        const q = url.searchParams;
        const at = now();
        const sinceText = q.get('since');
        const since = sinceText === null ? undefined : parseTimeInput(sinceText, at, 'behind');
        if (sinceText !== null && since === undefined) {
          throw new HttpError(400, 'bad-request', 'since: use an ISO 8601 time, epoch milliseconds or a duration such as 1h');
        }
        const limitText = q.get('limit');
        const limit = limitText === null ? 100 : Number(limitText);
        if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) throw new HttpError(400, 'bad-request', `limit: 1 to ${MAX_LIMIT}`);
        const subject = q.get('subject') || undefined;
        const traceId = q.get('trace') || undefined;
        const sessions = await recordings().listSessions({
          ...(subject === undefined ? {} : { subject }),
          ...(traceId === undefined ? {} : { traceId }),
          ...(since === undefined ? {} : { since }),
          limit,
        });
        return json({ sessions });
      },
    },
    {
      method: 'GET',
      path: '/api/sessions/:id',
      access: 'admins',
      handle: async ({ params }) => json(await recorded(params['id'] as string)),
    },
    {
      method: 'GET',
      path: '/api/sessions/:id/replay',
      access: 'admins',
      handle: async ({ params }) => text(`${deps.renderReplay(await recorded(params['id'] as string)).join('\n')}\n`),
    },
    {
      method: 'GET',
      path: '/api/grants',
      access: 'admins',
      handle: () => {
        const at = now();
        const grants = deps
          .grants()
          .map((g) => ({
            id: g.id,
            subject: g.subject,
            sessionId: g.sessionId,
            traceId: g.traceId,
            rule: g.rule,
            issuedAt: g.issuedAt,
            expiresAt: g.expiresAt,
            ageMs: Math.max(0, at - g.issuedAt),
            remainingMs: Math.max(0, g.expiresAt - at),
          }))
          .sort((a, b) => a.issuedAt - b.issuedAt);
        return json({ grants });
      },
    },
  ];
}
