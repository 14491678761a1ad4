import { mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ensurePrivateDir, StateFileError } from '../src/index.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'spawnguard-internal-dir-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const reasonOf = async (path: string) => {
  const error = await ensurePrivateDir(path).then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StateFileError);
  return { reason: (error as StateFileError).reason, message: (error as Error).message };
};

describe.skipIf(process.platform === 'win32')('ensurePrivateDir', () => {
  it('creates a missing folder (and its parents) 0700, and accepts it again', async () => {
    const path = join(dir, 'a', 'b');
    await ensurePrivateDir(path);
    expect(statSync(path).isDirectory()).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o700);
    await ensurePrivateDir(path);
  });

  it('refuses a symlink (never follows it), a file, and a folder others may enter, leaving them as they are', async () => {
    const target = join(dir, 'target');
    mkdirSync(target, { mode: 0o700 });
    symlinkSync(target, join(dir, 'link'));
    expect(await reasonOf(join(dir, 'link'))).toMatchObject({ reason: 'symlink', message: /is a symbolic link/ });
    writeFileSync(join(dir, 'file'), 'x');
    expect(await reasonOf(join(dir, 'file'))).toMatchObject({ reason: 'not-regular', message: /not a folder/ });
    mkdirSync(join(dir, 'open'), { mode: 0o755 });
    expect(await reasonOf(join(dir, 'open'))).toMatchObject({ reason: 'not-private', message: /chmod 700/ });
    expect(statSync(join(dir, 'open')).mode & 0o777).toBe(0o755);
  });
});
