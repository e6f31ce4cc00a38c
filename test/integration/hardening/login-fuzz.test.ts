// Fuzzing the startup and login path over real sockets (fast-check): random SSL/GSS
// preludes, startup packets (well-formed with hostile parameters, other protocol
// versions, byte-flipped, random), password messages (valid and invalid tokens,
// garbage, oversize, wrong message types), trailing bytes, all cut at random points.
// Whatever arrives, tracegate answers only with what a login may answer: 'N' to
// SSL/GSS requests, the password request, and on failure a FATAL error with a
// protocol or authentication SQLSTATE (never an internal XX000), after which the
// connection is closed. Only a valid token gets AuthenticationOk. The upstream is
// reached through a forwarder that notes each upstream StartupMessage's
// application_name, which every well-formed case sets to its own tag: the proxy dials
// the upstream only for cases that sent a valid token, exactly once for each that
// logged in, and never for anything else. A bystander session keeps working throughout.
import net from 'node:net';
import fc from 'fast-check';
import { serialize } from 'pg-protocol';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BackendReader, decodeBackend, type BackendMessage } from '../../../protocol/index.js';
import { BAD_TOKEN_KINDS, getToken, mintToken, mintValid, testEnv } from '../../helpers/env.js';
import { collect, rawLogin } from '../../helpers/raw-client.js';
import { cstr, int32, startupPacket, typed } from '../../unit/protocol/fixtures.js';
import { startForwarder, startHardenedProxy, type Forwarder, type HardenedProxy } from './harness.js';

const BATCH = 10;
const RUNS = 40;
// What a refused login may be told: protocol violation, no rule / TLS, bad token,
// unsupported protocol or replication, bad startup parameter value, bad UTF-8.
const LOGIN_CODES = new Set(['08P01', '28000', '28P01', '0A000', '22023', '22021']);

type PasswordKind = 'valid' | 'bad-token' | 'no-rule' | 'garbage' | 'none';

interface Case {
  readonly prelude: number;
  readonly passwordKind: PasswordKind;
  /** The bytes to send, with `tag` as application_name wherever the startup is well-formed. */
  readonly bytes: (tag: string) => Buffer;
  readonly cuts: number[];
}

let h: HardenedProxy;
let forwarder: Forwarder;
let validTokens: string[];
let badTokens: string[];
let noRuleToken: string;
let bystander: net.Socket;

beforeAll(async () => {
  const { pg } = testEnv();
  forwarder = await startForwarder({ host: pg.host, port: pg.port });
  h = await startHardenedProxy({
    upstream: { host: '127.0.0.1', port: forwarder.port, database: pg.database, user: pg.proxyUser, password: pg.proxyPassword },
    // Short, so that inputs that stop mid-message end quickly.
    limits: ['loginTimeout: 500ms'],
  });
  validTokens = await Promise.all([getToken('agent-a'), getToken('reviewer')]);
  badTokens = await Promise.all(BAD_TOKEN_KINDS.map((kind) => mintToken(kind)));
  noRuleToken = await mintValid({ sub: 'fuzz-nobody', groups: ['nobody'] });
  bystander = await rawLogin(h.port, validTokens[1] as string);
}, 60_000);
afterAll(async () => {
  bystander?.destroy();
  await h?.close();
  await forwarder?.close();
});

// ---- arbitraries ---------------------------------------------------------------------

const SSL_REQUEST = startupPacket(80877103);
const GSSENC_REQUEST = startupPacket(80877104);

const shortText = fc.string({ maxLength: 40 });
const hostileValue = fc.oneof(
  shortText,
  fc.constantFrom('UTF8', 'LATIN1', 'SQL_ASCII', 'true', 'database', 'off', '-c search_path=evil', "ISO, MDY'; DROP TABLE traces; --", 'x'.repeat(300)),
);
const paramName = fc.oneof(
  fc.constantFrom('application_name', 'client_encoding', 'replication', 'options', 'DateStyle', 'search_path', 'TimeZone', 'extra_float_digits', 'role', 'session_authorization'),
  shortText.filter((k) => k !== '' && !k.includes('\0')),
);
const extraParams = fc.uniqueArray(fc.tuple(paramName, hostileValue.filter((v) => !v.includes('\0'))), { maxLength: 4, selector: ([k]) => k });

