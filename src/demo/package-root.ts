// Finds the tracegate package directory from this module's location, so the demo finds
// policies/ and its default state directory the same way whether it runs from src/
// (tests) or from the compiled dist/src/ (`npm start`), whatever the working directory.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

export function packageRoot(): string {
  if (cached !== undefined) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === 'tracegate') {
      cached = dir;
      return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the tracegate package directory above the demo module');
    dir = parent;
  }
}

/** Where `tracegate demo` keeps its state unless told otherwise: <package>/.tracegate/demo. */
export function defaultDemoStateDir(): string {
  return join(packageRoot(), '.tracegate', 'demo');
}

export function defaultDemoPolicy(): string {
  return join(packageRoot(), 'policies', 'default.yaml');
}
