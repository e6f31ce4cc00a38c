// The per-connection state machine once a client is logged in: every frontend message
// is decoded and passes the statement gate before its bytes reach the upstream; every
// backend message is framed, attributed to the execution it answers (response-queue.ts)
// and relayed, DataRows and notices through the gate's masking. Messages nothing needs
// to inspect are relayed as the exact bytes that arrived.
//
// States: 'ready' (relaying), 'discarding' (a denial in an extended-protocol batch:
// skip everything up to Sync, as Postgres does after an error), 'closed'.
//
// Writes (Outbox): what one pass of a pump sends a socket goes out in one write, not
// one per message. Toward the upstream a batch is also held across a pending decision
// (Parse, then Bind waiting for its lookup and its audit record, then Execute...) as
// long as nothing in it asks the upstream to run or answer anything (Execute, Sync,
// Flush, Query): then Parse..Sync reaches Postgres as one packet, which saves Postgres
// a wake-up per message. Whatever can make the upstream work goes out before the relay
// waits, and an approval wait sends everything at once.
//
// Flow control (flow()): nothing is buffered without bound. Reading from the upstream
// stops while the client is not taking what we write it (so a slow reader stalls the
// upstream, as it would stall Postgres); reading from the client stops once
// CLIENT_READ_AHEAD bytes wait behind a pending decision, while the upstream is not
// taking what we forward, and while the client is not reading our answers (a client
// that pipelines denied statements without reading would otherwise have us queue every
// error for it). Each pump also stops at the first sign of backlog and resumes on
// 'drain'. A pending decision alone does not pause the client socket: most last
// microseconds, and pausing and resuming a socket twice per statement cost more.
import type net from 'node:net';
import {
  BackendCode,
  BackendReader,
  decodeBackend,
  encode,
  ProtocolError,
  type BackendFrame,
  type FieldDescription,
  type FrontendFrame,
  type FrontendReader,
  type TransactionStatus,
} from '../../protocol/index.js';
import { error as clientError, fatal, toErrorFields, tokenExpired, type ClientError } from '../errors.js';
import { ObjectNameMap } from './object-name.js';
import { Outbox } from './outbox.js';
import { ResponseQueue, type Describable, type Pending } from './response-queue.js';
import type { BoundPortal, Execution, PreparedStatement, StatementGate } from './statement-gate.js';

export interface RelayOptions {
  readonly maxMessageBytes: number;
  /** Ends the session when it has waited this long for its client; 0 never. */
  readonly idleTimeoutMs: number;
  readonly expiresAt: number;
  readonly now: () => number;
  readonly onInternalError: (correlationId: string, err: unknown) => void;
  /**
   * `running`: the upstream was still working on something for this client. `settled`:
   * the upstream session's transaction status when it can be reused (everything
   * forwarded was answered by ReadyForQuery, nothing half-read or awaiting a decision),
   * else null. The upstream socket is the caller's to close or reuse.
   */
  readonly onClose: (reason: string, running: boolean, settled: TransactionStatus | null) => void;
}

type State = 'ready' | 'discarding' | 'closed';

// What a client may send ahead while a decision is pending before we stop reading it.
const CLIENT_READ_AHEAD = 64 * 1024;

