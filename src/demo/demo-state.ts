// The running demo's state file, <state dir>/state.json (mode 0600): which process owns
// the demo, where its throwaway Postgres lives, and, once ready, the issuer URL, the demo
// clients' ids and secrets, and the proxy's address. `tracegate token` in another
// terminal reads it; a later `tracegate demo` reads it to clean up after a crash.
// It holds client secrets of a loopback-only development issuer and nothing else secret.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { isProcessRunning } from './process-check.js';

const stateSchema = z.object({
  version: z.literal(1),
  pid: z.number().int().positive(),
  startedAt: z.string(),
  /** The temporary directory holding the Postgres cluster. */
  postgresDir: z.string().min(1),
  ready: z.boolean(),
  issuer: z.string().optional(),
  tokenEndpoint: z.string().optional(),
  audience: z.string().optional(),
  clients: z.array(z.object({ clientId: z.string(), clientSecret: z.string(), groups: z.array(z.string()) })),
  proxy: z.object({ host: z.string(), port: z.number().int() }).optional(),
  adminUrl: z.string().optional(),
});

export type DemoState = z.output<typeof stateSchema>;

/** What the demo's process command line contains; a live pid without it is a reused pid. */
const PROCESS_MARKER = 'tracegate';

export function demoStateFile(stateDir: string): string {
  return join(stateDir, 'state.json');
}

export class DemoStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DemoStateError';
  }
}

/** The state in stateDir; undefined when there is none; a DemoStateError when unreadable. */
export async function readDemoState(stateDir: string): Promise<DemoState | undefined> {
  let text: string;
  try {
    text = await readFile(demoStateFile(stateDir), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new DemoStateError(`cannot read ${demoStateFile(stateDir)}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new DemoStateError(`${demoStateFile(stateDir)} is not valid JSON`);
  }
  const parsed = stateSchema.safeParse(json);
  if (!parsed.success) throw new DemoStateError(`${demoStateFile(stateDir)} is not a tracegate demo state file`);
  return parsed.data;
}

/** Writes the state atomically (temp file + rename), readable by the owner only. */
export async function writeDemoState(stateDir: string, state: DemoState): Promise<void> {
  const temp = join(stateDir, `.state-${randomBytes(6).toString('hex')}.json`);
  await writeFile(temp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  await rename(temp, demoStateFile(stateDir));
}

/**
 * Creates the state file only if there is none (O_EXCL), so two demos started at once
 * cannot both own one directory. Returns false when a state file already exists.
 */
export async function createDemoState(stateDir: string, state: DemoState): Promise<boolean> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  try {
    await writeFile(demoStateFile(stateDir), `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

export async function removeDemoStateDir(stateDir: string): Promise<void> {
  await rm(stateDir, { recursive: true, force: true });
}

/** Whether the process that wrote the state is another tracegate that is still running. */
export function isDemoAlive(state: DemoState): boolean {
  return state.pid !== process.pid && isProcessRunning(state.pid, PROCESS_MARKER);
}
