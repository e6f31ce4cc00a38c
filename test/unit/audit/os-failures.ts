// Real OS-level write failures for the audit store's fail-closed tests. We run as root,
// where chmod 0444 stops nothing, so these use what does stop root: the immutable
// attribute (chattr +i, needs CAP_LINUX_IMMUTABLE and ext4/xfs) and a full tmpfs (mount
// needs CAP_SYS_ADMIN). Each probe says whether the machine allows it, so a test can skip
// with the reason instead of passing vacuously.
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function run(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function canMakeImmutable(): boolean {
  const dir = mkdtempSync(join(tmpdir(), 'tracegate-chattr-probe-'));
  const file = join(dir, 'probe');
  writeFileSync(file, 'x');
  const ok = run('chattr', ['+i', file]);
  if (ok) run('chattr', ['-i', file]);
  rmSync(dir, { recursive: true, force: true });
  return ok;
}

export function canMountTmpfs(): boolean {
  const dir = mkdtempSync(join(tmpdir(), 'tracegate-mount-probe-'));
  const ok = run('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir]);
  if (ok) run('umount', [dir]);
  rmSync(dir, { recursive: true, force: true });
  return ok;
}

/** chattr +i / -i on paths; disposing always clears the flag so cleanup can delete. */
export function immutable(paths: readonly string[]): Disposable & { release(): void } {
  execFileSync('chattr', ['+i', ...paths]);
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    execFileSync('chattr', ['-i', ...paths]);
  };
  return { release, [Symbol.dispose]: release };
}

/** A tmpfs of `sizeKiB` mounted on a fresh directory, unmounted on dispose. */
export function smallTmpfs(sizeKiB: number): Disposable & { path: string } {
  const path = mkdtempSync(join(tmpdir(), 'tracegate-tmpfs-'));
  mkdirSync(path, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKiB}k`, 'tmpfs', path]);
  return {
    path,
    [Symbol.dispose]: () => {
      run('umount', [path]);
      rmSync(path, { recursive: true, force: true });
    },
  };
}

/**
 * Fills the file system at `dir` with a file written in pieces of each size in turn,
 * each until ENOSPC (a large piece, then a small one for what is left); `free` removes it.
 */
export function fillFileSystem(dir: string, pieces: readonly number[] = [64 * 1024, 512]): { free(): void } & Disposable {
  const filler = join(dir, 'filler');
  const fd = openSync(filler, 'w');
  try {
    for (const size of pieces) {
      try {
        for (;;) writeSync(fd, Buffer.alloc(size, 1));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      }
    }
  } finally {
    closeSync(fd);
  }
  const free = (): void => rmSync(filler, { force: true });
  return { free, [Symbol.dispose]: free };
}