// application_name carries the case's tag (the forwarder reads it back upstream),
// sometimes followed by a hostile suffix. It comes last, so that byte flips can be kept
// away from it.
const wellFormedStartup = fc
  .tuple(
    fc.constantFrom('agent', 'reviewer', 'postgres'),
    fc.option(fc.constantFrom('traces', 'postgres', 'template1')),
    extraParams,
    fc.option(hostileValue.filter((v) => !v.includes('\0'))),
  )
  .map(([user, database, extra, suffix]) => (tag: string) => {
    const params: Buffer[] = [cstr('user'), cstr(user)];
    if (database !== null) params.push(cstr('database'), cstr(database));
    for (const [k, v] of extra) if (k !== 'user' && k !== 'database' && k !== 'application_name') params.push(cstr(k), cstr(v));
    params.push(cstr('application_name'), cstr(suffix === null ? tag : `${tag} ${suffix}`));
    return startupPacket(196608, ...params, Buffer.of(0));
  });

const bytes = (max: number): fc.Arbitrary<Buffer> => fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a));

const brokenStartup: fc.Arbitrary<(tag: string) => Buffer> = fc.oneof(
  fc.oneof(
    bytes(64),
    fc.tuple(fc.integer({ min: 0, max: 0x7fffffff }), bytes(32)).map(([version, body]) => startupPacket(version, body)),
    fc.tuple(fc.integer({ min: -8, max: 20_000 }), bytes(32)).map(([len, body]) => Buffer.concat([int32(len), body])),
    fc.tuple(fc.integer(), fc.integer()).map(([pid, key]) => startupPacket(80877102, int32(pid), int32(key))),
  ).map((b) => () => b),
  // A well-formed packet with a few bytes changed before its application_name.
  fc.tuple(wellFormedStartup, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 3 })).map(([packet, flips]) => (tag: string) => {
    const b = Buffer.from(packet(tag));
    const keep = b.indexOf('application_name\0');
    for (const [at, v] of flips) b[at % keep] = v;
    return b;
  }),
);

interface PasswordPart {
  readonly kind: PasswordKind;
  readonly bytes: Buffer;
}

function passwordPart(): fc.Arbitrary<PasswordPart> {
  const asPassword = (token: string): Buffer => serialize.password(token);
  return fc.oneof(
    fc.constantFrom(...validTokens).map((t): PasswordPart => ({ kind: 'valid', bytes: asPassword(t) })),
    fc.constantFrom(...badTokens).map((t): PasswordPart => ({ kind: 'bad-token', bytes: asPassword(t) })),
    fc.constant<PasswordPart>({ kind: 'no-rule', bytes: asPassword(noRuleToken) }),
    fc
      .oneof(
        fc.constant(''),
        shortText.filter((s) => !s.includes('\0')),
        fc.tuple(fc.base64String({ maxLength: 60 }), fc.base64String({ maxLength: 60 }), fc.base64String({ maxLength: 60 })).map((p) => p.join('.')),
        fc.constant('e'.repeat(20_000)),
      )
      .map((s): PasswordPart => ({ kind: 'garbage', bytes: asPassword(s) })),
    // Not a clean cleartext password: raw bytes, bytes after the NUL, another type byte.
    bytes(80).map((b): PasswordPart => ({ kind: 'garbage', bytes: typed('p', b) })),
    fc.constantFrom(...validTokens).map((t): PasswordPart => ({ kind: 'garbage', bytes: typed('p', cstr(t), Buffer.from('x')) })),
    fc.tuple(fc.constantFrom('Q', 'P', 'B', 'X', 'd', 'F', '~'), bytes(40)).map(([code, b]): PasswordPart => ({ kind: 'garbage', bytes: typed(code, b) })),
    fc.constant<PasswordPart>({ kind: 'none', bytes: Buffer.alloc(0) }),
  );
}

function caseArb(): fc.Arbitrary<Case> {
  return fc
    .record({
      prelude: fc.array(fc.constantFrom(SSL_REQUEST, GSSENC_REQUEST), { maxLength: 2 }),
      startup: fc.oneof({ weight: 3, arbitrary: wellFormedStartup }, { weight: 1, arbitrary: brokenStartup }),
      password: passwordPart(),
      trailer: fc.oneof(fc.constant(Buffer.alloc(0)), bytes(40), fc.constant(serialize.query('SELECT 1'))),
      cuts: fc.array(fc.nat(), { maxLength: 6 }),
    })
    .map(({ prelude, startup, password, trailer, cuts }) => ({
      prelude: prelude.length,
      passwordKind: password.kind,
      bytes: (tag: string) => Buffer.concat([...prelude, startup(tag), password.bytes, trailer]),
      cuts,
    }));
}

