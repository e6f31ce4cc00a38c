// The web page's files (src/admin/page/: index.html, app.js, app.css), read once at
// start and served from memory. They are plain HTML/JS/CSS, served as they are, so tsc
// never processes them and nothing copies them: from src/ (tests, tsx) they sit next to
// this module; from the build (dist/src/admin/) the same directory is found through the
// package root, three levels up. The package therefore ships src/admin/page/.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { text } from './http.js';
import type { Route } from './router.js';

const FILES = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
} as const;

// The page loads only its own script and style and talks only to this origin; nothing
// inline runs, and it cannot be framed (clickjacking the approve button).
export const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'cache-control': 'no-cache',
} as const;

export function pageDirectory(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, 'page'), join(here, '..', '..', '..', 'src', 'admin', 'page')];
  const found = candidates.find((dir) => existsSync(join(dir, 'index.html')));
  if (!found) throw new Error(`admin page files not found (looked in ${candidates.join(', ')})`);
  return found;
}

export function pageRoutes(dir: string = pageDirectory()): Route[] {
  return Object.entries(FILES).map(([path, { file, type }]) => {
    const body = readFileSync(join(dir, file), 'utf8');
    return { method: 'GET', path, access: 'public', handle: () => text(body, type, PAGE_HEADERS) } satisfies Route;
  });
}
