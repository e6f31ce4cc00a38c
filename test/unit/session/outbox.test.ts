// The relay's Outbox over a real loopback socket: what is added between two flushes
// arrives as one write with its bytes in order, frames adjacent in their read buffer
// are joined without a copy, a batch past 64 kB goes out at once, and a socket already
// closed takes nothing.
import net from 'node:net';
import { afterEach, expect, test } from 'vitest';
import { Outbox } from '../../../src/session/outbox.js';

const open: net.Socket[] = [];
let server: net.Server | undefined;
afterEach(async () => {
  for (const s of open.splice(0)) s.destroy();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

/** A connected pair: `writer` for the Outbox, and every chunk the peer received. */
async function pair(): Promise<{ writer: net.Socket; received: (bytes: number) => Promise<Buffer> }> {
  const chunks: Buffer[] = [];
  let total = 0;
  const waiters: { bytes: number; resolve: () => void }[] = [];
  server = net.createServer((peer) => {
    open.push(peer);
    peer.on('data', (c: Buffer) => {
      chunks.push(c);
      total += c.length;
      for (const w of waiters.splice(0)) if (total >= w.bytes) w.resolve();
      else waiters.push(w);
    });
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const writer = await new Promise<net.Socket>((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
  });
  writer.setNoDelay(true);
  open.push(writer);
  const received = async (bytes: number): Promise<Buffer> => {
    if (total < bytes) await new Promise<void>((resolve) => waiters.push({ bytes, resolve }));
    return Buffer.concat(chunks);
  };
  return { writer, received };
}

test('frames added between flushes go out in one write, in order; adjacent views are joined, not copied', async () => {
  const { writer, received } = await pair();
  const writes: number[] = [];
  const write = writer.write.bind(writer);
  writer.write = ((data: Buffer, ...rest: never[]) => {
    writes.push(data.length);
    return write(data, ...rest);
  }) as typeof writer.write;
  const box = new Outbox(writer, () => undefined);
  const readBuffer = Buffer.from('AAAABBBBCCCC');
  box.add(readBuffer.subarray(0, 4));
  box.add(readBuffer.subarray(4, 8));
  box.add(Buffer.from('xyz'));
  box.add(readBuffer.subarray(8, 12));
  expect(writes).toEqual([]);
  box.flush();
  box.flush();
  expect(writes).toEqual([15]);
  expect((await received(15)).toString()).toBe('AAAABBBBxyzCCCC');

  writes.length = 0;
  const joined = new Outbox(writer, () => undefined);
  joined.add(readBuffer.subarray(0, 4));
  joined.add(readBuffer.subarray(4, 12));
  // One piece: the view over the whole read buffer is written as is.
  let written: Buffer | undefined;
  writer.write = ((data: Buffer, ...rest: never[]) => {
    written = data;
    return write(data, ...rest);
  }) as typeof writer.write;
  joined.flush();
  expect(written?.buffer).toBe(readBuffer.buffer);
  expect(written?.toString()).toBe('AAAABBBBCCCC');
  expect((await received(27)).subarray(15).toString()).toBe('AAAABBBBCCCC');
});

test('a batch past 64 kB is written at once, and reports the backlog when the socket asks to wait', async () => {
  const { writer, received } = await pair();
  let backlog = 0;
  const box = new Outbox(writer, () => backlog++);
  const piece = Buffer.alloc(16 * 1024, 0x61);
  for (let i = 0; i < 3; i++) box.add(Buffer.from(piece));
  expect(writer.bytesWritten).toBe(0);
  box.add(Buffer.from(piece));
  // Written without waiting for a flush; the socket's 16 kB high-water mark is past.
  expect(writer.writableLength + writer.bytesWritten).toBe(64 * 1024);
  expect(backlog).toBe(1);
  expect((await received(64 * 1024)).length).toBe(64 * 1024);
});

test('nothing is written to a socket that has ended, and discard drops what is held', async () => {
  const { writer } = await pair();
  const box = new Outbox(writer, () => undefined);
  box.add(Buffer.from('held'));
  box.discard();
  box.flush();
  expect(writer.bytesWritten).toBe(0);
  writer.end();
  box.add(Buffer.from('late'));
  box.flush();
  expect(writer.bytesWritten).toBe(0);
});
