// Runs bench/masking.ts (another module's bench: benchMasking()). tsconfig.build.json
// compiles protocol/ and src/ only, so this transpiles the one file with the TypeScript
// API into dist/bench/masking.js, where its `../src/...` imports resolve to the compiled
// proxy. Types are checked by `npm run typecheck` (tsconfig.json includes bench/).
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import ts from 'typescript';
import { ROOT } from './tracegate.js';

const run = promisify(execFile);

export async function benchMaskingFromSource() {
  const source = join(ROOT, 'bench', 'masking.ts');
  const out = join(ROOT, 'dist', 'bench', 'masking.js');
  const { outputText, diagnostics } = ts.transpileModule(readFileSync(source, 'utf8'), {
    fileName: source,
    reportDiagnostics: true,
    compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
  });
  if (diagnostics?.length) throw new Error(`bench/masking.ts: ${ts.flattenDiagnosticMessageText(diagnostics[0].messageText, '\n')}`);
  mkdirSync(join(ROOT, 'dist', 'bench'), { recursive: true });
  writeFileSync(out, outputText);
  // Measured in a process of its own: process CPU time counts V8's GC threads, and this
  // one's heap holds the TypeScript compiler (and, later, pgbench's logs), whose marking
  // would be billed to masking. The child loads only the masking code.
  const script = `import(${JSON.stringify(pathToFileURL(out).href)}).then((m) => m.benchMasking()).then((r) => process.stdout.write(JSON.stringify(r)))`;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { maxBuffer: 1024 * 1024 });
  return JSON.parse(stdout);
}
