// What asyncpg needed, at the protocol level: its StartupMessage says client_encoding
// 'utf-8' (quoted), and it sends text parameters in binary format with no declared type,
// after a Describe told it the server's types. The proxy reads a binary parameter by the
// type the server reported for that very statement (ParameterDescription), and refuses
// one whose type it does not know yet rather than guess.
import type net from 'node:net';
import { serialize } from 'pg-protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NOT_ENTITLED } from '../../../src/policy/decision.js';
import { getToken } from '../../helpers/env.js';
import { startTestProxy, type TestProxy } from '../../helpers/proxy.js';
import { collect, errorOf, password, rawConnect, rawLogin } from '../../helpers/raw-client.js';
import { MINE, THEIRS } from './harness.js';

let proxy: TestProxy;
let token: string;
const sockets: net.Socket[] = [];

beforeAll(async () => {
  proxy = await startTestProxy();
  token = await getToken('agent-a');
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await proxy?.close();
});

async function login(): Promise<net.Socket> {
  const s = await rawLogin(proxy.port, token);
  sockets.push(s);
  return s;
}

const SQL = 'SELECT trace_id, risk FROM traces WHERE trace_id = $1';

/** A StartupMessage with exactly these parameters (pg-protocol's adds its own client_encoding). */
function startupWith(params: Record<string, string>): Buffer {
  const body = Buffer.concat([
    Buffer.from([0, 3, 0, 0]),
    ...Object.entries(params).map(([k, v]) => Buffer.from(`${k}\0${v}\0`, 'utf8')),
    Buffer.from([0]),
  ]);
  const len = Buffer.alloc(4);
  len.writeInt32BE(body.length + 4);
  return Buffer.concat([len, body]);
}
const binaryText = (v: string): Buffer => Buffer.from(v, 'utf8');
const untilReady = (m: { type: string }): boolean => m.type === 'ReadyForQuery';

function bindText(statement: string, value: string): Buffer {
  return serialize.bind({ portal: '', statement, values: [value] });
}

/** A Bind whose one parameter is sent in binary format (format code 1). */
function bindWithBinaryParam(statement: string, value: string): Buffer {
  const name = Buffer.from(`\0${statement}\0`, 'utf8'); // portal '' then statement
  const v = binaryText(value);
  const body = Buffer.alloc(name.length + 2 + 2 + 2 + 4 + v.length + 2 + 2);
  let o = name.copy(body, 0);
  o = body.writeInt16BE(1, o); // one parameter format code
  o = body.writeInt16BE(1, o); // binary
  o = body.writeInt16BE(1, o); // one parameter
  o = body.writeInt32BE(v.length, o);
  o += v.copy(body, o);
  o = body.writeInt16BE(1, o); // one result format code
  body.writeInt16BE(0, o); // text
  const head = Buffer.alloc(5);
  head.write('B', 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

describe('client_encoding in the StartupMessage', () => {
  it.each([["'utf-8'"], ['utf-8'], ['UTF8'], ['unicode']])('accepts %s, as Postgres does', async (encoding) => {
    const s = await rawConnect(proxy.port);
    sockets.push(s);
    s.write(startupWith({ user: 'agent-a', database: 'traces', client_encoding: encoding }));
    await collect(s, 3000, (m) => m.type === 'AuthenticationCleartextPassword');
    s.write(password(token));
    const r = await collect(s, 5000, (m) => m.type === 'ReadyForQuery' || m.type === 'ErrorResponse');
    expect(errorOf(r), JSON.stringify(r.messages.map((m) => m.type))).toBeUndefined();
    const status = r.messages.find((m) => m.type === 'ParameterStatus' && m.name === 'client_encoding');
    expect(status).toMatchObject({ value: 'UTF8' });
  });

  it.each([['LATIN1'], ["'SJIS'"], ['utf-16']])('refuses %s (FATAL 0A000)', async (encoding) => {
    const s = await rawConnect(proxy.port);
    sockets.push(s);
    s.write(startupWith({ user: 'agent-a', database: 'traces', client_encoding: encoding }));
    const r = await collect(s, 5000, (m) => m.type === 'ErrorResponse' || m.type === 'AuthenticationCleartextPassword');
    expect(errorOf(r)).toMatchObject({ code: '0A000', severity: 'FATAL' });
  });
});

describe('binary-format parameters', () => {
  it('are read by the type the server described for the statement', async () => {
    const s = await login();
    s.write(Buffer.concat([serialize.parse({ name: 's1', text: SQL, types: [] }), serialize.describe({ type: 'S', name: 's1' }), serialize.sync()]));
    const described = await collect(s, 5000, untilReady);
    expect(described.messages.find((m) => m.type === 'ParameterDescription')).toMatchObject({ typeOids: [25] });
    s.write(Buffer.concat([bindWithBinaryParam('s1', MINE), serialize.execute({ portal: '' }), serialize.sync()]));
    const r = await collect(s, 5000, untilReady);
    expect(errorOf(r)).toBeUndefined();
    const row = r.messages.find((m) => m.type === 'DataRow');
    expect(row && 'fields' in row ? Buffer.from(row.fields[0] as Uint8Array).toString() : null).toBe(MINE);
  });

  it('are decided like text ones: another agent\'s trace is refused at Bind', async () => {
    const s = await login();
    s.write(Buffer.concat([serialize.parse({ name: 's2', text: SQL, types: [] }), serialize.describe({ type: 'S', name: 's2' }), serialize.sync()]));
    await collect(s, 5000, untilReady);
    s.write(Buffer.concat([bindWithBinaryParam('s2', THEIRS), serialize.execute({ portal: '' }), serialize.sync()]));
    const r = await collect(s, 5000, untilReady);
    expect(errorOf(r)).toMatchObject({ code: '42501', message: expect.stringContaining(NOT_ENTITLED) });
  });

  it('are refused (0A000) while the server has not described the statement', async () => {
    const s = await login();
    // Pipelined: the Bind is decided before any ParameterDescription could arrive.
    s.write(Buffer.concat([serialize.parse({ name: 's3', text: SQL, types: [] }), bindWithBinaryParam('s3', MINE), serialize.execute({ portal: '' }), serialize.sync()]));
    const r = await collect(s, 5000, untilReady);
    expect(errorOf(r)).toMatchObject({ code: '0A000', message: expect.stringMatching(/binary format for parameter \$1/) });
    expect(r.messages.some((m) => m.type === 'DataRow')).toBe(false);
    // Text format, same statement: fine.
    s.write(Buffer.concat([bindText('s3', MINE), serialize.execute({ portal: '' }), serialize.sync()]));
    const ok = await collect(s, 5000, untilReady);
    expect(errorOf(ok)).toBeUndefined();
  });
});
