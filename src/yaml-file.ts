// Loads a YAML file into a zod-validated value with `${ENV}` interpolation, and turns
// every problem into an error that names the file, the line and the key. Shared by the
// main config and anything else loaded the same way. It must not read the environment
// anywhere but through `env`, so tests can pass their own.
import { isScalar, LineCounter, parseDocument, visit, type Document } from 'yaml';
import type { z } from 'zod';

export class ConfigFileError extends Error {
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    readonly key: string,
    readonly problem: string,
  ) {
    super(`${file}${line === undefined ? '' : `:${line}`}: ${key === '' ? '' : `${key}: `}${problem}`);
    this.name = 'ConfigFileError';
  }
}

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

export function loadYaml<S extends z.ZodType>(
  text: string,
  file: string,
  schema: S,
  env: Readonly<Record<string, string | undefined>>,
): z.output<S> {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const lineAt = (offset: number | undefined): number | undefined =>
    offset === undefined ? undefined : lines.linePos(offset).line;
  const first = doc.errors[0];
  if (first) throw new ConfigFileError(file, lineAt(first.pos[0]), '', first.message.split('\n')[0] ?? 'invalid YAML');

  interpolate(doc, file, env, lineAt);

  const result = schema.safeParse(doc.toJS() ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (!issue) throw new ConfigFileError(file, undefined, '', 'invalid');
  const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
  throw new ConfigFileError(file, lineAt(nodeOffset(doc, path)), path.join('.'), issue.message);
}

// Secrets come from the environment, never from the file itself. A reference to a
// variable that is not set is an error: silently using '' would, for example, turn a
// masking key into a constant everyone knows.
function interpolate(
  doc: Document,
  file: string,
  env: Readonly<Record<string, string | undefined>>,
  lineAt: (offset: number | undefined) => number | undefined,
): void {
  visit(doc, {
    Scalar(key, node, path) {
      if (key === 'key' || typeof node.value !== 'string' || !node.value.includes('${')) return;
      node.value = node.value.replace(ENV_REF, (_, name: string) => {
        const value = env[name];
        if (value === undefined) {
          const keyPath = path
            .filter((p) => 'key' in p && isScalar((p as { key: unknown }).key))
            .map((p) => String(((p as { key: { value: unknown } }).key).value));
          throw new ConfigFileError(file, lineAt(node.range?.[0]), keyPath.join('.'), `environment variable ${name} is not set`);
        }
        return value;
      });
    },
  });
}

function nodeOffset(doc: Document, path: readonly (string | number)[]): number | undefined {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n), true);
    if (node && typeof node === 'object' && 'range' in node) {
      const range = (node as { range?: [number, number, number] }).range;
      if (range) return range[0];
    }
  }
  return undefined;
}

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;
const DURATION_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** "30s", "10m", "250ms", or a bare number of milliseconds. */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  const m = DURATION.exec(value.trim());
  if (!m) return undefined;
  return Number(m[1]) * DURATION_MS[m[2] as keyof typeof DURATION_MS];
}

const SIZE = /^(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB)?$/;
const SIZE_BYTES = { B: 1, KB: 1000, KiB: 1024, MB: 1e6, MiB: 1024 ** 2, GB: 1e9, GiB: 1024 ** 3 } as const;

/** "64MiB", "8MB", "1024", or a bare number of bytes. */
export function parseSize(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value : undefined;
  const m = SIZE.exec(value.trim());
  if (!m) return undefined;
  return Math.floor(Number(m[1]) * SIZE_BYTES[(m[2] ?? 'B') as keyof typeof SIZE_BYTES]);
}
