// The session-level upstream pool: a client session takes an idle upstream connection
// that is already logged in with tracegate's own credential (or opens one), and when
// the client leaves, the connection is reset and kept for the next client. It saves the
// upstream login (SCRAM's key stretching) and Postgres's backend start per client.
//
// The next client must not see anything of the last one, so a connection comes back
// only in a known clean state, and otherwise is closed (fail closed):
// - The relay says everything it forwarded was answered by ReadyForQuery and nothing
//   is half-read, pending a decision, or in COPY (`settled`, relay.ts); else closed.
// - No cancel was ever sent for it: a CancelRequest in flight (Postgres delivers it as
//   a signal, asynchronously) could land on the next client's statement; closed.
// - Reset: ROLLBACK if a transaction is open, then DISCARD ALL, which closes portals
//   and cursors, drops prepared statements (named, and the unnamed one, which any
//   simple Query drops), temp tables, advisory locks, LISTENs, sequence and plan
//   caches, and does SET SESSION AUTHORIZATION DEFAULT (which also ends a SET ROLE,
//   always blocked by the policy anyway) and RESET ALL. RESET ALL returns every
//   setting to the connection's startup values: that is why the pins (read-only
//   default, statement_timeout, search_path, ...) and the client's startup parameters
//   are startup options (startup-params.ts), and why idle connections are kept per
//   exact set of startup parameters. Then setseed with a fresh random value: DISCARD
//   ALL leaves random()'s generator where the last client left it, seeded as that
//   client chose. Any answer but the expected ones (an error, a row other than
//   setseed's, a COPY), or a final state other than idle outside a transaction, closes
//   the connection. test/integration/foundation/pool.test.ts checks each of these.
// - While idle, any byte from the server (a FATAL from pg_terminate_backend, a server
//   shutdown) or a closed socket drops it; so do the idle timeout and max lifetime,
//   and a rotated upstream password (credential.ts): a connection logged in with the
//   old one is closed rather than reused.
import { randomInt } from 'node:crypto';
import { serialize } from 'pg-protocol';
import { Parser } from 'pg-protocol/dist/parser.js';
import type { BackendMessage as PgMessage } from 'pg-protocol/dist/messages.js';
import { cancelUpstream, connectUpstream, type UpstreamConnection, type UpstreamEndpoint } from './connect.js';
import type { UpstreamCredential } from './credential.js';

export interface UpstreamTarget {
  readonly endpoint: UpstreamEndpoint;
  readonly database: string;
  readonly user: string;
  readonly credential: UpstreamCredential;
}

export interface PoolSettings {
  /** Idle connections kept at most; 0 turns pooling off (one upstream login per client). */
  readonly maxIdle: number;
  /** An idle connection unused this long is closed. */
  readonly idleTimeoutMs: number;
  /** A connection this old is closed when it comes back, not reused. */
  readonly maxLifetimeMs: number;
}

/** The transaction status of the last ReadyForQuery when the session is settled. */
export type SettledStatus = 'I' | 'T' | 'E';

export interface UpstreamLease {
  readonly connection: UpstreamConnection;
  /** Whether the connection served an earlier client. */
  readonly reused: boolean;
  /**
   * Cancels what the upstream runs for this client. Once the lease is released it does
   * nothing: the backend may serve another client by then. A cancelled connection is
   * never reused.
   */
  cancel(): Promise<void>;
  /**
   * The client is gone. `settled` is the transaction status when everything sent
   * upstream has been answered and nothing else is pending, null otherwise (the
   * connection is then closed). Only the first call counts.
   */
  release(settled: SettledStatus | null): void;
}

export interface PoolStats {
  readonly idle: number;
  readonly opened: number;
  readonly reused: number;
  readonly resets: number;
  readonly discarded: Readonly<Record<string, number>>;
}

export type DiscardReason =
  | 'unsettled'
  | 'cancelled'
  | 'socket-closed'
  | 'reset-failed'
  | 'idle-data'
  | 'idle-timeout'
  | 'max-lifetime'
  | 'credential-rotated'
  | 'pool-full'
  | 'pool-closed';

// Events whose listeners a session adds to the socket and which are taken off again
// when the connection comes back (Node's own listeners stay).
const EVENTS = ['data', 'drain', 'close', 'error', 'end', 'timeout'] as const;

interface Member {
  readonly connection: UpstreamConnection;
  readonly parameters: Map<string, string>;
  readonly key: string;
  readonly version: number;
  readonly createdAt: number;
  idleTimer: NodeJS.Timeout | undefined;
  idleListeners: (() => void) | undefined;
  gone: boolean;
}

export class UpstreamPool {
  private readonly idle = new Map<string, Member[]>();
  private idleCount = 0;
  private closed = false;
  private opened = 0;
  private reused = 0;
  private resets = 0;
  private readonly discarded: Record<string, number> = {};
  private readonly closing = new Set<Promise<void>>();
  // The last key made: clients with the same startup parameters (the usual case) share
  // one string instead of each member holding its own ~0.3 KB copy.
  private lastKey = '';

