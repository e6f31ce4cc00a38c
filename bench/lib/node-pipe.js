// The "bare Node net pipe": a child process that copies bytes between each
// client and a connection of its own to Postgres, and looks at none of them. It is the
// floor of any proxy written for Node on this machine (one event loop, a read and a
// write syscall per chunk each way), measured in the same run as tracegate, so that
// "no worse than a bare Node pipe" is a figure rather than a quotation.
//
//   node bench/lib/node-pipe.js LISTEN_PORT UPSTREAM_PORT    (the child)
import { spawn } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { freePort, waitForPort } from './net.js';

const SELF = fileURLToPath(import.meta.url);

/** Starts the pipe in front of 127.0.0.1:upstreamPort. */
export async function startNodePipe(upstreamPort) {
  const port = await freePort();
  const child = spawn(process.execPath, [SELF, String(port), String(upstreamPort)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    await waitForPort(port, 10_000, exited);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`the Node pipe did not start: ${err.message}\n${stderr}`);
  }
  return {
    port,
    pid: child.pid,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

function serve(listenPort, upstreamPort) {
  // noDelay on both sides, as tracegate has: Nagle's delay would otherwise hold the
  // small messages of a point read back for an acknowledgement.
  const server = net.createServer({ noDelay: true }, (client) => {
    const upstream = net.connect({ host: '127.0.0.1', port: upstreamPort, noDelay: true });
    client.pipe(upstream);
    upstream.pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.once('error', close).once('close', close);
    upstream.once('error', close).once('close', close);
  });
  server.listen(listenPort, '127.0.0.1');
  process.once('SIGTERM', () => process.exit(0));
}

if (process.argv[1] === SELF) serve(Number(process.argv[2]), Number(process.argv[3]));
