// One client connection from accept to close: login (login.ts), then an upstream
// session with tracegate's own credential, taken from the pool or opened
// (upstream/pool.ts), then the relay (relay.ts), and at the end the upstream session
// goes back to the pool, which resets or closes it. Everything the session needs from
// the rest of the proxy comes in through SessionDeps.
import type net from 'node:net';
import type { Logger } from 'pino';
import { encode } from '../../protocol/index.js';
import { fatal, toErrorFields, type ClientError } from '../errors.js';
import type { Identity } from '../identity.js';
import { UpstreamError } from '../upstream/connect.js';
import type { UpstreamLease } from '../upstream/pool.js';
import { ConnectionClosed, login, type LoginOptions, type TlsInfo } from './login.js';
import { Relay } from './relay.js';
import type { SessionControls, StatementGate } from './statement-gate.js';
import type { FilteredStartup } from './startup-params.js';

export interface SessionInfo {
  readonly id: string;
  readonly identity: Identity;
  readonly clientAddress: string;
  readonly applicationName: string;
  readonly tls: TlsInfo | null;
  readonly startedAt: number;
}

/** Where sessions get their upstream connection (upstream/pool.ts). */
export interface UpstreamSource {
  /** `parameters`: the startup parameters (filtered client ones and the pins). */
  acquire(parameters: Readonly<Record<string, string>>): Promise<UpstreamLease>;
}

export interface SessionDeps {
  readonly log: Logger;
  readonly login: LoginOptions;
  readonly loginTimeoutMs: number;
  /** A logged-in session that waits this long for its client is ended; 0 never. */
  readonly idleTimeoutMs: number;
  readonly upstream: UpstreamSource;
  readonly newId: () => string;
  readonly now: () => number;
  /**
   * Called after the token is verified, before any upstream connection, and again just
   * before the session is tracked: throws (FATAL) when the caller may not have a session
   * (revoked, no rule). Synchronous, so that the second check and the tracking share a
   * turn: see runSession.
   */
  readonly admit: (identity: Identity, startup: FilteredStartup) => void;
  readonly gate: (session: SessionInfo, controls: SessionControls) => StatementGate;
  /** Records the session durably before the client may send a statement; throws to refuse. */
  readonly recordStart: (session: SessionInfo) => Promise<void>;
  /** Extra notices for the client right after login (e.g. monitor mode). */
  readonly loginNotices: (identity: Identity) => readonly string[];
  /**
   * Takes one of the subject's session slots before any upstream connection is made;
   * throws a FATAL ClientError when there is none. Returns the slot's release.
   */
  readonly claim: (subject: string) => () => void;
  readonly track: (session: LiveSession) => () => void;
}

/** What the rest of the proxy can do to a live session (revocation, shutdown). */
export interface LiveSession {
  readonly info: SessionInfo;
  terminate(err: ClientError): void;
  /** Ends the session with `err` once what its client already sent has been answered. */
  drain(err: ClientError): void;
}

export async function runSession(socket: net.Socket, deps: SessionDeps): Promise<void> {
  const clientAddress = socket.remoteAddress ?? 'unknown';
  const log = new SessionLog(deps.log, { client: clientAddress });
  socket.setNoDelay(true);
  socket.on('error', () => socket.destroy());
  // The deadline covers the whole login, however the client paces its bytes; a login
  // that completes after it (a slow token check or upstream) must not start a session.
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    refuse(conn.socket, fatal('08P01', 'login timed out'), log);
  }, deps.loginTimeoutMs);

  let upstream: UpstreamLease | undefined;
  let release: (() => void) | undefined;
  const conn = { socket };
  try {
    const result = await login(conn, deps.login);
    if (result.kind === 'cancel') {
      clearTimeout(timer);
      socket.end();
      return;
    }
    deps.admit(result.identity, result.startup);
    release = deps.claim(result.identity.subject);
    try {
      upstream = await deps.upstream.acquire(result.startup.upstream);
    } catch (err) {
      if (err instanceof UpstreamError) {
        log.error({ reason: err.internal ?? err.message }, 'upstream connection failed');
        throw fatal(err.sqlstate, err.message);
      }
      throw err;
    }
    const info: SessionInfo = {
      id: deps.newId(),
      identity: result.identity,
      clientAddress,
      applicationName: result.startup.applicationName,
      tls: result.tls,
      startedAt: deps.now(),
    };
    await deps.recordStart(info);
    clearTimeout(timer);
    const lease = upstream;
    const endBeforeStart = (reason: string): void => {
      // Nothing was sent on it for this client: it is as clean as it came.
      lease.release('I');
      release?.();
      // The start is on record, so the end must be too.
      void Promise.resolve(deps.gate(info, { cancelUpstream: () => undefined, notice: () => undefined }).close(reason)).catch((err: unknown) =>
        log.error({ err: String(err) }, 'session close failed'),
      );
    };
    if (timedOut || result.socket.destroyed) return endBeforeStart('client gone before the session started');
    // A revocation (or a policy reload) that came while the upstream session was taken
    // and the start recorded found no session to end: checked again here. admit is
    // synchronous and start() tracks the session right after, with no await between
    // (not even a microtask, in which another handler's revocation could run), so no
    // revocation can fall between the two.
    try {
      deps.admit(result.identity, result.startup);
    } catch (err) {
      endBeforeStart('refused before the session started');
      refuse(result.socket, err, log);
      return;
    }
    start(info, result, upstream, deps, log, release);
  } catch (err) {
    clearTimeout(timer);
    release?.();
    upstream?.release(null);
    if (err instanceof ConnectionClosed) return;
    refuse(conn.socket, err, log);
  }
}