  constructor(
    private readonly target: UpstreamTarget,
    private readonly settings: PoolSettings,
    private readonly now: () => number,
    private readonly onDiscard: (reason: DiscardReason) => void = () => undefined,
  ) {}

  async acquire(parameters: Readonly<Record<string, string>>): Promise<UpstreamLease> {
    const key = this.sharedKey(keyOf(parameters));
    const credential = this.target.credential.current();
    for (let member = this.takeIdle(key); member; member = this.takeIdle(key)) {
      const unusable = this.unusable(member, credential.version);
      if (unusable) {
        this.discard(member, unusable, true);
        continue;
      }
      this.reused++;
      return this.lease(member, true);
    }
    const connection = await connectUpstream({
      ...this.target.endpoint,
      database: this.target.database,
      user: this.target.user,
      password: credential.password,
      parameters,
    });
    this.opened++;
    // For the connection's whole life, so that a socket error between owners (after a
    // lease, before the relay listens; idle) cannot go unhandled and end the process.
    // Each owner has its own listener for what an error means to it; the close follows.
    // It captures the socket alone: capturing `connection` would keep the login's
    // ParameterStatus Map alive beside the copy below, for the connection's whole life.
    const socket = connection.socket;
    socket.on('error', () => socket.destroy());
    // The reset updates the parameters the server reports, for the next client's login.
    const reported = new Map<string, string>();
    for (const [name, value] of connection.parameters) reported.set(intern(name), intern(value));
    return this.lease(
      {
        connection: { ...connection, parameters: reported },
        parameters: reported,
        key,
        version: credential.version,
        createdAt: this.now(),
        idleTimer: undefined,
        idleListeners: undefined,
        gone: false,
      },
      false,
    );
  }

  stats(): PoolStats {
    return { idle: this.idleCount, opened: this.opened, reused: this.reused, resets: this.resets, discarded: { ...this.discarded } };
  }

  /** Closes every idle connection; connections still in use are closed when released. */
  async close(): Promise<void> {
    this.closed = true;
    for (const members of [...this.idle.values()]) for (const member of [...members]) this.discard(member, 'pool-closed', true);
    await Promise.all([...this.closing]);
  }

  private lease(member: Member, reused: boolean): UpstreamLease {
    const socket = member.connection.socket;
    // The listeners the connection had when leased, per EVENTS entry: a few at most, so
    // plain arrays (a Map of Sets was about 1 KB per session, held for its whole life).
    const own = EVENTS.map((e) => socket.listeners(e));
    let released = false;
    let cancelled = false;
    return {
      connection: member.connection,
      reused,
      cancel: () => {
        if (released) return Promise.resolve();
        cancelled = true;
        const { processId, secretKey } = member.connection;
        return cancelUpstream(this.target.endpoint, processId, secretKey);
      },
      release: (settled) => {
        if (released) return;
        released = true;
        EVENTS.forEach((event, i) => {
          const keep = own[i] ?? [];
          for (const listener of socket.listeners(event)) if (!keep.includes(listener)) socket.off(event, listener as (...args: unknown[]) => void);
        });
        if (settled === null) return this.discard(member, 'unsettled', false);
        if (cancelled) return this.discard(member, 'cancelled', false);
        const unusable = this.unusable(member, this.target.credential.current().version);
        if (unusable) return this.discard(member, unusable, false);
        this.reset(member, settled);
      },
    };
  }

  private unusable(member: Member, version: number): DiscardReason | undefined {
    const socket = member.connection.socket;
    if (this.closed) return 'pool-closed';
    if (socket.destroyed || !socket.readable || !socket.writable) return 'socket-closed';
    if (member.version !== version) return 'credential-rotated';
    if (this.now() - member.createdAt >= this.settings.maxLifetimeMs) return 'max-lifetime';
    return undefined;
  }

