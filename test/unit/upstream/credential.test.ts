// The upstream password source: a password file is followed when it is rewritten or
// swapped (each new password gets a new version, which retires pooled connections
// opened with the old one), checked at most once per interval, and a file that is
// briefly missing or empty keeps the last password.
import { mkdtempSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { fileCredential, fixedCredential } from '../../../src/upstream/credential.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tracegate-credential-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('fileCredential', () => {
  test('a rewritten file gives the new password under a new version; an unchanged one keeps the version', () => {
    const file = join(dir, 'pw');
    writeFileSync(file, 'one\n');
    const credential = fileCredential(file, 'one', () => 0, 0);
    expect(credential.current()).toEqual({ password: 'one', version: 1 });
    expect(credential.current()).toEqual({ password: 'one', version: 1 });
    writeFileSync(file, 'second\n');
    expect(credential.current()).toEqual({ password: 'second', version: 2 });
    expect(credential.current()).toEqual({ password: 'second', version: 2 });
  });

  test('the file is looked at no more often than the recheck interval', () => {
    const file = join(dir, 'pw');
    writeFileSync(file, 'one');
    let now = 1_000;
    const credential = fileCredential(file, 'one', () => now, 1_000);
    writeFileSync(file, 'rotated');
    now += 999;
    expect(credential.current().password).toBe('one');
    now += 1;
    expect(credential.current()).toEqual({ password: 'rotated', version: 2 });
  });

  test('an atomic symlink swap, as a Kubernetes secret volume does, is followed', () => {
    writeFileSync(join(dir, 'a'), 'from-a');
    writeFileSync(join(dir, 'b'), 'from-b');
    const link = join(dir, 'pw');
    symlinkSync(join(dir, 'a'), link);
    const credential = fileCredential(link, 'from-a', () => 0, 0);
    symlinkSync(join(dir, 'b'), join(dir, 'pw.next'));
    renameSync(join(dir, 'pw.next'), link);
    expect(credential.current()).toEqual({ password: 'from-b', version: 2 });
  });

  test('a file missing or empty mid-rotation keeps the last password in force', () => {
    const file = join(dir, 'pw');
    writeFileSync(file, 'one');
    const credential = fileCredential(file, 'one', () => 0, 0);
    unlinkSync(file);
    expect(credential.current()).toEqual({ password: 'one', version: 1 });
    writeFileSync(file, '');
    expect(credential.current()).toEqual({ password: 'one', version: 1 });
    writeFileSync(file, 'two\r\n');
    expect(credential.current()).toEqual({ password: 'two', version: 2 });
  });
});

test('an inline password never changes version', () => {
  const credential = fixedCredential('inline');
  expect(credential.current()).toEqual({ password: 'inline', version: 1 });
  expect(credential.current()).toBe(credential.current());
});
