// Loopback port probes for the demo: a free port for the embedded Postgres, and an early
// check that the fixed ports the demo promises (6432, 8080) can be bound, so a clash is
// reported in a second rather than after Postgres has spent seconds initialising.
import { createServer } from 'node:net';

function bind(host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host, port, exclusive: true }, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address ? address.port : port;
      server.close(() => resolve(bound));
    });
  });
}

/** A port the OS reports free on host right now (it may be taken before it is used). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return bind(host, 0);
}

export class PortInUseError extends Error {
  constructor(
    readonly host: string,
    readonly port: number,
    readonly what: string,
    readonly flag: string,
  ) {
    super(`${host}:${port} (${what}) is already in use: stop what listens there, or pass ${flag} N (0 picks a free port)`);
    this.name = 'PortInUseError';
  }
}

/** Throws PortInUseError when the port cannot be bound; port 0 always passes. */
export async function assertPortFree(host: string, port: number, what: string, flag: string): Promise<void> {
  if (port === 0) return;
  try {
    await bind(host, port);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new PortInUseError(host, port, what, flag);
    throw err;
  }
}
