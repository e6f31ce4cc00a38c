// The startup and login phase of a client connection: SSLRequest/GSSENCRequest,
// CancelRequest, StartupMessage, then the token as a cleartext password, or a one-time
// trace credential (a password with the credential prefix, redeemed instead of being
// verified as a token). It ends with a verified identity and the filtered startup
// parameters, or with a FATAL error. It must not open an upstream connection before the
// password has been verified.
import net from 'node:net';
import tls from 'node:tls';
import { encode, FrontendReader, MAX_AUTH_MESSAGE_LENGTH, ProtocolError, readCleartextPassword, sslResponse, type FrontendMessage } from '../../protocol/index.js';
import { isLoopbackHost } from '../config.js';
import { fatal } from '../errors.js';
import type { Identity } from '../identity.js';
import type { CancelRegistry } from './cancel-registry.js';
import { filterStartup, type FilteredStartup, type PinnedSettings } from './startup-params.js';

export interface LoginOptions {
  readonly secureContext: tls.SecureContext | undefined;
  readonly allowPlaintextOnLoopback: boolean;
  readonly maxMessageBytes: number;
  readonly pins: PinnedSettings;
  readonly cancels: CancelRegistry;
  readonly verify: (token: string) => Promise<Identity>;
  /** One-time trace credentials (credentials/), tried before the OIDC verifier. */
  readonly credentials?: CredentialLogin;
}

/** What login needs of one-time trace credentials (credentials/ provides it). */
export interface CredentialLogin {
  /** Whether the password is meant as a credential (its prefix): then it is never a token. */
  matches(password: string): boolean;
  /** Redeems it for this connection as `user`; throws a ClientError (28P01) to refuse. */
  redeem(password: string, user: string): Promise<Identity>;
  /** The connection that redeemed the credential closed: it is spent. */
  closed(credentialId: string): void;
}

export type LoginResult =
  | { readonly kind: 'login'; readonly socket: net.Socket; readonly reader: FrontendReader; readonly identity: Identity; readonly startup: FilteredStartup; readonly tls: TlsInfo | null }
  | { readonly kind: 'cancel' };

export interface TlsInfo {
  readonly protocol: string;
  readonly cipher: string | null;
}

/** Thrown by the verifier (auth/): the reason is safe to show, the token never is. */
interface ReasonedAuthError {
  readonly name: 'AuthError';
  readonly reason: string;
  readonly message: string;
}

const isAuthError = (err: unknown): err is ReasonedAuthError => err instanceof Error && err.name === 'AuthError';

/**
 * Drives the login to completion. `conn.socket` is replaced by the TLS socket once TLS
 * is negotiated, so that a refusal is sent on the socket the client is reading.
 * Throws ClientError / ProtocolError.
 */
export async function login(conn: { socket: net.Socket }, opts: LoginOptions): Promise<LoginResult> {
  let current = conn.socket;
  // Before the client is known, no message may be longer than a password can be: a
  // client without a token must not make the proxy buffer a 64 MB Query it will refuse.
  const loginLimit = Math.min(opts.maxMessageBytes, MAX_AUTH_MESSAGE_LENGTH);
  let reader = new FrontendReader({ maxMessageBytes: loginLimit });
  let secure = false;
  let startup: FilteredStartup | undefined;

  for (;;) {
    const frame = await nextFrame(current, reader);
    const message: FrontendMessage = frame.message;
    switch (message.type) {
      case 'SSLRequest': {
        if (secure || startup) throw new ProtocolError('SSLRequest is only allowed once, before the startup message');
        if (!opts.secureContext) {
          current.write(sslResponse(false));
          break;
        }
        // Bytes that arrived with the SSLRequest, before the handshake, were not
        // protected by TLS and must not be read as if they had been (CVE-2021-3935).
        if (reader.buffered > 0) throw new ProtocolError('received unencrypted data after SSL request');
        current.write(sslResponse(true));
        current = await upgrade(current, opts.secureContext);
        conn.socket = current;
        reader = new FrontendReader({ maxMessageBytes: loginLimit });
        secure = true;
        break;
      }
      case 'GSSENCRequest':
        if (startup) throw new ProtocolError('GSSENCRequest after the startup message');
        current.write(sslResponse(false));
        break;
      case 'CancelRequest':
        opts.cancels.cancel({ processId: message.processId, secretKey: message.secretKey });
        return { kind: 'cancel' };
      case 'StartupMessage': {
        if (!secure && !(opts.allowPlaintextOnLoopback && isLoopbackHost(current.remoteAddress ?? ''))) {
          throw fatal('28000', 'TLS required: connect with sslmode=require (plaintext is allowed only on loopback when configured)');
        }
        startup = filterStartup(message.parameters, opts.pins);
        current.write(encode.authenticationCleartextPassword());
        break;
      }
      case 'PasswordMessage': {
        if (!startup) throw new ProtocolError('password message before the startup message');
        const token = readCleartextPassword(message.data);
        if (token === '') throw fatal('28P01', 'empty password: pass an OIDC access token as the password');
        let identity: Identity;
        if (opts.credentials?.matches(token)) {
          identity = await opts.credentials.redeem(token, startup.user);
          spendOnClose(current, opts.credentials, identity);
        } else {
          try {
            identity = await opts.verify(token);
          } catch (err) {
            if (isAuthError(err)) throw fatal('28P01', `access token rejected: ${err.reason}`, { detail: err.message });
            throw err;
          }
        }
        const tlsInfo =
          current instanceof tls.TLSSocket ? { protocol: current.getProtocol() ?? 'TLS', cipher: current.getCipher()?.name ?? null } : null;
        reader.setMaxMessageBytes(opts.maxMessageBytes);
        return { kind: 'login', socket: current, reader, identity, startup, tls: tlsInfo };
      }
      default:
        throw new ProtocolError(`unexpected ${message.type} message during login`);
    }
  }
}

// A redeemed credential is spent when its connection closes, however the connection
// ends: a session that never starts (an upstream failure, a revocation) included.
function spendOnClose(socket: net.Socket, credentials: CredentialLogin, identity: Identity): void {
  const id = identity.credential?.id;
  if (id === undefined) return;
  if (socket.destroyed) credentials.closed(id);
  else socket.once('close', () => credentials.closed(id));
}

function upgrade(socket: net.Socket, secureContext: tls.SecureContext): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    socket.removeAllListeners('data');
    const secure = new tls.TLSSocket(socket, { isServer: true, secureContext });
    const onError = (err: Error): void => reject(fatal('08P01', `TLS handshake failed: ${err.message}`));
    secure.once('secure', () => {
      secure.off('error', onError);
      resolve(secure);
    });
    secure.once('error', onError);
  });
}

/** Reads the next whole frame during login, pulling more bytes as needed. */
function nextFrame(socket: net.Socket, reader: FrontendReader): Promise<NonNullable<ReturnType<FrontendReader['read']>>> {
  const ready = reader.read();
  if (ready) return Promise.resolve(ready);
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.off('error', onError);
      socket.pause();
    };
    const onData = (chunk: Buffer): void => {
      try {
        reader.push(chunk);
        const frame = reader.read();
        if (!frame) return;
        cleanup();
        resolve(frame);
      } catch (err) {
        cleanup();
        reject(err);
      }
    };
    const onEnd = (): void => {
      cleanup();
      reject(new ConnectionClosed());
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(new ConnectionClosed(err.message));
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.once('error', onError);
    socket.resume();
  });
}

/** The client went away during login: nothing to answer. */
export class ConnectionClosed extends Error {
  constructor(detail = 'client closed the connection') {
    super(detail);
    this.name = 'ConnectionClosed';
  }
}