  private reset(member: Member, status: SettledStatus): void {
    const socket = member.connection.socket;
    // A session may end between corking the socket and its deferred uncork; whatever
    // it corked was answered (settled), so nothing but our reset is written from here.
    while (socket.writableCorked > 0) socket.uncork();
    const reseed = 'SELECT 1';
    const expected = [...(status === 'I' ? [] : ['ROLLBACK']), 'DISCARD ALL', reseed];
    const parser = new Parser();
    let answered = 0;
    let done = false;
    const finish = (failure: string | undefined): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onClose);
      if (failure !== undefined) {
        this.discard(member, 'reset-failed', false);
        return;
      }
      socket.pause();
      this.resets++;
      this.park(member);
    };
    const onMessage = (msg: PgMessage): void => {
      // More in the same read after the last ReadyForQuery: not an idle session.
      if (done) return this.discard(member, 'reset-failed', false);
      const m = msg as PgMessage & Record<string, unknown>;
      switch (msg.name) {
        case 'parameterStatus':
          member.parameters.set(intern(m['parameterName'] as string), intern(m['parameterValue'] as string));
          return;
        case 'notice':
          return;
        case 'rowDescription':
        case 'dataRow':
          // setseed's one row; a row anywhere else means the session was not idle.
          if (expected[answered] !== reseed) finish(`unexpected ${msg.name}`);
          return;
        case 'commandComplete':
          if (m['text'] !== expected[answered]) finish(`unexpected ${String(m['text'])}`);
          return;
        case 'readyForQuery':
          answered++;
          if (answered < expected.length) return;
          finish(m['status'] === 'I' ? undefined : `ended in transaction state ${String(m['status'])}`);
          return;
        default:
          finish(`unexpected ${msg.name}`);
      }
    };
    const onData = (chunk: Buffer): void => parser.parse(chunk, onMessage);
    const onClose = (): void => finish('socket closed');
    const timer = setTimeout(() => finish('timed out'), this.target.endpoint.connectTimeoutMs);
    timer.unref();
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.on('error', onClose);
    // A seed in [-1, 1) from 47 random bits (randomInt takes at most 48).
    const seed = randomInt(2 ** 47) / 2 ** 46 - 1;
    socket.write(
      Buffer.concat([...(status === 'I' ? [] : [serialize.query('ROLLBACK')]), serialize.query('DISCARD ALL'), serialize.query(`SELECT setseed(${seed})`)]),
    );
    socket.resume();
  }

  private park(member: Member): void {
    const unusable = this.unusable(member, this.target.credential.current().version);
    if (unusable) return this.discard(member, unusable, true);
    if (this.idleCount >= this.settings.maxIdle) return this.discard(member, 'pool-full', true);
    const socket = member.connection.socket;
    // An idle session hears nothing from Postgres unless it is being ended (a FATAL
    // from pg_terminate_backend or a shutdown): any byte, or a close, drops it.
    const onData = (): void => this.discard(member, 'idle-data', false);
    const onClose = (): void => this.discard(member, 'socket-closed', false);
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.on('error', onClose);
    member.idleListeners = () => {
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onClose);
    };
    member.idleTimer = setTimeout(() => this.discard(member, 'idle-timeout', true), this.settings.idleTimeoutMs);
    member.idleTimer.unref();
    socket.resume();
    const list = this.idle.get(member.key);
    if (list) list.push(member);
    else this.idle.set(member.key, [member]);
    this.idleCount++;
  }

  private sharedKey(key: string): string {
    if (key !== this.lastKey) this.lastKey = key;
    return this.lastKey;
  }

  /** The most recently parked connection for these startup parameters, taken out of the idle set. */
  private takeIdle(key: string): Member | undefined {
    const list = this.idle.get(key);
    const member = list?.pop();
    if (!member) return undefined;
    if (list?.length === 0) this.idle.delete(key);
    this.unpark(member);
    return member;
  }

  private unpark(member: Member): void {
    this.idleCount--;
    clearTimeout(member.idleTimer);
    member.idleTimer = undefined;
    member.idleListeners?.();
    member.idleListeners = undefined;
    member.connection.socket.pause();
  }

  private discard(member: Member, reason: DiscardReason, graceful: boolean): void {
    if (member.gone) return;
    member.gone = true;
    const list = this.idle.get(member.key);
    const at = list?.indexOf(member) ?? -1;
    if (list && at >= 0) {
      list.splice(at, 1);
      if (list.length === 0) this.idle.delete(member.key);
      this.unpark(member);
    }
    this.discarded[reason] = (this.discarded[reason] ?? 0) + 1;
    this.onDiscard(reason);
    const socket = member.connection.socket;
    if (!graceful || socket.destroyed) {
      socket.destroy();
      return;
    }
    // A clean connection says goodbye (Terminate), so the server logs no lost client.
    const closed = new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.setTimeout(1000, () => socket.destroy());
    }).finally(() => this.closing.delete(closed));
    this.closing.add(closed);
    socket.on('error', () => socket.destroy());
    socket.end(serialize.end());
  }
}

// The server reports the same ~15 parameter names and mostly the same values to every
// connection; each member kept its own decoded copies (~0.7 KB). Interned strings are
// shared. Bounded in count and length, because values such as application_name come
// from clients: other strings are kept as they are, which only costs the sharing.
const INTERN_MAX = 512;
const INTERN_MAX_LENGTH = 64;
const interned = new Map<string, string>();

function intern(text: string): string {
  const known = interned.get(text);
  if (known !== undefined) return known;
  if (interned.size < INTERN_MAX && text.length <= INTERN_MAX_LENGTH) interned.set(text, text);
  return text;
}

function keyOf(parameters: Readonly<Record<string, string>>): string {
  return JSON.stringify(Object.entries(parameters).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
