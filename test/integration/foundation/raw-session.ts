// A raw protocol session that keeps every backend message in order across calls (the
// one-shot collect() of raw-client.ts drops what arrives between calls), for tests that
// drive the extended protocol by hand and must see exactly what came back: which
// backend key the proxy handed out, PortalSuspended, the transaction status.
import net from 'node:net';
import { serialize } from 'pg-protocol';
import { BackendReader, decodeBackend, type BackendMessage, type ErrorFields } from '../../../protocol/index.js';

export interface SimpleResult {
  readonly rows: (string | null)[][];
  readonly error: ErrorFields | undefined;
  readonly status: string;
}

export class RawSession {
  private readonly reader = new BackendReader({ maxMessageBytes: 1 << 26 });
  private readonly messages: BackendMessage[] = [];
  private wake: (() => void) | undefined;
  private ended = false;
  processId = 0;
  secretKey = 0;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.reader.push(chunk);
      for (let f = this.reader.read(); f; f = this.reader.read()) this.messages.push(decodeBackend(f));
      this.wake?.();
    });
    socket.on('close', () => {
      this.ended = true;
      this.wake?.();
    });
    socket.on('error', () => undefined);
  }

  /** Logs in with `token`; throws with the error if the proxy refuses. */
  static async login(port: number, token: string, params: Record<string, string> = {}): Promise<RawSession> {
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => resolve(s));
      s.once('error', reject);
    });
    const session = new RawSession(socket);
    socket.write(serialize.startup({ user: 'agent', database: 'traces', ...params }));
    await session.until((m) => m.type === 'AuthenticationCleartextPassword');
    socket.write(serialize.password(token));
    const login = await session.until((m) => m.type === 'ReadyForQuery' || m.type === 'ErrorResponse');
    const last = login.at(-1);
    if (last?.type !== 'ReadyForQuery') throw new Error(`login failed: ${JSON.stringify(last)}`);
    for (const m of login) {
      if (m.type === 'BackendKeyData') {
        session.processId = m.processId;
        session.secretKey = m.secretKey;
      }
    }
    return session;
  }

  send(...frames: Buffer[]): void {
    this.socket.write(Buffer.concat(frames));
  }

  /** Every message up to and including the first that matches, taken off the queue. */
  async until(match: (m: BackendMessage) => boolean, timeoutMs = 10_000): Promise<BackendMessage[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const at = this.messages.findIndex(match);
      if (at >= 0) return this.messages.splice(0, at + 1);
      if (this.ended) throw new Error(`connection closed; got ${JSON.stringify(this.messages.map((m) => m.type))}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; got ${JSON.stringify(this.messages.map((m) => m.type))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  /** Messages up to the next ReadyForQuery. */
  untilReady(): Promise<BackendMessage[]> {
    return this.until((m) => m.type === 'ReadyForQuery');
  }

  async simple(sql: string): Promise<SimpleResult> {
    this.send(serialize.query(sql));
    return summarise(await this.untilReady());
  }

  /** Drops the TCP connection without a Terminate message, as a crashed client would. */
  drop(): void {
    this.socket.destroy();
  }
}

export function summarise(messages: readonly BackendMessage[]): SimpleResult {
  const rows: (string | null)[][] = [];
  let error: ErrorFields | undefined;
  let status = '';
  for (const m of messages) {
    if (m.type === 'DataRow') rows.push(m.fields.map((f) => (f === null ? null : f.toString('utf8'))));
    if (m.type === 'ErrorResponse') error ??= m.fields;
    if (m.type === 'ReadyForQuery') status = m.status;
  }
  return { rows, error, status };
}
