// Malformed protocol input over real sockets, beyond the cases foundation/relay.test.ts
// and tls.test.ts already cover (a typed length below 4 or at 2^31, an unknown type
// byte, a NUL in a Query, CopyData outside COPY, plaintext after SSLRequest). Each case
// gets the SQLSTATE Postgres gives it (08P01 for a protocol violation, 0A000 for an
// unsupported protocol version, 22021 for bad UTF-8) with severity FATAL and a closed
// connection, and carries a unique marker: the upstream's statement log (every parse,
// bind and execution) must never mention it, so nothing of it reached Postgres. A
// positive control shows the same log does catch a marker that is forwarded.
import { randomBytes } from 'node:crypto';
import type net from 'node:net';
import { serialize } from 'pg-protocol';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { WELL_KNOWN_TRACES } from '../../../src/demo/generate.js';
import { getToken, testEnv } from '../../helpers/env.js';
import { upstreamLog, upstreamStatements } from '../../helpers/postgres.js';
import { collect, errorOf, password, rawConnect, rawLogin, startup, type RawResult } from '../../helpers/raw-client.js';
import { cstr, int16, int32, startupPacket, typed } from '../../unit/protocol/fixtures.js';
import { startHardenedProxy, type HardenedProxy } from './harness.js';

const CAP = 64 * 1024;
let h: HardenedProxy;
let token: string;
let bystander: net.Socket;

beforeAll(async () => {
  h = await startHardenedProxy({ limits: [`maxMessageSize: ${CAP}`] });
  token = await getToken('reviewer');
  bystander = await rawLogin(h.port, token);
});
afterAll(async () => {
  bystander?.destroy();
  await h?.close();
});

const marker = (): string => `hardening_marker_${randomBytes(6).toString('hex')}`;
const upstream = (): ReturnType<typeof testEnv>['pg'] => testEnv().pg;

async function expectRefused(r: RawResult, code: string, m: string): Promise<void> {
  expect(errorOf(r)).toMatchObject({ code, severity: 'FATAL' });
  expect(r.closed).toBe(true);
  expect(await upstreamLog(upstream(), m)).toEqual([]);
}

type Until = (m: RawResult['messages'][number]) => boolean;

/** Sends `bytes` on a fresh connection and collects the answer (until close or `until`). */
async function beforeLogin(bytes: Buffer, until?: Until): Promise<RawResult> {
  const socket = await rawConnect(h.port);
  socket.write(bytes);
  const r = await collect(socket, 5000, until);
  socket.destroy();
  return r;
}

/** Logs in, sends `bytes` and collects the answer (until close or `until`). */
async function afterLogin(bytes: Buffer, until?: Until): Promise<RawResult> {
  const socket = await rawLogin(h.port, token);
  socket.write(bytes);
  const r = await collect(socket, 5000, until);
  socket.destroy();
  return r;
}

const parse = (name: string, sql: string, types: number[] = []): Buffer => typed('P', cstr(name), cstr(sql), int16(types.length), ...types.map(int32));
const execute = (portal = ''): Buffer => typed('E', cstr(portal), int32(0));
const sync = (): Buffer => typed('S');

