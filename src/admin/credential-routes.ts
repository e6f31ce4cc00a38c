// One-time trace credentials over HTTP (SPEC section 3), for any caller whose token
// matches a policy rule (an orchestrator, a service): ask for one trace with a reason,
// and get a credential that works once as the Postgres password, or a pending request
// to poll while approvers decide.
//
//   POST /api/credentials { trace_id, reason, ttl? }   201 credential | 202 pending | 403 | 429
//   GET  /api/credentials/:id[?wait=N]                  the request's state; the credential once
//
// A trace the caller is not entitled to and a trace that does not exist get the same
// 403 with the same body; the request id that names the audit record is in the
// `tracegate-request` header, so even that does not differ in the body. The credential
// is in exactly one response and nowhere else: not in a log line, not in the recording.
import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { AuditUnavailableError } from '../audit/audit-unavailable-error.js';
import type { IssuedCredential, RequestAnswer } from '../credentials/credential-issuer.js';
import type { Identity } from '../identity.js';
import type { AdminCredentials, ProxyConnection } from './deps.js';
import { badRequest, HttpError, json, readJsonBody, type Reply } from './http.js';
import type { Route, RouteContext } from './router.js';

const BODY_LIMIT = 16 * 1024;
/** The longest a poll may wait for a pending request to change. */
export const MAX_WAIT_SECONDS = 30;

const requestBody = z
  .object({
    trace_id: z
      .string()
      .min(1, 'trace_id is required')
      .max(1024, 'trace_id is limited to 1024 characters')
      .refine((v) => !v.includes('\u0000'), 'trace_id cannot contain a NUL character'),
    reason: z.string().trim().min(1, 'reason is required').max(500, 'reason is limited to 500 characters'),
    ttl: z.number().int('ttl is a whole number of seconds').positive('ttl must be positive').max(3600, 'ttl is at most 3600 seconds').optional(),
  })
  .strict();

export function credentialRoutes(credentials: AdminCredentials): Route[] {
  const { issuer, connection } = credentials;
  return [
    {
      method: 'POST',
      path: '/api/credentials',
      access: 'authenticated',
      handle: async (ctx) => {
        const parsed = requestBody.safeParse(await readJsonBody(ctx.req, BODY_LIMIT));
        if (!parsed.success) throw badRequest(parsed.error.issues);
        const { trace_id: traceId, reason, ttl } = parsed.data;
        const answer = await recorded(() => issuer.request(callerOf(ctx), { traceId, reason, ttlMs: ttl === undefined ? undefined : ttl * 1000 }));
        return answerReply(answer, connection, ctx.req);
      },
    },
    {
      method: 'GET',
      path: '/api/credentials/:id',
      access: 'authenticated',
      deliversOnce: true,
      handle: async (ctx) => {
        const id = ctx.params['id'] as string;
        const waitText = ctx.url.searchParams.get('wait');
        const wait = waitText === null ? 0 : Number(waitText);
        if (!Number.isInteger(wait) || wait < 0 || wait > MAX_WAIT_SECONDS) {
          throw new HttpError(400, 'bad-request', `wait: whole seconds from 0 to ${MAX_WAIT_SECONDS}`);
        }
        const status = await recorded(() => issuer.status(callerOf(ctx), id, wait * 1000));
        // Another caller's request is as unknown to this caller as one that never was.
        if (!status) throw new HttpError(404, 'not-found', `you have no credential request ${id}`);
        switch (status.state) {
          case 'issued':
            return json(issuedBody(status.issued, connection, ctx.req));
          case 'pending':
            return json(pendingBody(status.id, status.traceId, status.rule, status.approvalId, status.approvalExpiresAt), 202);
          case 'delivered':
            return json({
              id: status.id,
              state: status.state,
              trace_id: status.traceId,
              rule: status.rule,
              approval_id: status.approvalId,
              expires_at: new Date(status.expiresAt).toISOString(),
              credential_state: status.credentialState,
              message: 'the credential was handed out once and is never shown again; request a new one if it was lost',
            });
          default:
            return json({ id: status.id, state: status.state, trace_id: status.traceId, rule: status.rule, approval_id: status.approvalId, message: status.message });
        }
      },
    },
  ];
}

