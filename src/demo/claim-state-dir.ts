// Takes ownership of the demo's state directory. A state file whose process still runs
// means a demo is already up: refuse, and say how to reach or stop it. A state file whose
// process is gone is what a crash (kill -9, a closed laptop) leaves behind: stop the
// Postgres it left running, delete its directories, and carry on.
import { rm } from 'node:fs/promises';
import { createDemoState, DemoStateError, isDemoAlive, readDemoState, removeDemoStateDir, type DemoState } from './demo-state.js';
import { demoDataDir, stopStalePostgres } from './embedded-postgres.js';

export class DemoAlreadyRunningError extends Error {
  constructor(readonly state: DemoState) {
    const where = state.proxy ? ` with the proxy on ${state.proxy.host}:${state.proxy.port}` : '';
    super(`a tracegate demo is already running (pid ${state.pid}${where}); stop it with Ctrl-C in its terminal or \`kill ${state.pid}\``);
    this.name = 'DemoAlreadyRunningError';
  }
}

async function cleanUpAfter(stateDir: string, stale: DemoState | undefined, report: (line: string) => void): Promise<void> {
  if (stale) {
    const stopped = await stopStalePostgres(demoDataDir(stale.postgresDir));
    await rm(stale.postgresDir, { recursive: true, force: true });
    report(`cleaned up after a demo that did not stop cleanly (pid ${stale.pid}${stopped ? ', its PostgreSQL stopped' : ''})`);
  } else {
    report(`removed an unreadable demo state file in ${stateDir}`);
  }
  await removeDemoStateDir(stateDir);
}

/** Claims stateDir for this process with `initial` as its state; throws DemoAlreadyRunningError. */
export async function claimStateDir(stateDir: string, initial: DemoState, report: (line: string) => void): Promise<void> {
  // Two rounds: the second follows the clean-up of a stale state; a third contender means
  // another demo won the race and its state file now names a live process.
  for (let round = 0; round < 2; round++) {
    if (await createDemoState(stateDir, initial)) return;
    let existing: DemoState | undefined;
    let unreadable = false;
    try {
      existing = await readDemoState(stateDir);
    } catch (err) {
      if (!(err instanceof DemoStateError)) throw err;
      unreadable = true;
    }
    // Gone between the two calls: its owner just stopped; try again.
    if (!existing && !unreadable) continue;
    if (existing && isDemoAlive(existing)) throw new DemoAlreadyRunningError(existing);
    await cleanUpAfter(stateDir, existing, report);
  }
  const existing = await readDemoState(stateDir).catch(() => undefined);
  if (existing) throw new DemoAlreadyRunningError(existing);
  throw new Error(`cannot claim the demo state directory ${stateDir}`);
}