describe('the startup phase', () => {
  test.each([
    ['a length below 4', int32(3)],
    ['a length below the smallest packet (7)', Buffer.concat([int32(7), Buffer.alloc(3)])],
    ['a length over the 10,000-byte startup cap', Buffer.concat([int32(10_001), int32(196608)])],
    ['a length of 2^31-1, before a byte of it arrived', int32(0x7fffffff)],
    ['a typed message where the startup packet belongs', typed('Q', cstr('SELECT 1'))],
  ])('%s gets 08P01 and a closed connection', async (_name, bytes) => {
    const m = marker();
    const r = await beforeLogin(Buffer.concat([bytes, Buffer.from(m)]));
    await expectRefused(r, '08P01', m);
  });

  test('a startup packet of exactly the cap is read; one byte more is refused', async () => {
    const fill = (total: number): Buffer => {
      // user, database, then one parameter tracegate drops, padded to `total` bytes.
      const head = Buffer.concat([cstr('user'), cstr('agent'), cstr('database'), cstr('traces'), cstr('x_pad')]);
      const pad = total - 8 - head.length - 2;
      return startupPacket(196608, head, Buffer.alloc(pad, 0x61), Buffer.of(0), Buffer.of(0));
    };
    const exact = fill(10_000);
    expect(exact.length).toBe(10_000);
    const ok = await beforeLogin(exact, (x) => x.type === 'AuthenticationCleartextPassword');
    expect(ok.messages.map((x) => x.type)).toEqual(['AuthenticationCleartextPassword']);

    const m = marker();
    const over = fill(10_001);
    const r = await beforeLogin(Buffer.concat([over, Buffer.from(m)]));
    await expectRefused(r, '08P01', m);
  });

  test.each([
    ['protocol 2.0', '0A000', startupPacket(0x20000, cstr('user'), cstr('agent'), Buffer.of(0))],
    ['protocol 3.1', '0A000', startupPacket(0x30001, cstr('user'), cstr('agent'), Buffer.of(0))],
    ['an unknown special request code', '08P01', startupPacket((1234 << 16) | 5681)],
    ['a CancelRequest of the wrong length', '08P01', startupPacket(80877102, int32(1), int32(2), int32(3))],
    ['parameters without the final terminator', '08P01', startupPacket(196608, cstr('user'), cstr('agent'))],
    ['a parameter given twice', '08P01', startupPacket(196608, cstr('user'), cstr('agent'), cstr('user'), cstr('postgres'), Buffer.of(0))],
  ])('%s gets %s like Postgres, and a closed connection', async (_name, code, bytes) => {
    const r = await beforeLogin(bytes);
    expect(errorOf(r)).toMatchObject({ code, severity: 'FATAL' });
    expect(r.closed).toBe(true);
  });

  test('a Query instead of the password is refused and never forwarded', async () => {
    const m = marker();
    const r = await beforeLogin(Buffer.concat([startup({ user: 'agent', database: 'traces' }), serialize.query(`SELECT '${m}'`)]));
    await expectRefused(r, '08P01', m);
  });

  test('a password message over the 65,535-byte cap is refused before it is buffered', async () => {
    const head = Buffer.concat([Buffer.from('p'), int32(65_540)]);
    const r = await beforeLogin(Buffer.concat([startup({ user: 'agent', database: 'traces' }), head]));
    expect(errorOf(r)).toMatchObject({ code: '08P01', severity: 'FATAL' });
    expect(r.closed).toBe(true);
  });

  test('a password message with bytes after the token is refused, even with a valid token', async () => {
    const body = Buffer.concat([cstr(token), Buffer.from('extra')]);
    const r = await beforeLogin(Buffer.concat([startup({ user: 'agent', database: 'traces' }), typed('p', body)]));
    expect(r.messages.some((x) => x.type === 'AuthenticationOk')).toBe(false);
    expect(errorOf(r)).toMatchObject({ code: '08P01', severity: 'FATAL' });
    expect(r.closed).toBe(true);
  });
});

