// The logger never writes tokens, passwords, parameters or row values: proved by
// capturing what it actually writes.
import { describe, expect, test } from 'vitest';
import { createLogger, decisionFields, isSecretKey, sessionStartFields } from '../../src/log.js';
import { AuditUnavailableError } from '../../src/audit/audit-unavailable-error.js';
import { decision, sessionStart } from './audit/helpers.js';

const JWT = 'eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJhZ2VudC03IiwiYXVkIjoidHJhY2VnYXRlIn0.c2lnbmF0dXJlLWJ5dGVzLWhlcmU';
const SECRETS = [JWT, 'hunter2', 'sk-live-abcdef', 'opaque-token-123', 'rowvalue@example.com', 's3cr3t-param', 'upstream-pw'];

function capture(level = 'debug'): { lines: () => Record<string, unknown>[]; raw: () => string; logger: ReturnType<typeof createLogger> } {
  const chunks: string[] = [];
  const logger = createLogger({ level, destination: { write: (s: string) => void chunks.push(s) } });
  return {
    logger,
    raw: () => chunks.join(''),
    lines: () => chunks.join('').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('createLogger redaction', () => {
  test('secret keys at any depth, tokens in strings, errors, messages and bindings', () => {
    const { logger, raw, lines } = capture();
    logger.info({ password: 'hunter2', upstream: { host: 'db', Password: 'upstream-pw' } }, 'connecting');
    logger.info({ headers: { authorization: `Bearer ${JWT}`, 'x-request-id': 'r-1' } }, 'admin request');
    logger.info({ oidc: { clientSecret: 'sk-live-abcdef', accessToken: 'opaque-token-123' } }, 'issuer');
    logger.warn({ err: new Error(`token rejected: ${JWT}`) }, 'auth failed');
    logger.info(`login with ${JWT}`);
    logger.info('dsn %s', 'postgres://tracegate:upstream-pw@db:5432/traces');
    logger.child({ token: JWT, sessionId: 's-1' }).child({ nested: { password: 'hunter2' } }).info('child line');
    logger.debug({ statement: { params: ['s3cr3t-param'], rows: [['rowvalue@example.com']] } }, 'statement');
    logger.debug({ frame: { type: 'DataRow', fields: [Buffer.from('rowvalue@example.com')] } }, 'row');
    logger.error(
      { err: new AuditUnavailableError('audit store cannot record', { cause: new Error(`disk full writing ${JWT}`) }) },
      'fail closed',
    );

    const out = raw();
    for (const secret of SECRETS) expect(out).not.toContain(secret);
    expect(out).not.toContain('eyJ');
    const parsed = lines();
    expect(parsed).toHaveLength(10);
    expect(parsed[0]).toMatchObject({ level: 'info', msg: 'connecting', password: '[redacted]', upstream: { host: 'db', Password: '[redacted]' } });
    expect(parsed[1]).toMatchObject({ headers: { authorization: '[redacted]', 'x-request-id': 'r-1' } });
    expect(parsed[3]).toMatchObject({ err: { type: 'Error', message: expect.stringMatching(/^token rejected: \[jwt sha256:[0-9a-f]{64}\]$/) } });
    expect(parsed[5]?.['msg']).toBe('dsn postgres://tracegate:[redacted]@db:5432/traces');
    expect(parsed[6]).toMatchObject({ token: '[redacted]', sessionId: 's-1', nested: { password: '[redacted]' } });
    expect(parsed[8]).toMatchObject({ frame: { type: 'DataRow', fields: ['[20 bytes]'] } });
    expect(parsed[9]).toMatchObject({ err: { type: 'AuditUnavailableError', sqlstate: '58030', cause: { type: 'Error' } } });
  });

  test('a connection string is redacted behind text that offers many places for a scheme to start', () => {
    const { logger, lines } = capture();
    // A client's trace id reaches the decision line. A dotted run that is no scheme (a
    // space ends it) once cost time quadratic in its length here: every 'a' in it
    // started a scheme that was read to the run's end.
    const prefix = `${'a.'.repeat(20_000)} `;
    logger.info({ traceId: `${prefix}postgres://tracegate:upstream-pw@db/x` }, 'decision');
    logger.info({ traceId: `${prefix}x.a-b+c.postgresql://u:upstream-pw@db` }, 'decision');
    const [first, second] = lines();
    expect(first?.['traceId']).toBe(`${prefix}postgres://tracegate:[redacted]@db/x`);
    expect(second?.['traceId']).toBe(`${prefix}x.a-b+c.postgresql://u:[redacted]@db`);
  });

  test('session and decision lines carry ids and the token hash, not text or parameters', () => {
    const { logger, raw, lines } = capture();
    logger.info(sessionStartFields(sessionStart({ tokenHash: 'f'.repeat(64) })), 'session start');
    logger.info(decisionFields(decision({ parameters: ['s3cr3t-param'], text: "SELECT 'rowvalue@example.com'" })), 'decision');
    expect(raw()).not.toContain('s3cr3t-param');
    expect(raw()).not.toContain('rowvalue@example.com');
    const [start, decided] = lines();
    expect(start).toMatchObject({ event: 'session-start', sessionId: 's-1', tokenJti: 'jti-1', tokenHash: 'f'.repeat(64) });
    expect(decided).toMatchObject({ event: 'decision', decisionId: 'd-1', decision: 'allow', traceId: 't-1', grantId: 'g-1' });
  });

  // The parser's message quotes the statement where it failed: a literal there (a key
  // an agent pasted into a mistyped query) must not reach stdout through the reason.
  test("a decision line for a statement that does not parse does not quote the parser's message", () => {
    const { logger, raw, lines } = capture();
    const reason = `the statement does not parse: syntax error at or near "'hunter2'"`;
    logger.info(decisionFields(decision({ decision: 'deny', text: "SELECT 'x' 'hunter2'", reason, sqlstate: '42601' })), 'decision');
    // In monitor mode the denial is recorded as not enforced, with no SQLSTATE.
    logger.info(decisionFields(decision({ decision: 'deny', enforced: false, text: "SELECT 'x' 'hunter2'", reason, sqlstate: null })), 'decision');
    expect(raw()).not.toContain('hunter2');
    expect(lines().map((l) => l['reason'])).toEqual(['the statement does not parse', 'the statement does not parse']);
  });

  test('key classification', () => {
    for (const k of ['password', 'client_secret', 'Authorization', 'accessToken', 'id_token', 'apiKey', 'PRIVATE_KEY', 'params', 'rows']) {
      expect(isSecretKey(k), k).toBe(true);
    }
    for (const k of ['tokenHash', 'tokenJti', 'sessionId', 'subject', 'traceId', 'decision', 'reason']) {
      expect(isSecretKey(k), k).toBe(false);
    }
  });
});
