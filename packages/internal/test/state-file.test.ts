import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readStateFile, readStateFileSync, StateFileError, writeStateFile, writeStateFileSync } from '../src/index.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'spawnguard-internal-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function reasonOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(StateFileError);
    return (error as StateFileError).reason;
  }
  throw new Error('did not throw');
}

async function asyncReasonOf(fn: () => Promise<unknown>): Promise<string> {
  const error = await fn().then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StateFileError);
  return (error as StateFileError).reason;
}

describe.skipIf(process.platform === 'win32')('readStateFile', () => {
  it('reads a regular file we own, sync and async', async () => {
    const path = join(dir, 'state.json');
    writeFileSync(path, '{"a":1}');
    expect(readStateFileSync(path)).toBe('{"a":1}');
    expect(await readStateFile(path)).toBe('{"a":1}');
  });

  it('refuses a FIFO at once instead of blocking on it', async () => {
    const path = join(dir, 'fifo.json');
    execFileSync('mkfifo', [path]);
    const t0 = Date.now();
    expect(reasonOf(() => readStateFileSync(path))).toBe('not-regular');
    expect(await asyncReasonOf(() => readStateFile(path))).toBe('not-regular');
    expect(Date.now() - t0).toBeLessThan(5000);
    try {
      readStateFileSync(path);
    } catch (error) {
      expect((error as Error).message).toContain('FIFO');
      expect((error as Error).message).toContain(path);
    }
  });

  it('never follows a symbolic link, even to a good file', async () => {
    const target = join(dir, 'real.json');
    writeFileSync(target, '{}');
    const link = join(dir, 'link.json');
    symlinkSync(target, link);
    expect(reasonOf(() => readStateFileSync(link))).toBe('symlink');
    expect(await asyncReasonOf(() => readStateFile(link))).toBe('symlink');
  });

  it('refuses a directory and a character device', () => {
    mkdirSync(join(dir, 'folder'));
    expect(reasonOf(() => readStateFileSync(join(dir, 'folder')))).toBe('not-regular');
    expect(reasonOf(() => readStateFileSync('/dev/null'))).toBe('not-regular');
  });

  it('says missing for a missing file, too-large over maxBytes, not-private when asked', () => {
    expect(reasonOf(() => readStateFileSync(join(dir, 'nope')))).toBe('missing');
    const big = join(dir, 'big');
    writeFileSync(big, 'x'.repeat(100));
    expect(reasonOf(() => readStateFileSync(big, { maxBytes: 99 }))).toBe('too-large');
    expect(readStateFileSync(big, { maxBytes: 100 })).toHaveLength(100);
    chmodSync(big, 0o644);
    expect(reasonOf(() => readStateFileSync(big, { private: true }))).toBe('not-private');
    chmodSync(big, 0o600);
    expect(readStateFileSync(big, { private: true })).toHaveLength(100);
  });

  it.skipIf(process.getuid?.() !== 0)('refuses a file owned by another user', () => {
    const path = join(dir, 'theirs.json');
    writeFileSync(path, '{}');
    execFileSync('chown', ['65534', path]);
    expect(reasonOf(() => readStateFileSync(path))).toBe('foreign-owner');
  });
});

describe.skipIf(process.platform === 'win32')('writeStateFile', () => {
  it('replaces a planted FIFO or symlink instead of writing through it', async () => {
    const fifo = join(dir, 'fifo.json');
    execFileSync('mkfifo', [fifo]);
    writeStateFileSync(fifo, 'one');
    expect(readStateFileSync(fifo)).toBe('one');

    const victim = join(dir, 'victim');
    writeFileSync(victim, 'keep me');
    const link = join(dir, 'link.json');
    symlinkSync(victim, link);
    await writeStateFile(link, 'two');
    expect(readStateFileSync(link)).toBe('two');
    expect(readFileSync(victim, 'utf8')).toBe('keep me');
  });

  it('writes 0600 and leaves no temp file behind', () => {
    const path = join(dir, 's.json');
    writeStateFileSync(path, 'x');
    expect(readStateFileSync(path, { private: true })).toBe('x');
    expect(execFileSync('ls', ['-A', dir], { encoding: 'utf8' }).trim()).toBe('s.json');
  });
});

describe.skipIf(process.platform === 'win32')('openAppendStateFileSync', () => {
  it('creates 0600, appends, and refuses a FIFO (with or without a reader), a symlink and a directory', async () => {
    const { openAppendStateFileSync } = await import('../src/index.js');
    const { closeSync, writeSync, statSync } = await import('node:fs');
    const log = join(dir, 'out.log');
    for (const line of ['a\n', 'b\n']) {
      const fd = openAppendStateFileSync(log);
      writeSync(fd, line);
      closeSync(fd);
    }
    expect(readFileSync(log, 'utf8')).toBe('a\nb\n');
    expect(statSync(log).mode & 0o777).toBe(0o600);
    const fifo = join(dir, 'fifo.log');
    execFileSync('mkfifo', [fifo]);
    expect(reasonOf(() => openAppendStateFileSync(fifo))).toBe('not-regular');
    const link = join(dir, 'link.log');
    symlinkSync(log, link);
    expect(reasonOf(() => openAppendStateFileSync(link))).toBe('symlink');
    mkdirSync(join(dir, 'd'));
    expect(reasonOf(() => openAppendStateFileSync(join(dir, 'd')))).toBe('unreadable');
  });
});
