// Builds src/audit as plain JavaScript into a temporary directory, so a test can run the
// real store in a child process (Node 20 runs no TypeScript, and the child must be a real
// process to be SIGKILLed). Bare imports resolve through a node_modules symlink.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import ts from 'typescript';

const ROOT = resolve(import.meta.dirname, '../../..');

export interface ChildBuild extends Disposable {
  readonly dir: string;
  /** Writes an ES module script beside the build; it imports './audit/....js'. */
  script(name: string, source: string): string;
}

export function buildAuditForChild(): ChildBuild {
  const dir = mkdtempSync(join(tmpdir(), 'tracegate-child-'));
  const out = join(dir, 'audit');
  mkdirSync(out);
  const src = join(ROOT, 'src/audit');
  for (const file of readdirSync(src).filter((f) => f.endsWith('.ts'))) {
    const { outputText } = ts.transpileModule(readFileSync(join(src, file), 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
      fileName: file,
    });
    writeFileSync(join(out, file.replace(/\.ts$/, '.js')), outputText);
  }
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return {
    dir,
    script(name, source) {
      const path = join(dir, name);
      writeFileSync(path, source);
      return path;
    },
    [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }),
  };
}
