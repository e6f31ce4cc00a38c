// The TCP listener: accepts client connections, enforces the connection limits before
// reading a byte (total and per client address) and, once the token names a subject,
// the per-subject session limit; hands each socket to a session. Tracks live sessions so
// that revocation and shutdown can reach them. Shutdown drains: no new logins, every
// session ends once its in-flight statements have completed (or at the drain deadline).
import net from 'node:net';
import type { Logger } from 'pino';
import { encode } from '../../protocol/index.js';
import { fatal, type ClientError } from '../errors.js';
import { runSession, type LiveSession, type SessionDeps } from '../session/session.js';

export interface ListenerOptions {
  readonly host: string;
  readonly port: number;
  readonly maxConnections: number;
  /** Concurrent connections from one client address; 0 = no limit. */
  readonly maxConnectionsPerAddress: number;
  /** Concurrent sessions of one token subject; 0 = no limit. */
  readonly maxSessionsPerSubject: number;
  /** How long close() lets in-flight statements finish before ending their sessions. */
  readonly drainTimeoutMs: number;
  readonly log: Logger;
  readonly session: Omit<SessionDeps, 'track' | 'claim'>;
  /** Told of every accepted connection (true) and of its close (false), for metrics. */
  readonly onConnection?: (open: boolean) => void;
}

const SHUTDOWN = (): ClientError => fatal('57P01', 'terminating connection: tracegate is shutting down');

export class ProxyListener {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly live = new Set<LiveSession>();
  private readonly perAddress = new Map<string, number>();
  private readonly perSubject = new Map<string, number>();
  private draining = false;

  constructor(private readonly opts: ListenerOptions) {
    const deps: SessionDeps = {
      ...opts.session,
      claim: (subject) => this.claim(subject),
      track: (session) => {
        this.live.add(session);
        // A login that was past its claim when the drain began still completes; it is
        // then ended like every other idle session.
        if (this.draining) session.drain(SHUTDOWN());
        return () => this.live.delete(session);
      },
    };
    this.server = net.createServer({ noDelay: true, pauseOnConnect: true }, (socket) => this.accept(socket, deps));
  }

  private accept(socket: net.Socket, deps: SessionDeps): void {
    const address = socket.remoteAddress ?? 'unknown';
    if (this.sockets.size >= this.opts.maxConnections) {
      this.refuse(socket, 'sorry, too many clients already');
      return;
    }
    const fromAddress = this.perAddress.get(address) ?? 0;
    if (this.opts.maxConnectionsPerAddress > 0 && fromAddress >= this.opts.maxConnectionsPerAddress) {
      this.refuse(socket, 'too many connections from this client address');
      return;
    }
    this.sockets.add(socket);
    this.perAddress.set(address, fromAddress + 1);
    this.opts.onConnection?.(true);
    socket.once('close', () => {
      this.sockets.delete(socket);
      decrement(this.perAddress, address);
      this.opts.onConnection?.(false);
    });
    void runSession(socket, deps);
  }

  /**
   * A refusal before the session starts. The socket gets an error handler (a peer that
   * resets would otherwise crash the process with an unhandled 'error') and a deadline
   * (a peer that never closes its side would otherwise hold the socket forever, outside
   * every count).
   */
  private refuse(socket: net.Socket, message: string): void {
    this.opts.log.warn({ event: 'connection.refused', client: socket.remoteAddress, reason: message }, 'connection refused');
    socket.on('error', () => socket.destroy());
    socket.end(encode.errorResponse({ severity: 'FATAL', code: '53300', message }));
    setTimeout(() => socket.destroy(), 1000).unref();
  }

  /** Reserves a session slot for a subject; the returned function gives it back. */
  private claim(subject: string): () => void {
    if (this.draining) throw fatal('57P03', 'the proxy is shutting down');
    const held = this.perSubject.get(subject) ?? 0;
    if (this.opts.maxSessionsPerSubject > 0 && held >= this.opts.maxSessionsPerSubject) {
      this.opts.log.warn({ event: 'connection.refused', subject, reason: 'subject limit' }, 'too many sessions for subject');
      throw fatal('53300', `too many sessions for subject "${subject}" (the limit is ${this.opts.maxSessionsPerSubject})`);
    }
    this.perSubject.set(subject, held + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      decrement(this.perSubject, subject);
    };
  }

  listen(): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port, this.opts.host, () => {
        this.server.off('error', reject);
        const addr = this.server.address() as net.AddressInfo;
        resolve({ host: addr.address, port: addr.port });
      });
    });
  }

  sessions(): readonly LiveSession[] {
    return [...this.live];
  }

  /** Ends every live session matching `match` with `err` (revocation). */
  terminate(match: (session: LiveSession) => boolean, err: ClientError): number {
    let n = 0;
    for (const session of this.live) {
      if (!match(session)) continue;
      session.terminate(err);
      n++;
    }
    return n;
  }

  /**
   * Stops accepting and drains: logins not yet admitted are refused (57P03), idle
   * sessions end now with 57P01, busy ones as soon as what they sent before the drain
   * has been answered. At the drain deadline whatever remains is ended; resolves once
   * every client socket has closed.
   */
  async close(): Promise<void> {
    this.draining = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const session of this.live) session.drain(SHUTDOWN());
    const deadline = setTimeout(() => {
      this.opts.log.warn({ event: 'drain.deadline', sessions: this.live.size, sockets: this.sockets.size }, 'drain deadline reached');
      this.terminate(() => true, SHUTDOWN());
      // A second to flush the 57P01 frames; logins still in progress just go.
      for (const socket of this.sockets) setTimeout(() => socket.destroy(), 1000).unref();
    }, this.opts.drainTimeoutMs);
    try {
      await closed;
    } finally {
      clearTimeout(deadline);
    }
  }
}

function decrement(counts: Map<string, number>, key: string): void {
  const n = (counts.get(key) ?? 0) - 1;
  if (n <= 0) counts.delete(key);
  else counts.set(key, n);
}