export class Relay {
  private state: State = 'ready';
  private readonly queue = new ResponseQueue();
  // Made on first use: an idle session (most of them, with a pooled client) never
  // prepares or binds anything, and two empty Maps are ~0.4 KB each session holds.
  // Keyed as Postgres tells names apart (object-name.ts): by their first 63 bytes.
  private statementMap: ObjectNameMap<StatementState> | undefined;
  private portalMap: ObjectNameMap<PortalState> | undefined;
  private readonly backend: BackendReader;
  private txStatus: TransactionStatus = 'I';
  private clientBusy = false;
  private upstreamBusy = false;
  // After an execution was failed by the gate, until the next ReadyForQuery.
  private suppressed = false;
  private barrier: Promise<void> | null = null;
  // Set by drain(): no further client message is read; the session ends with this
  // error once everything already forwarded has been answered.
  private drainError: ClientError | null = null;
  private idleTimer: NodeJS.Timeout | undefined;
  // Syncs (and simple Queries) forwarded, and ReadyForQuery answers seen: a portal bound
  // in epoch k is gone once answer k+1 reports an idle transaction state.
  private syncsSent = 0;
  private syncsAnswered = 0;
  // Extended-protocol messages forwarded since the last Sync or Query: the upstream is
  // mid-batch (possibly in an implicit transaction) even once they are all answered.
  private unsynced = false;
  // Cleared when the session fails (a protocol error on either side, an upstream that
  // sent what it should not): its upstream session is then never reused.
  private reusable = true;
  private readonly toUpstreamBox: Outbox;
  private readonly toClientBox: Outbox;
  // Set while the held upstream batch has a message that makes the upstream work.
  private upstreamRuns = false;
  // Nesting depth of pumps writing to the client: the outermost one flushes.
  private clientWriters = 0;
  // The last RowDescription's bytes and its decoded fields. While a client runs the same
  // query again, the same frozen fields come back, so what is derived from them (the
  // masking plan, the recorded event) is derived once, not per statement.
  private lastRowDescription: { readonly raw: Buffer; readonly fields: readonly FieldDescription[] } | null = null;

  private get statements(): ObjectNameMap<StatementState> {
    return (this.statementMap ??= new ObjectNameMap());
  }

  private get portals(): ObjectNameMap<PortalState> {
    return (this.portalMap ??= new ObjectNameMap());
  }

  constructor(
    private readonly client: net.Socket,
    private readonly reader: FrontendReader,
    private readonly upstream: net.Socket,
    private readonly gate: StatementGate,
    private readonly opts: RelayOptions,
  ) {
    this.backend = new BackendReader({ maxMessageBytes: 1024 * 1024 * 1024 });
    this.toUpstreamBox = new Outbox(upstream, () => this.flow());
    this.toClientBox = new Outbox(client, () => this.flow());
  }

  start(): void {
    this.client.on('data', (chunk: Buffer) => this.fromClient(chunk));
    this.upstream.on('data', (chunk: Buffer) => this.fromUpstream(chunk));
    this.client.on('drain', () => this.resumeAfterDrain());
    this.upstream.on('drain', () => this.resumeAfterDrain());
    this.client.on('close', () => this.close('client disconnected'));
    this.client.on('error', () => this.close('client connection error'));
    this.upstream.on('close', () => this.upstreamLost());
    this.upstream.on('error', () => this.upstreamLost());
    if (this.opts.idleTimeoutMs > 0) this.idleTimer = setTimeout(() => this.idle(), this.opts.idleTimeoutMs);
    this.flow();
    // Frames the login phase already read past the password message.
    if (this.reader.buffered > 0) this.pumpClient();
  }

  /** Pauses or resumes each side according to the rules at the top of this file. */
  private flow(): void {
    if (this.state === 'closed') return;
    const clientBacklog = this.client.writableNeedDrain;
    if (this.upstreamBusy || clientBacklog) this.upstream.pause();
    else this.upstream.resume();
    const heldBack = this.clientBusy && this.reader.buffered >= CLIENT_READ_AHEAD;
    if (heldBack || clientBacklog || this.upstream.writableNeedDrain || this.drainError) this.client.pause();
    else this.client.resume();
  }

  private resumeAfterDrain(): void {
    if (this.state === 'closed') return;
    this.flow();
    if (!this.upstreamBusy && this.backend.buffered > 0) this.pumpUpstream();
    if (!this.clientBusy && this.reader.buffered > 0) this.pumpClient();
  }

  private get backlogged(): boolean {
    return this.client.writableNeedDrain || this.upstream.writableNeedDrain;
  }

  private flushUpstream(): void {
    this.upstreamRuns = false;
    this.toUpstreamBox.flush();
  }

  /**
   * The idle timer fired. Waiting for the upstream (a statement running, a result
   * streaming to a slow client) or for a decision is not idle; waiting for the client
   * is. Codes and texts are Postgres's own for idle_session_timeout and
   * idle_in_transaction_session_timeout.
   */
  private idle(): void {
    if (this.state === 'closed') return;
    if (this.queue.length > 0 || this.clientBusy || this.upstreamBusy) {
      this.idleTimer?.refresh();
      return;
    }
    this.terminate(
      this.txStatus === 'I'
        ? fatal('57P05', 'terminating connection due to idle-session timeout')
        : fatal('25P03', 'terminating connection due to idle-in-transaction timeout'),
    );
  }

