import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { bindOrDie, createBindOrDieEvents, LostBindError, NotASocketError } from '../src/index.js';
import { killChildren, removeTempDirs, startChild, tempDir } from './helpers.js';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
  await killChildren();
  removeTempDirs();
});

function server(): Server {
  const s = createServer((socket) => {
    socket.on('error', () => {});
    socket.end('new\n');
  });
  servers.push(s);
  return s;
}

function greet(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ path });
    let text = '';
    socket.on('data', (d) => {
      text += d;
    });
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}

/** A socket file left behind by a SIGKILLed process: exists, refuses connections. */
async function staleSocket(path: string): Promise<void> {
  const holder = startChild('socket-holder.mjs', [path]);
  await holder.waitFor('ready');
  holder.proc.kill('SIGKILL');
  await holder.exited;
}

describe('unix domain sockets', () => {
  it('removes a stale socket file (its owner was SIGKILLed) and binds', async () => {
    const path = join(tempDir(), 'stale.sock');
    await staleSocket(path);
    await expect(greet(path)).rejects.toMatchObject({ code: 'ECONNREFUSED' });

    const events = createBindOrDieEvents();
    const removed = vi.fn();
    events.on('staleSocketRemoved', removed);
    const onLost = vi.fn();
    await expect(bindOrDie(server(), { path }, { onLost, events })).resolves.toBe(path);
    expect(removed).toHaveBeenCalledWith({ path });
    expect(onLost).not.toHaveBeenCalled();
    expect(await greet(path)).toBe('new\n');
  });

  it('loses to a live socket: onLost is called, the promise rejects with LostBindError, the file is untouched', async () => {
    const path = join(tempDir(), 'live.sock');
    const holder = startChild('socket-holder.mjs', [path]);
    await holder.waitFor('ready');

    const events = createBindOrDieEvents();
    const lost = vi.fn();
    events.on('lost', lost);
    const onLost = vi.fn();
    const error = await bindOrDie(server(), { path }, { onLost, events }).catch((e) => e);
    expect(error).toBeInstanceOf(LostBindError);
    expect(error).toMatchObject({ code: 'ELOSTBIND', address: path, winnerVerified: undefined });
    expect(onLost).toHaveBeenCalledTimes(1);
    expect(onLost.mock.calls[0]![0]).toMatchObject({ address: path, error: { code: 'EADDRINUSE' } });
    expect(lost).toHaveBeenCalledTimes(1);
    expect(await greet(path)).toBe('holder\n');
  });

  it.each([
    ['a regular file', (p: string) => writeFileSync(p, 'precious'), 'file'],
    ['a directory', (p: string) => mkdirSync(p), 'directory'],
    ['a symlink', (p: string) => symlinkSync('/nonexistent-target', p), 'symlink'],
  ])('never removes %s at the socket path', async (_name, make, found) => {
    const path = join(tempDir(), 'taken');
    make(path);
    const onLost = vi.fn();
    const error = await bindOrDie(server(), { path }, { onLost }).catch((e) => e);
    expect(error).toBeInstanceOf(NotASocketError);
    expect(error).toMatchObject({ code: 'ENOTSOCK', path, found });
    expect(error.message).toContain(`a ${found} exists there`);
    expect(onLost).not.toHaveBeenCalled();
    expect(existsSync(path) || found === 'symlink').toBe(true);
    if (found === 'file') expect(readFileSync(path, 'utf8')).toBe('precious');
  });

  it('recovers even when a recoverer died holding <path>.lock', async () => {
    const dir = tempDir();
    const path = join(dir, 'stale.sock');
    await staleSocket(path);
    const dead = startChild('socket-holder.mjs', [join(dir, 'other.sock')]);
    await dead.waitFor('ready');
    dead.proc.kill('SIGKILL');
    await dead.exited;
    writeFileSync(`${path}.lock`, `${dead.pid}\n`);
    await expect(bindOrDie(server(), { path })).resolves.toBe(path);
    expect(existsSync(`${path}.lock`)).toBe(false);
    expect(await greet(path)).toBe('new\n');
  });

  it('a recovery lock held by a live process for too long is a clear error, not a silent loss', async () => {
    const path = join(tempDir(), 'stale.sock');
    await staleSocket(path);
    writeFileSync(`${path}.lock`, `${process.pid}\n`); // alive: us
    const onLost = vi.fn();
    const error = await bindOrDie(server(), { path }, { onLost }).catch((e) => e);
    expect(error.message).toContain(`${path}.lock (another process recovering it) did not go away`);
    expect(error.code).toBe('EADDRINUSE');
    expect(onLost).not.toHaveBeenCalled();
    expect(existsSync(path)).toBe(true); // not removed without the lock
  }, 15_000);

  it('a FIFO planted at <path>.lock is a clear error within the lock wait, never a hang', async () => {
    const path = join(tempDir(), 'stale.sock');
    await staleSocket(path);
    execFileSync('mkfifo', [`${path}.lock`]);
    const t0 = Date.now();
    const error = await bindOrDie(server(), { path }, { onLost: vi.fn() }).catch((e) => e);
    expect(error.code).toBe('EADDRINUSE');
    expect(error.message).toContain(`remove ${path}.lock`);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(existsSync(path)).toBe(true);
  }, 15_000);

  it('binds a fresh path without touching anything', async () => {
    const path = join(tempDir(), 'fresh.sock');
    await expect(bindOrDie(server(), { path })).resolves.toBe(path);
    expect(await greet(path)).toBe('new\n');
  });

  it('a path in a missing folder rejects with the original listen error', async () => {
    const path = join(tempDir(), 'no', 'such', 'dir.sock');
    const onLost = vi.fn();
    const s = server();
    const emitted = new Promise((resolve) => s.once('error', resolve));
    const error = await bindOrDie(s, { path }, { onLost }).catch((e) => e);
    // libuv reports a missing folder as EACCES for pipes; either way it is the server's own error.
    expect(error).toBe(await emitted);
    expect(['EACCES', 'ENOENT']).toContain(error.code);
    expect(onLost).not.toHaveBeenCalled();
  });
});
