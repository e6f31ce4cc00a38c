// Opens an upstream Postgres session with tracegate's OWN credential: TCP (or TLS as
// configured), StartupMessage, then cleartext, md5 or SCRAM-SHA-256 as the server asks,
// until ReadyForQuery. The client's token never comes here and the upstream password
// never leaves here (not in errors, not in logs).
//
// pg-protocol does the framing and parsing of the server's replies and serialises what
// we send; pg's SCRAM implementation does the SASL exchange. Only the sequencing is ours.
import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { serialize } from 'pg-protocol';
import { Parser } from 'pg-protocol/dist/parser.js';
import type { BackendMessage as PgMessage } from 'pg-protocol/dist/messages.js';
import sasl from 'pg/lib/crypto/sasl.js';
import pgCrypto from 'pg/lib/crypto/utils.js';

export type UpstreamTlsMode = 'disable' | 'prefer' | 'require' | 'verify-full';

export interface UpstreamEndpoint {
  readonly host: string;
  readonly port: number;
  readonly tls: { readonly mode: UpstreamTlsMode; readonly ca?: string | undefined; readonly serverName?: string | undefined };
  readonly connectTimeoutMs: number;
}

export interface UpstreamLogin extends UpstreamEndpoint {
  readonly database: string;
  readonly user: string;
  readonly password: string;
  /** Startup parameters besides user and database (already filtered and pinned). */
  readonly parameters: Readonly<Record<string, string>>;
}

export interface UpstreamConnection {
  readonly socket: net.Socket;
  readonly parameters: ReadonlyMap<string, string>;
  readonly processId: number;
  readonly secretKey: number;
  readonly tls: boolean;
}

/** Why an upstream connection could not be made; the message is safe for the client. */
export class UpstreamError extends Error {
  constructor(
    message: string,
    readonly sqlstate: '08001' | '08006',
    readonly internal?: string,
  ) {
    super(message);
    this.name = 'UpstreamError';
  }
}

export async function connectUpstream(login: UpstreamLogin): Promise<UpstreamConnection> {
  const socket = await dial(login);
  try {
    return await handshake(socket, login);
  } catch (err) {
    socket.destroy();
    throw err;
  }
}

/** Sends a CancelRequest for an upstream backend; best effort, like libpq's PQcancel. */
export async function cancelUpstream(endpoint: UpstreamEndpoint, processId: number, secretKey: number): Promise<void> {
  const socket = await dial(endpoint);
  await new Promise<void>((resolve) => {
    socket.once('close', () => resolve());
    socket.once('error', () => resolve());
    socket.end(serialize.cancel(processId, secretKey));
    setTimeout(() => {
      socket.destroy();
      resolve();
    }, endpoint.connectTimeoutMs).unref();
  });
}

async function dial(endpoint: UpstreamEndpoint): Promise<net.Socket> {
  const raw = await tcpConnect(endpoint);
  if (endpoint.tls.mode === 'disable') return raw;
  raw.write(serialize.requestSsl());
  const answer = await readOneByte(raw, endpoint.connectTimeoutMs);
  if (answer !== 0x53) {
    if (endpoint.tls.mode === 'prefer') return raw;
    raw.destroy();
    throw new UpstreamError('upstream database is unavailable', '08001', 'upstream refused TLS');
  }
  const verify = endpoint.tls.mode === 'verify-full';
  const secure = tls.connect({
    socket: raw,
    servername: endpoint.tls.serverName ?? (net.isIP(endpoint.host) ? undefined : endpoint.host),
    rejectUnauthorized: verify,
    ca: endpoint.tls.ca ? readFileSync(endpoint.tls.ca) : undefined,
    checkServerIdentity: verify
      ? (host, cert) => tls.checkServerIdentity(endpoint.tls.serverName ?? host, cert)
      : () => undefined,
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new UpstreamError('upstream database is unavailable', '08001', 'TLS handshake timed out')), endpoint.connectTimeoutMs);
    secure.once('secureConnect', () => {
      clearTimeout(timer);
      resolve();
    });
    secure.once('error', (err) => {
      clearTimeout(timer);
      reject(new UpstreamError('upstream database is unavailable', '08001', `TLS: ${err.message}`));
    });
  });
  return secure;
}

function tcpConnect(endpoint: UpstreamEndpoint): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: endpoint.host, port: endpoint.port });
    socket.setNoDelay(true);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new UpstreamError('upstream database is unavailable', '08001', 'connect timed out'));
    }, endpoint.connectTimeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(new UpstreamError('upstream database is unavailable', '08001', err.message));
    });
  });
}