  /** Shutdown: read nothing more from the client, end once what it sent is answered. */
  drain(err: ClientError): void {
    if (this.state === 'closed' || this.drainError) return;
    this.drainError = err;
    this.flow();
    this.endIfDrained();
  }

  private endIfDrained(): void {
    if (this.drainError && this.queue.length === 0 && !this.clientBusy && !this.upstreamBusy) this.terminate(this.drainError);
  }

  /** Ends the session with a FATAL error (revocation, expiry, shutdown). */
  terminate(err: ClientError): void {
    if (this.state === 'closed') return;
    this.sendError(err);
    this.close(err.message);
  }

  /** Holds client messages back until `settled` (an upstream cancel in flight). */
  holdClientUntil(settled: Promise<void>): void {
    const previous = this.barrier;
    this.barrier = previous ? previous.then(() => settled) : settled;
  }

  /** An asynchronous NoticeResponse, sent at once (e.g. "waiting for approval"). */
  notice(message: string, detail?: string): void {
    if (this.state === 'closed') return;
    // A notice announces a long wait (an approval): what was decided before it goes now.
    this.flushUpstream();
    this.toClientBox.add(encode.noticeResponse({ severity: 'NOTICE', code: '00000', message, ...(detail === undefined ? {} : { detail }) }));
    if (this.clientWriters === 0) this.toClientBox.flush();
  }

  get closed(): boolean {
    return this.state === 'closed';
  }

  // ---- client -> upstream -------------------------------------------------------

  private fromClient(chunk: Buffer): void {
    this.idleTimer?.refresh();
    try {
      this.reader.push(chunk);
    } catch (err) {
      this.fail(err);
      return;
    }
    if (!this.clientBusy) this.pumpClient();
    else if (this.reader.buffered >= CLIENT_READ_AHEAD) this.flow();
  }

  private pumpClient(): void {
    this.clientWriters++;
    try {
      this.pumpClientFrames();
    } finally {
      if (--this.clientWriters === 0) this.toClientBox.flush();
    }
  }

  private pumpClientFrames(): void {
    // Set when the pump stops to wait for a decision or a cancel: then a batch that asks
    // the upstream for nothing yet is held until the rest of it is decided.
    let waiting = false;
    try {
      for (;;) {
        if (this.state === 'closed') return;
        if (this.barrier) {
          const barrier = this.barrier;
          this.barrier = null;
          this.clientBusy = true;
          waiting = true;
          this.flow();
          void barrier.finally(() => this.clientUnblocked());
          return;
        }
        // What the client already sent waits in the reader until the backlog drains.
        if (this.drainError || this.backlogged) return this.flow();
        const frame = this.reader.read();
        if (!frame) return;
        const pending = this.handleClient(frame);
        if (pending) {
          // A decision needs I/O (a lookup, an audit write, an approval): hold further
          // client messages until it is done, so they are decided in order.
          this.clientBusy = true;
          waiting = true;
          this.flow();
          pending.catch((err: unknown) => this.deny(err, frame)).finally(() => this.clientUnblocked());
          return;
        }
      }
    } catch (err) {
      this.fail(err);
    } finally {
      if (!waiting || this.upstreamRuns) this.flushUpstream();
    }
  }

  private clientUnblocked(): void {
    this.clientBusy = false;
    if (this.state === 'closed') return;
    this.flow();
    this.pumpClient();
    this.endIfDrained();
  }