// ---- one exchange --------------------------------------------------------------------

interface Exchange {
  readonly messages: BackendMessage[];
  readonly closed: boolean;
}

/**
 * Sends the case's bytes in pieces and reads what comes back until the proxy closes,
 * a login completes (plus a moment for the trailer's answer), or a deadline passes.
 * The single-byte answers to SSL/GSS requests come first and are stripped.
 */
function exchange(port: number, bytes: Buffer, c: Case): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const reader = new BackendReader({ maxMessageBytes: 1 << 20 });
    const messages: BackendMessage[] = [];
    let singles = c.prelude;
    let closed = false;
    let settle: NodeJS.Timeout | undefined;
    const finish = (): void => {
      clearTimeout(deadline);
      clearTimeout(settle);
      socket.destroy();
      resolve({ messages, closed });
    };
    const deadline = setTimeout(finish, 2500);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      closed = true;
      finish();
    });
    socket.on('data', (chunk: Buffer) => {
      let data = chunk;
      while (singles > 0 && data.length > 0 && data[0] === 0x4e) {
        singles--;
        data = data.subarray(1);
      }
      // Anything else ends the single-byte answers, even if fewer came than were asked.
      if (data.length > 0) singles = 0;
      try {
        reader.push(data);
        for (let f = reader.read(); f; f = reader.read()) {
          const m = decodeBackend(f);
          messages.push(m);
          if (m.type === 'ReadyForQuery') settle ??= setTimeout(finish, 150);
        }
      } catch (err) {
        clearTimeout(deadline);
        socket.destroy();
        reject(new Error(`the proxy sent bytes that do not decode: ${String(err)}`));
      }
    });
    socket.once('connect', async () => {
      const points = [...new Set(c.cuts.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b);
      let prev = 0;
      for (const p of [...points, bytes.length]) {
        if (socket.destroyed) return;
        if (p > prev) socket.write(bytes.subarray(prev, p));
        prev = p;
        await new Promise((r) => setImmediate(r));
      }
    });
  });
}

// ---- the property --------------------------------------------------------------------

/** Upstream dials since `from`, by the tag in their application_name. */
function dialsByTag(from: number): Map<string, number> {
  const byTag = new Map<string, number>();
  for (const name of forwarder.applicationNames.slice(from)) {
    const tag = name.split(' ')[0] ?? '';
    byTag.set(tag, (byTag.get(tag) ?? 0) + 1);
  }
  return byTag;
}

/** Lets connections the proxy is still making upstream reach the forwarder. */
function settled(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 100));
}

