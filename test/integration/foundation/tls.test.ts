// TLS toward clients: SSLRequest is answered 'S' and the handshake uses the configured
// certificate (a CA made at test time); plaintext is refused where it must be; bytes
// smuggled after SSLRequest before the handshake are a protocol violation.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import pg from 'pg';
import { getToken } from '../../helpers/env.js';
import { startTestProxy, type TestProxy } from '../../helpers/proxy.js';
import { collect, errorOf, rawConnect, startup } from '../../helpers/raw-client.js';
import { makeTestCertificates, type TestCertificates } from '../../helpers/tls.js';

let certs: TestCertificates;
let proxy: TestProxy;

beforeAll(async () => {
  certs = makeTestCertificates();
  proxy = await startTestProxy({ allowPlaintextOnLoopback: false, tls: { cert: certs.certFile, key: certs.keyFile } });
});
afterAll(async () => {
  await proxy.close();
  certs[Symbol.dispose]();
});

const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
const GSSENC_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30]);

describe('TLS', () => {
  test('a client verifying the server certificate against the CA logs in and queries', async () => {
    const client = await proxy.connect(await getToken('agent-a'), { ssl: { ca: certs.ca, servername: 'localhost' } });
    const r = await client.query('SELECT 1 AS one');
    expect(r.rows).toEqual([{ one: 1 }]);
  });

  test('a client that does not trust the CA fails the handshake', async () => {
    const client = new pg.Client(proxy.clientConfig(await getToken('agent-a'), { ssl: { rejectUnauthorized: true } }));
    await expect(client.connect()).rejects.toThrow(/certificate/);
  });

  test('plaintext is refused with FATAL 28000 when not allowed, even on loopback', async () => {
    const client = new pg.Client(proxy.clientConfig(await getToken('agent-a'), { ssl: false }));
    const err = await client.connect().then(
      () => undefined,
      (e: unknown) => e as { code?: string; message: string },
    );
    expect(err?.code).toBe('28000');
    expect(err?.message).toMatch(/TLS required/);
  });

  test('plaintext bytes sent with the SSLRequest, before the handshake, get 08P01', async () => {
    const socket = await rawConnect(proxy.port);
    socket.write(Buffer.concat([SSL_REQUEST, startup({ user: 'agent', database: 'traces' })]));
    const r = await collect(socket);
    expect(errorOf(r)?.code).toBe('08P01');
    expect(r.closed).toBe(true);
  });

  test("GSSENCRequest is answered 'N'", async () => {
    const socket = await rawConnect(proxy.port);
    socket.write(GSSENC_REQUEST);
    const r = await collect(socket, 1000);
    expect(r.bytes.toString('latin1')).toBe('N');
    socket.destroy();
  });
});