  /** Returns a promise when the message must wait for I/O before the next one. */
  private handleClient(frame: FrontendFrame): Promise<void> | undefined {
    const msg = frame.message;
    if (this.state === 'discarding') {
      if (msg.type === 'Terminate') return this.close('client terminated'), undefined;
      if (msg.type !== 'Sync') return undefined;
      this.state = 'ready';
    }
    try {
      switch (msg.type) {
        case 'Query': {
          this.checkExpiry();
          return settle(this.gate.query(msg.sql), (executions) => {
            this.toUpstream(frame.raw, true);
            this.queue.push({ kind: 'query', executions, index: 0 });
            this.syncsSent++;
          });
        }
        case 'Parse': {
          this.checkExpiry();
          // Our map must be exactly what the upstream holds: a decision taken on one text
          // while the upstream runs another is a bypass. Postgres refuses a named
          // statement that exists, keeping the old one, so refuse it here first.
          if (msg.name !== '' && this.statements.has(msg.name)) throw clientError('42P05', `prepared statement "${msg.name}" already exists`);
          return settle(this.gate.parse(msg.name, msg.sql, msg.paramTypes), (analysis) => {
            const statement: StatementState = { name: msg.name, sql: msg.sql, paramTypes: msg.paramTypes, analysis, fields: undefined };
            this.statements.set(msg.name, statement);
            this.toUpstream(frame.raw);
            this.queue.push({ kind: 'parse', failed: () => this.statements.forget(msg.name, statement) });
          });
        }
        case 'Bind': {
          this.checkExpiry();
          const statement = this.statements.get(msg.statement);
          if (!statement) throw clientError('26000', `prepared statement "${msg.statement}" does not exist`);
          // Same reasoning for portals: a second Bind of a live named portal fails
          // upstream and the OLD portal (with the old decision's trace) would run.
          if (msg.portal !== '' && this.portals.has(msg.portal)) throw clientError('42P03', `portal "${msg.portal}" already exists`);
          return settle(this.gate.bind(statement, msg.params, msg.paramFormats), (decision) => {
            const portal: PortalState = {
              name: msg.portal,
              statement,
              params: msg.params,
              paramFormats: msg.paramFormats,
              resultFormats: msg.resultFormats,
              decision,
              fields: undefined,
              describeSent: false,
              epoch: this.syncsSent,
            };
            this.portals.set(msg.portal, portal);
            this.toUpstream(frame.raw);
            this.queue.push({ kind: 'bind', failed: () => this.portals.forget(msg.portal, portal) });
          });
        }
        case 'Describe': {
          const target: Describable | undefined = msg.kind === 'S' ? this.statements.get(msg.name) : this.portals.get(msg.name);
          if (target && msg.kind === 'P') (target as PortalState).describeSent = true;
          this.toUpstream(frame.raw);
          this.queue.push({ kind: 'describe', target: target ?? { fields: undefined }, swallow: false });
          return undefined;
        }
        case 'Execute': {
          this.checkExpiry();
          const portal = this.portals.get(msg.portal);
          if (!portal) throw clientError('34000', `portal "${msg.portal}" does not exist`);
          return settle(this.gate.execute(portal, msg.maxRows), (execution) => {
            if (!portal.describeSent && portal.statement.fields === undefined) {
              // Nobody described this portal, but masking and recording need its
              // columns: ask the upstream ourselves and keep the answer from the client.
              portal.describeSent = true;
              this.toUpstream(describePortal(msg.portal));
              this.queue.push({ kind: 'describe', target: portal, swallow: true });
            }
            this.toUpstream(frame.raw, true);
            this.queue.push({ kind: 'execute', execution, described: false, fields: () => fieldsOf(portal) });
          });
        }
        case 'Close':
          if (msg.kind === 'S') this.statements.delete(msg.name);
          else this.portals.delete(msg.name);
          this.toUpstream(frame.raw);
          this.queue.push({ kind: 'close' });
          return undefined;
        case 'Sync':
          this.toUpstream(frame.raw, true);
          this.queue.push({ kind: 'sync' });
          this.syncsSent++;
          return undefined;
        case 'Flush':
          this.toUpstream(frame.raw, true);
          return undefined;
        case 'Terminate':
          this.close('client terminated');
          return undefined;
        case 'FunctionCall':
          throw clientError('42501', 'the function call protocol message is not allowed through tracegate');
        case 'CopyData':
        case 'CopyDone':
        case 'CopyFail':
          throw new ProtocolError(`unexpected ${msg.type} message: no COPY is in progress`);
        case 'StartupMessage':
        case 'SSLRequest':
        case 'GSSENCRequest':
        case 'CancelRequest':
        case 'PasswordMessage':
          throw new ProtocolError(`unexpected ${msg.type} message after login`);
        default:
          return assertNever(msg);
      }
    } catch (err) {
      this.deny(err, frame);
      return undefined;
    }
  }

