// Runs the real `tracegate serve --config FILE` in a child process, so a test can SIGKILL
// or SIGTERM it. Node 20 runs no TypeScript, so src/ and protocol/ are transpiled file by
// file (no type check: a few hundred milliseconds) into a temporary directory, rather than
// built into the shared dist/ that other tests and developers also use. Bare imports
// resolve through a node_modules symlink; the entry script is bin/tracegate.js's twin.
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { MASK_KEY } from './harness.js';

const ROOT = resolve(import.meta.dirname, '../../..');

export interface ProxyBuild extends Disposable {
  /** The entry script: `node <cli> serve --config FILE`. */
  readonly cli: string;
}

export function buildProxyForChild(): ProxyBuild {
  const dir = mkdtempSync(join(tmpdir(), 'tracegate-proxy-child-'));
  for (const top of ['src', 'protocol']) {
    for (const file of walk(join(ROOT, top))) {
      // Declarations only describe untyped packages; there is nothing to run.
      if (file.endsWith('.d.ts')) continue;
      const target = join(dir, relative(ROOT, file));
      mkdirSync(dirname(target), { recursive: true });
      if (!file.endsWith('.ts')) {
        // The admin page's files and the demo schema sit beside the modules reading them.
        copyFileSync(file, target);
        continue;
      }
      const { outputText } = ts.transpileModule(readFileSync(file, 'utf8'), {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
        fileName: file,
      });
      writeFileSync(target.replace(/\.ts$/, '.js'), outputText);
    }
  }
  writeFileSync(join(dir, 'package.json'), '{"name":"tracegate","type":"module"}');
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  const cli = join(dir, 'tracegate.js');
  writeFileSync(
    cli,
    `import { main } from './src/cli.js';
main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { console.error(err instanceof Error ? err.stack : String(err)); process.exitCode = 1; },
);
`,
  );
  return { cli, [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}

function* walk(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else yield path;
  }
}

export interface ChildProxy extends AsyncDisposable {
  readonly port: number;
  readonly child: ChildProcess;
  /** Every stdout line so far (the proxy's JSON log) and stderr, for failure messages. */
  readonly output: () => string;
  /** Resolves with how the process ended. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `tracegate serve` and resolves once its log says where it listens. */
export async function startChildProxy(build: ProxyBuild, configFile: string): Promise<ChildProxy> {
  const child = spawn(process.execPath, [build.cli, 'serve', '--config', configFile], {
    env: { ...process.env, TRACEGATE_MASK_KEY: MASK_KEY },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const output = (): string => `${stdout}${stderr}`;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.once('exit', (code, signal) => done({ code, signal })),
  );
  const port = await new Promise<number>((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`the proxy did not start within 20 s:\n${output()}`)), 20_000);
    const onData = (): void => {
      for (const line of stdout.split('\n')) {
        const entry = parseJson(line);
        if (entry?.['event'] === 'listening' && typeof entry['port'] === 'number') {
          clearTimeout(timer);
          child.stdout.off('data', onData);
          done(entry['port']);
          return;
        }
      }
    };
    child.stdout.on('data', onData);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      fail(new Error(`the proxy exited (${code ?? signal}) before listening:\n${output()}`));
    });
  });
  return {
    port,
    child,
    output,
    exited,
    [Symbol.asyncDispose]: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

function parseJson(line: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