function start(
  info: SessionInfo,
  result: Extract<Awaited<ReturnType<typeof login>>, { kind: 'login' }>,
  upstream: UpstreamLease,
  deps: SessionDeps,
  log: SessionLog,
  release: () => void,
): void {
  const slog = new SessionLog(deps.log, { ...log.context, session: info.id, subject: info.identity.subject });
  const client = result.socket;
  const cancel = (): Promise<void> => upstream.cancel().catch((err: unknown) => slog.warn({ err: String(err) }, 'upstream cancel failed'));
  let relay: Relay | undefined;
  const gate = deps.gate(info, {
    cancelUpstream: () => relay?.holdClientUntil(cancel()),
    notice: (message, detail) => relay?.notice(message, detail),
  });
  const key = deps.login.cancels.register({
    cancel: () => {
      gate.interrupt();
      void cancel();
    },
  });
  let untrack = (): void => undefined;
  relay = new Relay(client, result.reader, upstream.connection.socket, gate, {
    maxMessageBytes: deps.login.maxMessageBytes,
    idleTimeoutMs: deps.idleTimeoutMs,
    expiresAt: info.identity.expiresAt,
    now: deps.now,
    onInternalError: (correlationId, err) => slog.error({ correlationId, err: err instanceof Error ? err.stack : String(err) }, 'internal error'),
    onClose: (reason, running, settled) => {
      // A statement still running upstream would run to its end unobserved: cancel it
      // (revocation, disconnect, shutdown) before the connection goes.
      if (running) void cancel();
      // The client's cancel key goes first, so no CancelRequest of this client can
      // reach the upstream backend once it serves another.
      deps.login.cancels.release(key);
      upstream.release(settled);
      release();
      untrack();
      void Promise.resolve(gate.close(reason)).catch((err: unknown) => slog.error({ err: String(err) }, 'session close failed'));
      slog.info({ event: 'session.end', reason }, 'session ended');
    },
  });
  const live = relay;

  client.cork();
  client.write(encode.authenticationOk());
  for (const [name, value] of upstream.connection.parameters) {
    // The upstream role is tracegate's own; the client sees its own user name instead.
    client.write(encode.parameterStatus(name, name === 'session_authorization' ? result.startup.user : value));
  }
  client.write(encode.backendKeyData(key.processId, key.secretKey));
  for (const notice of deps.loginNotices(info.identity)) {
    client.write(encode.noticeResponse({ severity: 'WARNING', code: '01000', message: notice }));
  }
  client.write(encode.readyForQuery('I'));
  client.uncork();
  slog.info(
    { event: 'session.start', groups: info.identity.groups, jti: info.identity.jti, tls: info.tls, applicationName: info.applicationName },
    'session started',
  );
  live.start();
  // Tracked once started, so that a drain or revocation reaching it finds a running
  // relay; one that closed while starting (a pipelined Terminate) is not tracked at all.
  if (!live.closed) untrack = deps.track({ info, terminate: (err) => live.terminate(err), drain: (err) => live.drain(err) });
}

function refuse(socket: net.Socket, err: unknown, log: SessionLog): void {
  if (socket.destroyed) return;
  const { fields } = toErrorFields(err, (correlationId, e) =>
    log.error({ correlationId, err: e instanceof Error ? e.stack : String(e) }, 'internal error during login'),
  );
  log.info({ event: 'login.refused', code: fields.code, reason: fields.message }, 'login refused');
  socket.end(encode.errorResponse({ ...fields, severity: 'FATAL' }));
  setTimeout(() => socket.destroy(), 1000).unref();
}

// A pino child logger serialises (and our log.ts scrubs) its bindings when it is made,
// once or twice per connection even when nothing is logged: measurable under
// connection churn. The context goes into each line instead, only when one is written.
// A class, not an object of closures: an idle session keeps two of these.
class SessionLog {
  constructor(
    private readonly log: Logger,
    readonly context: Readonly<Record<string, unknown>>,
  ) {}

  info(fields: object, message: string): void {
    this.log.info({ ...this.context, ...fields }, message);
  }

  warn(fields: object, message: string): void {
    this.log.warn({ ...this.context, ...fields }, message);
  }

  error(fields: object, message: string): void {
    this.log.error({ ...this.context, ...fields }, message);
  }
}