  private checkExpiry(): void {
    if (this.opts.now() >= this.opts.expiresAt) throw tokenExpired();
  }

  /** A refusal of the message in `frame`: an error in protocol order, nothing forwarded. */
  private deny(err: unknown, frame: FrontendFrame): void {
    if (this.state === 'closed') return;
    const { fields, fatal: isFatal } = toErrorFields(err, this.opts.onInternalError);
    if (isFatal) {
      this.suppressed = false;
      this.sendNow(encode.errorResponse(fields));
      this.close(fields.message);
      return;
    }
    const simple = frame.message.type === 'Query' || frame.message.type === 'FunctionCall';
    const errorFrame = encode.errorResponse(fields);
    this.queue.push({
      kind: 'synthetic',
      extended: !simple,
      frames: () => (simple ? [errorFrame, encode.readyForQuery(this.txStatus)] : [errorFrame]),
    });
    if (!simple) this.state = 'discarding';
    this.releaseSynthetic();
  }

  /** `runs`: the message makes the upstream execute or answer (see Outbox above). */
  private toUpstream(raw: Buffer, runs = false): void {
    // A decision that settles after the session closed must not reach the upstream,
    // which may be serving another client by then.
    if (this.state === 'closed') return;
    this.unsynced = raw[0] !== 0x53 && raw[0] !== 0x51;
    if (runs) this.upstreamRuns = true;
    this.toUpstreamBox.add(raw);
  }

  // ---- upstream -> client -------------------------------------------------------

  private fromUpstream(chunk: Buffer): void {
    this.idleTimer?.refresh();
    try {
      this.backend.push(chunk);
    } catch (err) {
      this.fail(err);
      return;
    }
    if (!this.upstreamBusy) this.pumpUpstream();
  }

  private pumpUpstream(): void {
    this.clientWriters++;
    try {
      for (;;) {
        if (this.state === 'closed') return;
        if (this.client.writableNeedDrain) return this.flow();
        const frame = this.backend.read();
        if (!frame) return;
        const pending = this.handleUpstream(frame);
        if (pending) {
          this.upstreamBusy = true;
          this.flow();
          pending
            .catch((err: unknown) => this.fail(err))
            .finally(() => {
              this.upstreamBusy = false;
              if (this.state === 'closed') return;
              this.flow();
              this.pumpUpstream();
              this.endIfDrained();
            });
          return;
        }
      }
    } catch (err) {
      this.fail(err);
    } finally {
      if (--this.clientWriters === 0) this.toClientBox.flush();
    }
  }

  private rowDescriptionFields(frame: BackendFrame): readonly FieldDescription[] {
    const last = this.lastRowDescription;
    if (last && last.raw.equals(frame.raw)) return last.fields;
    const msg = decodeBackend(frame);
    if (msg.type !== 'RowDescription') throw new UpstreamProtocolError('bad RowDescription');
    const fields = Object.freeze(msg.fields.map((f) => Object.freeze(f)));
    // A copy: the frame may be a view of a read buffer that is reused.
    this.lastRowDescription = { raw: Buffer.from(frame.raw), fields };
    return fields;
  }