function answerReply(answer: RequestAnswer, connection: ProxyConnection, req: IncomingMessage): Reply {
  switch (answer.kind) {
    case 'issued':
      return json(issuedBody(answer.issued, connection, req), 201);
    case 'pending':
      return json(pendingBody(answer.id, answer.traceId, answer.rule, answer.approvalId, answer.approvalExpiresAt), 202);
    case 'refused': {
      const headers: Record<string, string> = { 'tracegate-request': answer.id };
      if (answer.code === 'quota-exceeded') {
        headers['retry-after'] = String(Math.max(1, Math.ceil((answer.retryAfterMs ?? 0) / 1000)));
        throw new HttpError(429, answer.code, answer.message, headers);
      }
      throw new HttpError(403, answer.code, answer.message, headers);
    }
    default:
      return assertNever(answer);
  }
}

function issuedBody(issued: IssuedCredential, connection: ProxyConnection, req: IncomingMessage): Record<string, unknown> {
  const host = connectHost(connection.host, req);
  const conninfo = [
    `host=${conninfoValue(host)}`,
    `port=${connection.port}`,
    `dbname=${conninfoValue(connection.database)}`,
    `user=${issued.id}`,
    `sslmode=${connection.sslmode}`,
  ].join(' ');
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    id: issued.id,
    state: 'issued',
    credential: issued.credential,
    user: issued.id,
    trace_id: issued.traceId,
    rule: issued.rule,
    approval_id: issued.approvalId,
    expires_at: new Date(issued.expiresAt).toISOString(),
    // Credentials are [A-Za-z0-9_-] only: safe unquoted in a shell and in a URL.
    psql: `PGPASSWORD=${issued.credential} psql "${conninfo}"`,
    url: `postgresql://${issued.id}:${issued.credential}@${urlHost}:${connection.port}/${encodeURIComponent(connection.database)}?sslmode=${connection.sslmode}`,
  };
}

function pendingBody(id: string, traceId: string, rule: string, approvalId: string | null, approvalExpiresAt: number | null): Record<string, unknown> {
  return {
    id,
    state: 'pending',
    trace_id: traceId,
    rule,
    approval_id: approvalId,
    approval_expires_at: approvalExpiresAt === null ? null : new Date(approvalExpiresAt).toISOString(),
    poll: `/api/credentials/${id}?wait=${MAX_WAIT_SECONDS}`,
    message: `reading this trace needs approval: request ${approvalId} waits for an approver; poll for the credential`,
  };
}

function callerOf(ctx: RouteContext): Identity {
  if (!ctx.caller) throw new HttpError(401, 'unauthenticated', 'send an access token: Authorization: Bearer <token>');
  return ctx.caller;
}

/** Decisions and issues are recorded before they take effect: no record, no credential. */
async function recorded<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof AuditUnavailableError) throw new HttpError(503, 'audit-unavailable', 'the audit store cannot record the request, so nothing was issued; try again');
    throw err;
  }
}

// The proxy listens on a wildcard address: the caller reached this API by some name of
// this host, which is the best guess for where the proxy is reachable too.
function connectHost(listenHost: string, req: IncomingMessage): string {
  if (listenHost !== '0.0.0.0' && listenHost !== '::') return listenHost;
  let hostname = '';
  try {
    hostname = new URL(`http://${req.headers.host ?? ''}`).hostname.replace(/^\[|\]$/g, '');
  } catch {
    hostname = '';
  }
  return /^[A-Za-z0-9.:-]{1,253}$/.test(hostname) ? hostname : 'localhost';
}

/** A libpq connection-string value, quoted when it has to be. */
function conninfoValue(value: string): string {
  return /^[A-Za-z0-9._:-]+$/.test(value) ? value : `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function assertNever(value: never): never {
  throw new Error(`unexpected answer ${JSON.stringify(value)}`);
}