describe('the login path under hostile input', () => {
  test('answers only with login messages and FATAL protocol/auth errors, logs in only valid tokens, dials the upstream only for them', async () => {
    let inputs = 0;
    let logins = 0;
    const codes = new Map<string, number>();
    const dialsBefore = forwarder.connections - forwarder.cancelRequests;
    const namesBefore = forwarder.applicationNames.length;
    const kinds = new Map<string, PasswordKind>();
    await fc.assert(
      fc.asyncProperty(fc.array(caseArb(), { minLength: BATCH, maxLength: BATCH }), async (cases) => {
        const tags = cases.map(() => `fz-${inputs++}`);
        for (const [i, c] of cases.entries()) kinds.set(tags[i] as string, c.passwordKind);
        const results = await Promise.all(cases.map((c, i) => exchange(h.port, c.bytes(tags[i] as string), c)));
        await settled();
        const dialled = dialsByTag(namesBefore);
        for (const [i, r] of results.entries()) {
          const c = cases[i] as Case;
          const tag = tags[i] as string;
          // The upstream is dialled for a valid token only, and once for each login.
          if (c.passwordKind !== 'valid') expect(dialled.get(tag) ?? 0).toBe(0);
          const okAt = r.messages.findIndex((m) => m.type === 'AuthenticationOk');
          const loginPhase = okAt < 0 ? r.messages : r.messages.slice(0, okAt);
          for (const m of loginPhase) expect(['AuthenticationCleartextPassword', 'ErrorResponse']).toContain(m.type);
          for (const m of r.messages) {
            if (m.type !== 'ErrorResponse') continue;
            codes.set(m.fields.code, (codes.get(m.fields.code) ?? 0) + 1);
            expect(m.fields.code).not.toBe('XX000');
            if (okAt < 0) {
              expect(m.fields.severity).toBe('FATAL');
              // 08001 only once the token was verified: the upstream refused the
              // session (e.g. a TimeZone value the proxy passes and Postgres rejects).
              if (m.fields.code === '08001') expect(c.passwordKind).toBe('valid');
              else expect(LOGIN_CODES).toContain(m.fields.code);
            }
            // A FATAL error is the last word: the connection is closed right after.
            if (m.fields.severity === 'FATAL') {
              expect(r.messages.at(-1)).toBe(m);
              expect(r.closed).toBe(true);
            }
          }
          if (okAt >= 0) {
            logins++;
            expect(c.passwordKind).toBe('valid');
            expect(dialled.get(tag)).toBe(1);
          }
          // With a clean startup, the token decides the answer and its SQLSTATE.
          const asked = r.messages[0]?.type === 'AuthenticationCleartextPassword';
          if (asked && c.passwordKind === 'bad-token') expect(r.messages[1]).toMatchObject({ type: 'ErrorResponse', fields: { code: '28P01' } });
          if (asked && c.passwordKind === 'no-rule') expect(r.messages[1]).toMatchObject({ type: 'ErrorResponse', fields: { code: '28000' } });
        }
      }),
      { numRuns: RUNS },
    );
    // Every upstream login belongs to a case that sent a valid token (a valid login can
    // still time out or be refused for its startup parameters after the dial). Cancels
    // (a client that left with its trailing query in flight) are not logins.
    const dials = forwarder.connections - forwarder.cancelRequests - dialsBefore;
    expect(dials).toBeGreaterThanOrEqual(logins);
    for (const [tag, n] of dialsByTag(namesBefore)) {
      expect(kinds.get(tag), `upstream dialled for ${JSON.stringify(tag)}`).toBe('valid');
      expect(n).toBe(1);
    }
    // Not vacuous: the generator reaches both outcomes and a spread of refusals.
    expect(inputs).toBe(BATCH * RUNS);
    expect(logins).toBeGreaterThan(10);
    for (const code of ['08P01', '28P01', '28000']) expect(codes.get(code) ?? 0).toBeGreaterThan(0);

    // Nothing leaked: no session left behind, and the bystander still works.
    await new Promise((r) => setTimeout(r, 300));
    expect(h.proxy.listener.sessions()).toHaveLength(1);
    bystander.write(serialize.query('SELECT 1 AS one'));
    const r = await collect(bystander, 5000, (m) => m.type === 'ReadyForQuery');
    expect(r.messages.map((m) => m.type)).toEqual(['RowDescription', 'DataRow', 'CommandComplete', 'ReadyForQuery']);
    console.info(`login fuzz: ${inputs} inputs, ${logins} logins, ${dials} upstream dials, errors by SQLSTATE ${JSON.stringify(Object.fromEntries(codes))}`);
  }, 240_000);

  // Before a token is shown, nothing longer than a password may be buffered: a client
  // announcing a 48 MB Query instead of its password is refused on the frame's header,
  // not after the proxy has held the body (1,000 such clients would hold 48 GB).
  test('refuses a long message during login on its header, before buffering its body', async () => {
    const socket = net.connect({ host: '127.0.0.1', port: h.port });
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.on('error', () => undefined);
    const header = Buffer.alloc(5);
    header.write('Q', 0, 'latin1');
    header.writeInt32BE(48 * 1024 * 1024, 1);
    socket.write(Buffer.concat([serialize.startup({ user: 'agent', database: 'traces' }), header, Buffer.alloc(1024, 0x41)]));
    const r = await collect(socket, 3000);
    const refusal = r.messages.find((m) => m.type === 'ErrorResponse');
    expect(refusal?.type === 'ErrorResponse' ? [refusal.fields.severity, refusal.fields.code, refusal.fields.message] : null).toEqual([
      'FATAL',
      '08P01',
      expect.stringMatching(/invalid message length/),
    ]);
    expect(r.closed).toBe(true);
  });
});