  private handleUpstream(frame: BackendFrame): Promise<void> | undefined {
    const head = this.queue.peek();
    // An Execute or Query pipelined after one the gate turned into an error: it ran, but
    // the client gets nothing until ReadyForQuery, and its recording must say so.
    if (this.suppressed && head?.kind === 'execute') head.execution.withhold(WITHHELD);
    if (this.suppressed && head?.kind === 'query') for (const e of head.executions) e.withhold(WITHHELD);
    if (head?.kind === 'execute' && !head.described) {
      // The first answer to an Execute: everything before it has been answered, so the
      // portal's columns are known now. Masking may need a catalog lookup first.
      head.described = true;
      const described = head.execution.describe(head.fields());
      if (described) return described.then(() => this.handleUpstream(frame));
    }
    switch (frame.code) {
      case BackendCode.DataRow: {
        const execution = currentExecution(head);
        const out = execution ? execution.row(frame.raw) : frame.raw;
        if (out) this.toClient(out);
        return undefined;
      }
      case BackendCode.RowDescription:
      case BackendCode.NoData: {
        const fields = frame.code === BackendCode.RowDescription ? this.rowDescriptionFields(frame) : null;
        if (head?.kind === 'describe') {
          this.queue.shift();
          head.target.fields = fields;
          if (!head.swallow) this.toClient(frame.raw);
          return this.releaseSynthetic();
        }
        if (head?.kind === 'query') {
          this.toClient(frame.raw);
          const execution = head.executions[head.index];
          return execution ? toPromise(execution.describe(fields)) : undefined;
        }
        return this.unexpected(frame);
      }
      case BackendCode.ParameterDescription: {
        if (head?.kind !== 'describe') return this.unexpected(frame);
        // Only a statement's Describe has one: the types the server fixed for its
        // parameters at Parse, inferred ones included. A Bind decided after this reads
        // binary values by these (asyncpg sends text parameters in binary format).
        const described = decodeBackend(frame);
        if ('paramTypes' in head.target && described.type === 'ParameterDescription') head.target.paramTypes = described.typeOids;
        if (!head.swallow) this.toClient(frame.raw);
        return undefined;
      }
      case BackendCode.CommandComplete:
      case BackendCode.EmptyQueryResponse:
      case BackendCode.PortalSuspended: {
        const tag = frame.code === BackendCode.CommandComplete ? commandTag(frame) : undefined;
        const suspended = frame.code === BackendCode.PortalSuspended;
        if (head?.kind === 'query') {
          const execution = head.executions[head.index];
          head.index++;
          if (execution?.deallocates !== undefined) this.deallocated(execution.deallocates);
          this.finish(execution ? execution.complete(frame.raw, { tag, suspended }) : frame.raw, frame.raw, head);
          return undefined;
        }
        if (head?.kind === 'execute') {
          this.queue.shift();
          this.finish(head.execution.complete(frame.raw, { tag, suspended }), frame.raw, head);
          return this.releaseSynthetic();
        }
        return this.unexpected(frame);
      }
      case BackendCode.ErrorResponse: {
        const decoded = decodeBackend(frame);
        const error = decoded.type === 'ErrorResponse' ? { code: decoded.fields.code, message: decoded.fields.message } : { code: 'XX000', message: 'error' };
        if (head?.kind === 'query') {
          const execution = head.executions[head.index];
          head.index++;
          this.toClient(execution ? execution.complete(frame.raw, { error }) : frame.raw);
          this.abandonRest(head, 'an earlier statement in the same message failed');
          return undefined;
        }
        if (head && head.kind !== 'sync' && head.kind !== 'synthetic') {
          const [failed, ...skipped] = this.queue.failExtended();
          if (failed?.kind === 'parse' || failed?.kind === 'bind') failed.failed();
          // The error answers the failed message, but the request it belongs to is the
          // Execute it stopped (a Bind can fail evaluating the plan): that execution
          // records it and masks it; later ones never ran.
          let owner = failed?.kind === 'execute' ? failed.execution : undefined;
          for (const item of skipped) {
            if (item.kind === 'execute') {
              if (owner) item.execution.abandon('skipped after an error');
              else owner = item.execution;
            }
            // Skipped, so never created upstream either.
            if (item.kind === 'parse' || item.kind === 'bind') item.failed();
            // A simple Query sent before the Sync is skipped too (Postgres ignores every
            // message but Sync until then): it never runs, so its request ends here and
            // its grant is revoked, as ResponseQueue.push does for one queued after the
            // error. Left open, the grant's expiry would cancel a later statement.
            // (Its ReadyForQuery never comes: syncsSent stays ahead, so the upstream
            // session is closed at the end rather than reused.)
            if (item.kind === 'query') this.abandonRest(item, 'skipped after an error');
          }
          this.toClient(owner ? owner.complete(frame.raw, { error }) : frame.raw);
          return this.releaseSynthetic();
        }
        // Not an answer to anything pending (the server is shutting down, or our
        // session was terminated): relay it; a FATAL one is followed by close.
        this.toClient(frame.raw);
        return undefined;
      }
      case BackendCode.NoticeResponse: {
        const execution = currentExecution(head);
        this.toClient(execution ? execution.message(frame.raw) : frame.raw);
        return undefined;
      }
      case BackendCode.ReadyForQuery: {
        if (head?.kind !== 'sync' && head?.kind !== 'query') return this.unexpected(frame);
        this.queue.shift();
        if (head.kind === 'query') this.abandonRest(head, 'not executed');
        this.txStatus = String.fromCharCode(frame.raw[5] ?? 0x49) as TransactionStatus;
        this.syncsAnswered++;
        // Outside a transaction block the upstream has dropped every portal bound before
        // this Sync; later Binds of the same names are new portals.
        if (this.txStatus === 'I') {
          this.portals.deleteWhere((portal) => portal.epoch < this.syncsAnswered);
        }
        this.suppressed = false;
        this.toClient(frame.raw);
        this.releaseSynthetic();
        this.endIfDrained();
        return undefined;
      }
      case BackendCode.ParseComplete:
      case BackendCode.BindComplete:
      case BackendCode.CloseComplete:
        if (head?.kind !== 'parse' && head?.kind !== 'bind' && head?.kind !== 'close') return this.unexpected(frame);
        this.queue.shift();
        this.toClient(frame.raw);
        return this.releaseSynthetic();
      case BackendCode.ParameterStatus:
      case BackendCode.NotificationResponse:
        this.toClient(frame.raw);
        return undefined;
      case BackendCode.CopyInResponse:
      case BackendCode.CopyOutResponse:
      case BackendCode.CopyBothResponse:
        // The policy blocks COPY; if the upstream starts one anyway, nothing of it may
        // flow in either direction.
        throw fatal('0A000', 'COPY is not supported through tracegate');
      default:
        return this.unexpected(frame);
    }
  }

