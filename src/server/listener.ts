// The TCP listener: accepts client connections, enforces the connection limit before
// reading a byte, and hands each socket to a session. Tracks live sessions so that
// revocation and shutdown can reach them.
import net from 'node:net';
import type { Logger } from 'pino';
import { encode } from '../../protocol/index.js';
import { fatal, type ClientError } from '../errors.js';
import { runSession, type LiveSession, type SessionDeps } from '../session/session.js';

export interface ListenerOptions {
  readonly host: string;
  readonly port: number;
  readonly maxConnections: number;
  readonly log: Logger;
  readonly session: Omit<SessionDeps, 'track'>;
  /** Told of every accepted connection (true) and of its close (false), for metrics. */
  readonly onConnection?: (open: boolean) => void;
}

export class ProxyListener {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly live = new Set<LiveSession>();

  constructor(private readonly opts: ListenerOptions) {
    const deps: SessionDeps = {
      ...opts.session,
      track: (session) => {
        this.live.add(session);
        return () => this.live.delete(session);
      },
    };
    this.server = net.createServer({ noDelay: true, pauseOnConnect: true }, (socket) => {
      if (this.sockets.size >= opts.maxConnections) {
        opts.log.warn({ event: 'connection.refused', client: socket.remoteAddress }, 'too many connections');
        socket.end(encode.errorResponse({ severity: 'FATAL', code: '53300', message: 'sorry, too many clients already' }));
        return;
      }
      this.sockets.add(socket);
      opts.onConnection?.(true);
      socket.once('close', () => {
        this.sockets.delete(socket);
        opts.onConnection?.(false);
      });
      void runSession(socket, deps);
    });
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

  /** Stops accepting; ends live sessions with 57P01 and waits for sockets to close. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.terminate(() => true, fatal('57P01', 'terminating connection: tracegate is shutting down'));
    for (const socket of this.sockets) socket.setTimeout(2000, () => socket.destroy());
    await closed;
  }
}