function readOneByte(socket: net.Socket, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new UpstreamError('upstream database is unavailable', '08001', 'no answer to SSLRequest')), timeoutMs);
    const onData = (chunk: Buffer): void => {
      // The server answers SSLRequest with exactly one byte; anything more is the
      // CVE-2021-23222 class of injected plaintext and must not be trusted.
      if (chunk.length !== 1) return done(new UpstreamError('upstream database is unavailable', '08001', 'unexpected data after SSLRequest'));
      done(undefined, chunk[0]);
    };
    const onError = (err: Error): void => done(new UpstreamError('upstream database is unavailable', '08001', err.message));
    const done = (err?: Error, byte?: number): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.pause();
      if (err) reject(err);
      else resolve(byte as number);
    };
    socket.on('data', onData);
    socket.on('error', onError);
    socket.resume();
  });
}

function handshake(socket: net.Socket, login: UpstreamLogin): Promise<UpstreamConnection> {
  return new Promise((resolve, reject) => {
    const parser = new Parser();
    const parameters = new Map<string, string>();
    let processId = 0;
    let secretKey = 0;
    let scram: ReturnType<typeof sasl.startSession> | undefined;
    let settled = false;
    const isTls = socket instanceof tls.TLSSocket;

    const fail = (err: UpstreamError): void => {
      if (settled) return;
      settled = true;
      cleanup();
      reject(err);
    };
    const timer = setTimeout(() => fail(new UpstreamError('upstream database is unavailable', '08001', 'login timed out')), login.connectTimeoutMs);
    const onMessage = (msg: PgMessage): void => {
      void handle(msg).catch((err: unknown) =>
        fail(err instanceof UpstreamError ? err : new UpstreamError('upstream login failed', '08001', err instanceof Error ? err.message : String(err))),
      );
    };
    const handle = async (msg: PgMessage): Promise<void> => {
      const m = msg as PgMessage & Record<string, unknown>;
      switch (msg.name) {
        case 'authenticationCleartextPassword':
          socket.write(serialize.password(login.password));
          return;
        case 'authenticationMD5Password':
          socket.write(serialize.password(await pgCrypto.postgresMd5PasswordHash(login.user, login.password, m['salt'] as Buffer)));
          return;
        case 'authenticationSASL':
          scram = sasl.startSession(m['mechanisms'] as string[], isTls ? socket : undefined);
          socket.write(serialize.sendSASLInitialResponseMessage(scram.mechanism, scram.response));
          return;
        case 'authenticationSASLContinue':
          if (!scram) throw new UpstreamError('upstream login failed', '08001', 'SASLContinue without SASL');
          await sasl.continueSession(scram, login.password, m['data'] as string, isTls ? socket : undefined);
          socket.write(serialize.sendSCRAMClientFinalMessage(scram.response));
          return;
        case 'authenticationSASLFinal':
          if (!scram) throw new UpstreamError('upstream login failed', '08001', 'SASLFinal without SASL');
          // Verifies the server's signature: a server that does not know our verifier
          // (a man in the middle) is refused here.
          sasl.finalizeSession(scram, m['data'] as string);
          return;
        case 'authenticationOk':
          return;
        case 'parameterStatus':
          parameters.set(m['parameterName'] as string, m['parameterValue'] as string);
          return;
        case 'backendKeyData':
          processId = m['processID'] as number;
          secretKey = m['secretKey'] as number;
          return;
        case 'readyForQuery':
          if (settled) return;
          settled = true;
          cleanup();
          resolve({ socket, parameters, processId, secretKey, tls: isTls });
          return;
        case 'error':
          throw new UpstreamError('upstream database refused the connection', '08001', `${m['code'] as string}: ${m['message'] as string}`);
        case 'notice':
          return;
        default:
          throw new UpstreamError('upstream login failed', '08001', `unexpected ${msg.name} during login`);
      }
    };
    const onData = (chunk: Buffer): void => parser.parse(chunk, onMessage);
    const onError = (err: Error): void => fail(new UpstreamError('upstream database is unavailable', '08006', err.message));
    const onClose = (): void => fail(new UpstreamError('upstream database closed the connection during login', '08006'));
    const cleanup = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
      socket.pause();
    };
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.write(serialize.startup({ ...login.parameters, user: login.user, database: login.database }));
    socket.resume();
  });
}
