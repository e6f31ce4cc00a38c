// A deliberately dumb Postgres client over a raw socket, for sending what no real
// driver would (malformed frames, plaintext after SSLRequest) and reading exactly what
// the proxy answers. Uses pg-protocol to build the well-formed parts.
import net from 'node:net';
import { serialize } from 'pg-protocol';
import { BackendReader, decodeBackend, type BackendMessage } from '../../protocol/index.js';

export interface RawResult {
  /** Every backend message received until the proxy closed the connection or timeout. */
  readonly messages: BackendMessage[];
  readonly bytes: Buffer;
  readonly closed: boolean;
}

export function rawConnect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Collects what arrives until the server closes the connection or `ms` pass. */
export function collect(socket: net.Socket, ms = 3000, until?: (m: BackendMessage) => boolean): Promise<RawResult> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const reader = new BackendReader({ maxMessageBytes: 1 << 26 });
    const messages: BackendMessage[] = [];
    let closed = false;
    const finish = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      resolve({ messages, bytes: Buffer.concat(chunks), closed });
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      // The single-byte SSL/GSS answers are not framed messages.
      if (chunks.length === 1 && chunk.length === 1) return;
      reader.push(chunk);
      for (let f = reader.read(); f; f = reader.read()) {
        const m = decodeBackend(f);
        messages.push(m);
        if (until?.(m)) return finish();
      }
    };
    const timer = setTimeout(finish, ms);
    socket.on('data', onData);
    socket.once('close', () => {
      closed = true;
      finish();
    });
  });
}

export const startup = (params: Record<string, string>): Buffer => serialize.startup(params);
export const password = (token: string): Buffer => serialize.password(token);
export const query = (sql: string): Buffer => serialize.query(sql);

/** A typed frame with an arbitrary code and body, length computed honestly. */
export function frame(code: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(code, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

/** Logs in with a token and returns once ReadyForQuery arrives. */
export async function rawLogin(port: number, token: string): Promise<net.Socket> {
  const socket = await rawConnect(port);
  socket.write(startup({ user: 'agent', database: 'traces' }));
  await collect(socket, 3000, (m) => m.type === 'AuthenticationCleartextPassword');
  socket.write(password(token));
  const r = await collect(socket, 5000, (m) => m.type === 'ReadyForQuery' || m.type === 'ErrorResponse');
  const last = r.messages.at(-1);
  if (last?.type !== 'ReadyForQuery') throw new Error(`login failed: ${JSON.stringify(last)}`);
  return socket;
}

export function errorOf(r: RawResult): { code: string; message: string; severity: string } | undefined {
  for (const m of r.messages) if (m.type === 'ErrorResponse') return { code: m.fields.code, message: m.fields.message, severity: m.fields.severity };
  return undefined;
}