  /** Sends the synthetic answers whose turn has come. */
  private releaseSynthetic(): undefined {
    for (;;) {
      const head = this.queue.peek();
      if (head?.kind !== 'synthetic') return undefined;
      this.queue.shift();
      for (const f of head.frames()) this.sendNow(f);
    }
  }

  /**
   * Sends an execution's terminal frame. When the gate turned a success into an error,
   * the client now expects nothing but ReadyForQuery: what the upstream still sends for
   * this message or batch is withheld (and the upstream was asked to cancel).
   */
  private finish(out: Buffer, original: Buffer, head: Pending): void {
    this.toClient(out);
    if (out === original || out[0] !== BackendCode.ErrorResponse) return;
    if (head.kind === 'query') this.abandonRest(head, 'an earlier statement in the same message failed');
    this.suppressed = true;
  }

  private deallocated(name: string | null): void {
    if (name === null) {
      this.statements.clear();
      this.portals.clear();
    } else {
      this.statements.delete(name);
    }
  }

  private abandonRest(head: Extract<Pending, { kind: 'query' }>, reason: string): void {
    for (; head.index < head.executions.length; head.index++) head.executions[head.index]?.abandon(reason);
  }

  private unexpected(frame: BackendFrame): undefined {
    throw new UpstreamProtocolError(`unexpected message 0x${frame.code.toString(16)} from the upstream`);
  }

  private toClient(raw: Buffer): void {
    if (this.suppressed) return;
    this.toClientBox.add(raw);
    if (this.clientWriters === 0) this.toClientBox.flush();
  }

  private sendNow(raw: Buffer): void {
    if (this.state === 'closed') return;
    this.toClient(raw);
  }

  private sendError(err: ClientError): void {
    this.suppressed = false;
    const { fields } = toErrorFields(err, this.opts.onInternalError);
    this.sendNow(encode.errorResponse(fields));
  }

  // ---- ending -------------------------------------------------------------------

