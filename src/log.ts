// The process logger: structured JSON lines (pino) with secrets removed before anything
// is written. Redaction is by key name at any depth (pino's own path redaction cannot
// say "any depth"), plus a scrub of string values for JWTs, bearer credentials and
// passwords inside connection strings, plus a blanket rule for byte buffers (result
// values travel as Buffers). It must never write a token, a password, a bound parameter
// or a row value; what it keeps instead: the token's jti and hash, ids and decisions.
import { pino, type DestinationStream, type Logger } from 'pino';
import type { SessionEnd, SessionStart, StatementDecision } from './audit/store.js';
import { scrubTokens } from './audit/token-scrub.js';
import { DOES_NOT_PARSE } from './policy/decision.js';

export type { Logger } from 'pino';

export interface LoggerOptions {
  readonly level: string;
  /** Where lines go; default stdout. Anything with `write(line)` will do (tests). */
  readonly destination?: DestinationStream;
  /** Fields on every line, e.g. { service: 'tracegate', instance }. */
  readonly base?: Record<string, unknown>;
}

export const REDACTED = '[redacted]';

// Compared after lower-casing and dropping everything but letters and digits, so that
// client_secret, clientSecret and Client-Secret are one key.
const SECRET_KEYS: ReadonlySet<string> = new Set([
  'password',
  'passwd',
  'pwd',
  'pass',
  'passphrase',
  'token',
  'accesstoken',
  'idtoken',
  'refreshtoken',
  'bearer',
  'secret',
  'authorization',
  'proxyauthorization',
  'cookie',
  'setcookie',
  'credential',
  'credentials',
  'apikey',
  'privatekey',
  'sslkey',
  'signingkey',
  // Bound parameters and result rows are data, not diagnostics.
  'params',
  'parameters',
  'parametervalues',
  'values',
  'row',
  'rows',
  'datarow',
]);
const SECRET_SUFFIXES = ['password', 'secret', 'token', 'apikey', 'privatekey', 'credential', 'credentials', 'cookie'];
const MAX_DEPTH = 8;

export function isSecretKey(key: string): boolean {
  const k = key.toLowerCase().replace(/[^a-z0-9]/g, '');
  return SECRET_KEYS.has(k) || SECRET_SUFFIXES.some((suffix) => k.endsWith(suffix));
}

/** A string with JWTs, bearer/basic credentials and connection-string passwords removed. */
export function scrubString(text: string): string {
  let out = scrubTokens(text);
  if (/bearer|basic/i.test(out)) out = out.replace(/\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+/gi, `$1 ${REDACTED}`);
  if (/pass|pwd/i.test(out)) out = out.replace(/\b(password|passwd|pwd)=([^\s&;'"]+)/gi, `$1=${REDACTED}`);
  // The scheme is bounded (a real one is a few letters): unbounded, each of the many
  // places a scheme may start in "a.a.a.a..." read on to the run's end, and 64 KB of it
  // in a logged value held the event loop for seconds.
  if (out.includes('://')) out = out.replace(/(\b[a-z][a-z0-9+.-]{0,63}:\/\/[^\s:/@]+:)[^\s@/]+@/gi, `$1${REDACTED}@`);
  return out;
}

/** A deep copy of `value` fit for a log line (see the module comment). */
export function scrubForLog(value: unknown, depth = 0, seen: WeakSet<object> = new WeakSet()): unknown {
  if (typeof value === 'string') return scrubString(value);
  if (value === null || typeof value !== 'object') return value;
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return `[${value.byteLength} bytes]`;
  if (depth >= MAX_DEPTH) return '[nested too deep]';
  if (seen.has(value)) return '[circular]';
  seen.add(value);
  if (Array.isArray(value)) return value.map((v) => scrubForLog(v, depth + 1, seen));
  if (value instanceof Error) {
    const err: Record<string, unknown> = {
      type: value.name,
      message: scrubString(value.message),
      stack: value.stack === undefined ? undefined : scrubString(value.stack),
    };
    for (const [k, v] of Object.entries(value)) err[k] = isSecretKey(k) ? REDACTED : scrubForLog(v, depth + 1, seen);
    if (value.cause !== undefined) err['cause'] = scrubForLog(value.cause, depth + 1, seen);
    return err;
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = isSecretKey(k) ? REDACTED : scrubForLog(v, depth + 1, seen);
  }
  return out;
}

export function createLogger(options: LoggerOptions): Logger {
  const logger = pino(
    {
      level: options.level,
      base: (scrubForLog(options.base ?? {}) as Record<string, unknown>),
      timestamp: pino.stdTimeFunctions.isoTime,
      // scrubForLog already turned errors into plain objects (with their causes);
      // pino's serializer would re-type them and splice the causes' messages together.
      serializers: { err: (err: unknown) => err },
      formatters: {
        level: (label) => ({ level: label }),
        bindings: (bindings) => scrubForLog(bindings) as Record<string, unknown>,
        log: (object) => scrubForLog(object) as Record<string, unknown>,
      },
      hooks: {
        // The message and any interpolation arguments: formatters.log sees only the
        // merging object, not these.
        logMethod(args, method) {
          const clean = args.map((a, i) => (i === 0 && typeof a === 'object' ? a : scrubForLog(a)));
          method.apply(this, clean as Parameters<typeof method>);
        },
      },
    },
    options.destination ?? pino.destination(1),
  );
  // pino's own child(), from its prototype: an instance's `child` is replaced below, and
  // a child inherits its parent's, so the original must be captured before that.
  const pinoChild = logger.child as unknown as ChildFn;
  return guardChildren(logger, pinoChild);
}

type ChildFn = (this: Logger, bindings: object, childOptions?: object) => Logger;

// pino gives children an identity bindings formatter, so a child's bindings (say, a
// session context someone put a token in) are scrubbed here instead, at every level.
function guardChildren(logger: Logger, pinoChild: ChildFn): Logger {
  const guarded = (bindings: object, childOptions?: object): Logger =>
    guardChildren(pinoChild.call(logger, scrubForLog(bindings) as object, childOptions), pinoChild);
  logger.child = guarded as unknown as Logger['child'];
  return logger;
}

// ---- the fields of the per-session and per-decision lines ------------------------

export function sessionStartFields(s: SessionStart): Record<string, unknown> {
  return {
    event: 'session-start',
    sessionId: s.sessionId,
    subject: s.subject,
    groups: s.groups,
    tokenJti: s.tokenJti,
    tokenHash: s.tokenHash,
    clientAddress: s.clientAddress,
    applicationName: s.applicationName,
    tls: s.tls?.protocol ?? null,
    mode: s.mode,
  };
}

export function sessionEndFields(e: SessionEnd): Record<string, unknown> {
  return { event: 'session-end', sessionId: e.sessionId, reason: e.reason };
}

/** No SQL text and no parameters: those are in the audit record, found by its ids. */
export function decisionFields(d: StatementDecision): Record<string, unknown> {
  return {
    event: 'decision',
    sessionId: d.sessionId,
    statementId: d.statementId,
    decisionId: d.decisionId,
    decision: d.decision,
    enforced: d.enforced,
    rule: d.rule,
    // A parse error quotes the statement where it failed, literals and all: the log says
    // only that it did not parse; the audit record, found by the ids, has the whole reason.
    // Told by the reason, not the SQLSTATE, which a monitor-mode record does not carry.
    reason: d.reason.startsWith(DOES_NOT_PARSE) ? DOES_NOT_PARSE : d.reason,
    sqlstate: d.sqlstate,
    traceId: d.traceId,
    grantId: d.grantId,
    approvalId: d.approvalId,
  };
}
