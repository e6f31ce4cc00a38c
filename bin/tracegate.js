#!/usr/bin/env -S node --max-semi-space-size=4
// Entry point for the installed `tracegate` command: runs the compiled CLI.
// The flag caps V8's young generation at 4 MB per semi-space (16 MB by default): a
// burst of logins grows it to the maximum and it is never given back, which was about
// 25 MB of the resident memory of 1,000 idle sessions (bench/README.md, memory). V8
// reads it only at start, so it is on the command line, not set from here.
import { main } from '../dist/src/cli.js';

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { console.error(err instanceof Error ? err.message : String(err)); process.exitCode = 1; },
);
