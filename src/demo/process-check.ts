// Is a recorded process id still the process we recorded? The demo keeps pids in its
// state file (its own, the Postgres postmaster's) to recover after a crash; a pid can be
// reused by an unrelated process, so a pid alone never justifies refusing to start or
// sending a signal: the command line must still name what we expect.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to another account (a postmaster we run as postgres).
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Linux: whether the process has exited and only waits to be reaped by its parent. */
function isZombie(pid: number): boolean {
  try {
    // /proc/PID/stat is "pid (comm) state ...": the state follows the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false;
  }
}

/** The process's command line, or undefined when no such process runs. */
export function commandLineOf(pid: number): string | undefined {
  // A stopped server whose parent (often init, after pg_ctl exited) has not reaped it
  // yet is a zombie: it holds no port and no files, so it counts as gone.
  if (!Number.isInteger(pid) || pid <= 0 || !isRunning(pid) || isZombie(pid)) return undefined;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    // No procfs (macOS): ps is part of the base system there.
    try {
      return execFileSync('ps', ['-o', 'command=', '-p', String(pid)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      // Running, but we cannot tell what it is: assume it is still ours, never kill it.
      return '';
    }
  }
}

/** True when `pid` runs and its command line contains `marker` (or cannot be read). */
export function isProcessRunning(pid: number, marker: string): boolean {
  const cmdline = commandLineOf(pid);
  if (cmdline === undefined) return false;
  return cmdline === '' || cmdline.includes(marker);
}