  private fail(err: unknown): void {
    if (this.state === 'closed') return;
    this.reusable = false;
    if (err instanceof UpstreamProtocolError) {
      this.opts.onInternalError('upstream-protocol', err);
      this.sendError(fatal('08006', 'lost synchronisation with the upstream database'));
      this.close('upstream protocol error');
      return;
    }
    const { fields } = toErrorFields(err, this.opts.onInternalError);
    this.suppressed = false;
    this.sendNow(encode.errorResponse({ ...fields, severity: 'FATAL' }));
    this.close(fields.message);
  }

  private upstreamLost(): void {
    if (this.state === 'closed') return;
    this.reusable = false;
    this.sendError(fatal('08006', 'the upstream database closed the connection'));
    this.close('upstream closed');
  }

  private close(reason: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearTimeout(this.idleTimer);
    const running = this.queue.length > 0;
    const settled =
      this.reusable && !running && !this.clientBusy && !this.upstreamBusy && !this.unsynced && this.backend.buffered === 0 && this.syncsSent === this.syncsAnswered
        ? this.txStatus
        : null;
    for (const pending of this.queue.drain()) {
      if (pending.kind === 'execute') pending.execution.abandon(reason);
      if (pending.kind === 'query') this.abandonRest(pending, reason);
    }
    this.toClientBox.flush();
    this.toUpstreamBox.discard();
    this.client.end();
    this.client.setTimeout(1000, () => this.client.destroy());
    this.opts.onClose(reason, running, settled);
  }
}

class UpstreamProtocolError extends Error {}

function settle<T>(value: Promise<T> | T, then: (value: T) => void | Promise<void>): Promise<void> | undefined {
  if (value instanceof Promise) return value.then(then);
  const next = then(value);
  return next instanceof Promise ? next : undefined;
}

function toPromise(value: void | Promise<void>): Promise<void> | undefined {
  return value instanceof Promise ? value : undefined;
}

const WITHHELD = 'it ran, but its response was withheld: an earlier statement of the same pipeline failed';

function currentExecution(head: Pending | undefined): Execution | undefined {
  if (head?.kind === 'query') return head.executions[head.index];
  if (head?.kind === 'execute') return head.execution;
  return undefined;
}

function commandTag(frame: BackendFrame): string {
  const msg = decodeBackend(frame);
  return msg.type === 'CommandComplete' ? msg.tag : '';
}

interface StatementState extends PreparedStatement, Describable {
  /** As declared in Parse, until a Describe of the statement reports the server's. */
  paramTypes: readonly number[];
  /** The last portal's fields with its Bind's result formats: reused while they repeat. */
  bound?: { readonly source: readonly FieldDescription[]; readonly formats: readonly number[]; readonly fields: readonly FieldDescription[] };
}

interface PortalState extends BoundPortal, Describable {
  readonly statement: StatementState;
  describeSent: boolean;
  /** Syncs forwarded before it was bound. */
  readonly epoch: number;
}

/**
 * The columns an Execute's rows will have: the portal's own description, or else the
 * statement's, whose RowDescription always says text format: Bind chose the real ones.
 */
function fieldsOf(portal: PortalState): readonly FieldDescription[] | null {
  if (portal.fields !== undefined) return portal.fields;
  const statement = portal.statement;
  const fields = statement.fields;
  if (!fields) return null;
  const formats = portal.resultFormats;
  const last = statement.bound;
  if (last && last.source === fields && sameNumbers(last.formats, formats)) return last.fields;
  const bound = Object.freeze(fields.map((f, i) => Object.freeze({ ...f, format: (formats.length === 1 ? formats[0] : formats[i] ?? 0) === 1 ? (1 as const) : (0 as const) })));
  statement.bound = { source: fields, formats, fields: bound };
  return bound;
}

function sameNumbers(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function describePortal(name: string): Buffer {
  const len = 4 + 1 + Buffer.byteLength(name) + 1;
  const buf = Buffer.alloc(1 + len);
  buf[0] = 0x44;
  buf.writeInt32BE(len, 1);
  buf[5] = 0x50;
  buf.write(name, 6, 'utf8');
  return buf;
}

function assertNever(x: never): never {
  throw new Error(`unhandled message ${JSON.stringify(x)}`);
}
