// The admin HTTP server (SPEC section 7), on its own listen address, apart from the
// proxy port: the approval queue, live sessions and grants, revocation, the recording,
// the loaded policy, one-time trace credentials, Prometheus metrics, health and
// readiness, and the web page.
//
// Request flow: route match (404/405) → bearer authentication and group check for
// anything not public (401/403) → handler → JSON reply. Every failure is
// { error, message } with its status; an unexpected error becomes 500 `internal` with a
// correlation id, its details in the log only, never a stack trace to the caller.
// Each request is logged with the caller's subject, never with the token.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Identity } from '../identity.js';
import { approvalRoutes } from './approval-routes.js';
import { authenticate, authorize, roles } from './auth.js';
import { credentialRoutes } from './credential-routes.js';
import type { AdminDeps, ReadyCheck } from './deps.js';
import { HttpError, json, send, sendError, text } from './http.js';
import { pageRoutes } from './page-assets.js';
import { revokeRoutes } from './revoke-routes.js';
import { Router, type Route } from './router.js';
import { sessionRoutes } from './session-routes.js';

export interface RunningAdminServer {
  readonly host: string;
  readonly port: number;
  /** http://host:port, for links and the CLI's --admin. */
  readonly url: string;
  close(): Promise<void>;
}

const READY_TIMEOUT_MS = 2_000;

export async function startAdminServer(deps: AdminDeps): Promise<RunningAdminServer> {
  const now = deps.now ?? Date.now;
  const groups = { adminGroups: deps.adminGroups, approverGroups: deps.approverGroups };
  const router = new Router([
    ...pageRoutes(),
    { method: 'GET', path: '/healthz', access: 'public', handle: () => json({ status: 'ok' }) },
    { method: 'GET', path: '/readyz', access: 'public', handle: () => readiness(deps.ready) },
    {
      method: 'GET',
      path: '/metrics',
      access: deps.metricsAccess === 'admins' ? 'admins' : 'public',
      handle: async () => text(await deps.metrics.render(), deps.metrics.contentType),
    },
    {
      method: 'GET',
      path: '/api/whoami',
      access: 'authenticated',
      handle: ({ caller }) => json({ subject: caller?.subject, groups: caller?.groups, roles: caller ? roles(caller, groups) : null }),
    },
    ...approvalRoutes(deps.approvals),
    ...sessionRoutes(deps, now),
    ...revokeRoutes(deps, now),
    ...(deps.credentials ? credentialRoutes(deps.credentials) : []),
    { method: 'GET', path: '/api/policy', access: 'admins', handle: () => json({ policy: deps.policy() }) },
  ] satisfies Route[]);

  const server = http.createServer({ requestTimeout: 15_000, headersTimeout: 10_000, maxHeaderSize: 16 * 1024 }, (req, res) => {
    const started = process.hrtime.bigint();
    let actor: string | undefined;
    const handled = (async () => {
      const url = new URL(req.url ?? '/', 'http://admin.invalid');
      const match = router.match(req.method ?? 'GET', url.pathname);
      if (match.kind === 'not-found') throw new HttpError(404, 'not-found', `no such route: ${url.pathname}`);
      if (match.kind === 'method-not-allowed') {
        throw new HttpError(405, 'method-not-allowed', `use ${match.allow.join(' or ')}`, { allow: match.allow.join(', ') });
      }
      const { route, params } = match;
      let caller: Identity | null = null;
      if (route.access !== 'public') {
        caller = await authenticate(req, deps.verifier, deps.revocations);
        actor = caller.subject;
        authorize(caller, route.access, groups);
      }
      send(res, await route.handle({ req, url, params, caller }));
    })();
    handled
      .catch((err: unknown) => {
        if (res.headersSent) {
          res.destroy();
          return;
        }
        if (err instanceof HttpError) {
          sendError(res, err);
          return;
        }
        const correlationId = randomUUID();
        deps.log.error({ event: 'admin.error', correlationId, err, method: req.method, path: req.url }, 'admin request failed');
        sendError(res, new HttpError(500, 'internal', `internal error (correlation id ${correlationId})`));
      })
      .finally(() => {
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        // The page polls every 1.5 s: successful reads go to debug, actions and refusals to info.
        const level = req.method === 'GET' && res.statusCode < 400 ? 'debug' : 'info';
        deps.log[level]({ event: 'admin.request', method: req.method, path: req.url, status: res.statusCode, actor, ms }, 'admin request');
      });
  });
  // A client that sends garbage gets a 400 from node itself; a reset socket is not news.
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
    else socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(deps.listen.port, deps.listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.address;
  const urlHost = address.family === 'IPv6' ? `[${host}]` : host;
  deps.log.info({ event: 'admin.listening', host, port: address.port, metrics: deps.metricsAccess ?? 'public' }, 'admin server is listening');
  return {
    host,
    port: address.port,
    url: `http://${urlHost}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Keep-alive connections (the page's polling) would hold close() open otherwise.
        server.closeAllConnections();
      }),
  };
}

async function readiness(ready: AdminDeps['ready']): Promise<ReturnType<typeof json>> {
  let check: ReadyCheck;
  let timer: NodeJS.Timeout | undefined;
  try {
    check = await Promise.race([
      Promise.resolve(ready()),
      new Promise<ReadyCheck>((resolve) => {
        timer = setTimeout(() => resolve({ ready: false, reason: 'readiness check timed out' }), READY_TIMEOUT_MS);
      }),
    ]);
  } catch {
    check = { ready: false, reason: 'readiness check failed' };
  } finally {
    clearTimeout(timer);
  }
  return check.ready ? json({ status: 'ready' }) : json({ status: 'not-ready', reason: check.reason }, 503);
}