describe('after login', () => {
  // The positive control: the same check sees a marker that does reach the upstream.
  test('a well-formed statement with a marker shows up in the upstream log', async () => {
    const m = marker();
    const socket = await rawLogin(h.port, token);
    socket.write(serialize.query(`SELECT '${m}' AS marker`));
    const r = await collect(socket, 5000, (x) => x.type === 'ReadyForQuery');
    expect(errorOf(r)).toBeUndefined();
    expect((await upstreamLog(upstream(), m)).length).toBeGreaterThan(0);
    socket.destroy();
  });

  const bind = (parts: Buffer[]): Buffer => typed('B', cstr(''), cstr(''), ...parts);
  const value = (s: string): Buffer => Buffer.concat([int32(Buffer.byteLength(s)), Buffer.from(s)]);

  test.each([
    ['two parameter formats for one parameter', (m: string) => bind([int16(2), int16(0), int16(0), int16(1), value(m), int16(0)])],
    ['a parameter count larger than the values sent', (m: string) => bind([int16(0), int16(3), value(m), int16(0)])],
    ['a parameter length of -2', (m: string) => bind([int16(0), int16(2), value(m), int32(-2), int16(0)])],
    ['a format code of 2', (m: string) => bind([int16(1), int16(2), int16(1), value(m), int16(0)])],
    ['bytes after the result formats', (m: string) => bind([int16(0), int16(1), value(m), int16(0), Buffer.from(m)])],
  ])('Bind with %s gets 08P01 and nothing reaches the upstream', async (_name, build) => {
    const m = marker();
    const r = await afterLogin(Buffer.concat([parse('', 'SELECT trace_id FROM traces WHERE trace_id = $1'), build(m), execute(), sync()]));
    await expectRefused(r, '08P01', m);
  });

  test('a well-formed Bind with fewer values than the statement has parameters gets Postgres\'s 08P01 ERROR; nothing runs; the session goes on', async () => {
    const m = marker();
    const socket = await rawLogin(h.port, token);
    socket.write(Buffer.concat([parse('', `SELECT trace_id, '${m}' FROM traces WHERE trace_id = $1 AND $2::text IS NOT NULL`), sync()]));
    await collect(socket, 5000, (x) => x.type === 'ReadyForQuery');
    socket.write(Buffer.concat([bind([int16(0), int16(1), value(WELL_KNOWN_TRACES.agentALow), int16(0)]), execute(), sync()]));
    const r = await collect(socket, 5000, (x) => x.type === 'ReadyForQuery');
    // The pin ($1) has its value, so the policy lets the Bind through and Postgres itself
    // refuses it, as it would without tracegate: an ERROR, not a closed connection.
    expect(errorOf(r)).toMatchObject({ code: '08P01', severity: 'ERROR', message: 'bind message supplies 1 parameters, but prepared statement "" requires 2' });
    expect(r.messages.some((x) => x.type === 'DataRow')).toBe(false);
    expect(await upstreamStatements(upstream(), m)).toEqual([]);
    socket.write(serialize.query('SELECT 1 AS one'));
    const after = await collect(socket, 5000, (x) => x.type === 'ReadyForQuery');
    expect(after.messages.map((x) => x.type)).toEqual(['RowDescription', 'DataRow', 'CommandComplete', 'ReadyForQuery']);
    socket.destroy();
  });

  test.each([
    ['CopyDone outside COPY', () => typed('c')],
    ['CopyFail outside COPY', (m: string) => typed('f', cstr(m))],
    ['a NUL inside a Parse statement', (m: string) => parse('', `SELECT 1\0; SELECT '${m}'`)],
    ['a Describe of kind X', (m: string) => typed('D', Buffer.from('X'), cstr(m))],
    ['an Execute without its terminator', (m: string) => typed('E', Buffer.from(m))],
    ['a Query without its terminator', (m: string) => typed('Q', Buffer.from(`SELECT '${m}'`))],
    ['a Terminate with a body', (m: string) => typed('X', Buffer.from(m))],
    ['a second StartupMessage', (m: string) => startup({ user: 'agent', database: 'traces', application_name: m })],
    ['a PasswordMessage after login', (m: string) => password(m)],
  ])('%s gets 08P01 and nothing reaches the upstream', async (_name, build) => {
    const m = marker();
    const r = await afterLogin(build(m));
    await expectRefused(r, '08P01', m);
  });

  test('a Query that is not valid UTF-8 gets 22021 and is never forwarded', async () => {
    const m = marker();
    const r = await afterLogin(typed('Q', Buffer.from(`SELECT '${m}`), Buffer.of(0xc3, 0x28), Buffer.from("'"), Buffer.of(0)));
    await expectRefused(r, '22021', m);
  });

  test('a Query of exactly maxMessageSize runs; one byte longer gets 08P01 and is never forwarded', async () => {
    const sized = (total: number, m: string): Buffer => {
      const head = `SELECT '${m}' AS marker /* `;
      const tail = ' */';
      // total = 1 (type) + 4 (length) + sql + 1 (NUL); the length word counts all but the type.
      const pad = total - 1 - 4 - 1 - head.length - tail.length;
      return typed('Q', Buffer.from(head + 'x'.repeat(pad) + tail), Buffer.of(0));
    };
    const fits = marker();
    const exact = sized(CAP + 1, fits);
    expect(exact.readInt32BE(1)).toBe(CAP);
    const ok = await afterLogin(exact, (x) => x.type === 'ReadyForQuery');
    expect(ok.messages.map((x) => x.type)).toContain('DataRow');
    expect((await upstreamLog(upstream(), fits)).length).toBeGreaterThan(0);

    const m = marker();
    const r = await afterLogin(sized(CAP + 2, m));
    await expectRefused(r, '08P01', m);
  });

  test('the FunctionCall message is refused with 42501 and never forwarded; the session goes on', async () => {
    const m = marker();
    const socket = await rawLogin(h.port, token);
    // fastpath call of oid 1 with one text argument holding the marker
    socket.write(typed('F', int32(1), int16(0), int16(1), value(m), int16(0)));
    const r = await collect(socket, 5000, (x) => x.type === 'ReadyForQuery');
    expect(errorOf(r)).toMatchObject({ code: '42501', severity: 'ERROR' });
    expect(await upstreamLog(upstream(), m)).toEqual([]);
    socket.destroy();
  });

  test('the parallel session that saw all of this is unharmed', async () => {
    bystander.write(serialize.query(`SELECT trace_id FROM traces WHERE trace_id = '${WELL_KNOWN_TRACES.agentALow}'`));
    const r = await collect(bystander, 5000, (x) => x.type === 'ReadyForQuery');
    expect(r.messages.map((x) => x.type)).toEqual(['RowDescription', 'DataRow', 'CommandComplete', 'ReadyForQuery']);
    expect(h.proxy.listener.sessions()).toHaveLength(1);
    expect(h.proxy.grants.active()).toEqual([]);
  });
});
