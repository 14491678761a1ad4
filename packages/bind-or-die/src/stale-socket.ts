import { randomBytes } from 'node:crypto';
import { link, lstat, open, rename, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import { pidExists, readStateFile } from '@spawnguard/internal';
import { NotASocketError } from './errors.js';

/** A connect that neither succeeds nor is refused in this time means a swamped but live server. */
const PROBE_TIMEOUT_MS = 1000;
/** How long to wait for another process that is recovering the same path. Recovery takes milliseconds. */
const LOCK_WAIT_MS = 3000;
/** A recovery lock whose writer never wrote its pid, or that is older than this, is abandoned. */
const LOCK_ABANDONED_MS = 5000;

export type SocketState = 'live' | 'stale' | 'gone';

/**
 * Only one process at a time may decide that a socket file is stale, remove it and bind again:
 * without that, two recoverers can remove each other's fresh socket and both "win" with one of
 * them unreachable. The lock is `<path>.lock`, created with O_EXCL and holding our pid.
 * `fn(true)` runs under the lock; `fn(false)` when it could not be had in time (never remove then).
 */
export async function withRecoveryLock<T>(
  path: string,
  signal: AbortSignal | undefined,
  fn: (mayRemove: boolean) => Promise<T>,
): Promise<T> {
  const lockPath = `${path}.lock`;
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    signal?.throwIfAborted();
    if (await tryCreateLock(lockPath)) break;
    if (Date.now() > deadline) return fn(false);
    await removeIfAbandoned(lockPath);
    await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20));
  }
  try {
    return await fn(true);
  } finally {
    await unlink(lockPath).catch(() => {});
  }
}

/**
 * Under the recovery lock: a socket that refuses connections is removed. Anything that is not a
 * socket is never touched. Nobody else removes files while we hold the lock, and a process that
 * is not recovering can only bind once the path is gone, so the file we probed is the one we unlink.
 */
export async function removeIfStale(path: string, mayRemove: boolean): Promise<'live' | 'removed' | 'gone'> {
  let stats: Awaited<ReturnType<typeof lstat>>;
  try {
    stats = await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw error;
  }
  if (!stats.isSocket()) throw new NotASocketError(path, kindOf(stats));
  const state = await probeSocket(path);
  if (state !== 'stale') return state;
  if (!mayRemove) {
    throw Object.assign(
      new Error(
        `${path} is a stale socket, but ${path}.lock (another process recovering it) did not go away within ` +
          `${LOCK_WAIT_MS} ms; if no process is starting up, remove ${path}.lock`,
      ),
      { code: 'EADDRINUSE', path },
    );
  }
  await unlink(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
  return 'removed';
}

/** 'live' accepts (or is too busy to refuse), 'stale' refuses, 'gone' vanished; other errors throw. */
export function probeSocket(path: string): Promise<SocketState> {
  return new Promise((resolve, reject) => {
    const socket = connect({ path });
    const done = (result: SocketState | Error) => {
      clearTimeout(timer);
      socket.destroy();
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    const timer = setTimeout(() => done('live'), PROBE_TIMEOUT_MS);
    timer.unref();
    socket.once('connect', () => done('live'));
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED') done('stale');
      else if (error.code === 'ENOENT') done('gone');
      else if (error.code === 'EAGAIN') done('live');
      else done(error);
    });
  });
}

async function tryCreateLock(lockPath: string): Promise<boolean> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(lockPath, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    await handle.writeFile(`${process.pid}\n`);
  } finally {
    await handle.close();
  }
  return true;
}

/**
 * A lock whose holder died mid-recovery would block every later recovery. Move it aside and check
 * that what we moved is the lock we judged abandoned; if not, put it back without overwriting.
 */
async function removeIfAbandoned(lockPath: string): Promise<void> {
  const judged = await readLock(lockPath);
  if (!judged) return;
  const age = Date.now() - judged.mtimeMs;
  const abandoned = judged.pid === null ? age > LOCK_ABANDONED_MS : !pidExists(judged.pid) || age > LOCK_ABANDONED_MS;
  if (!abandoned) return;
  const aside = `${lockPath}.${randomBytes(4).toString('hex')}`;
  try {
    await rename(lockPath, aside);
  } catch {
    return; // someone else removed it first
  }
  const moved = await readLock(aside);
  if (!moved || moved.ino !== judged.ino || moved.text !== judged.text) {
    await link(aside, lockPath).catch(() => {});
  }
  await unlink(aside).catch(() => {});
}

async function readLock(
  path: string,
): Promise<{ text: string; pid: number | null; ino: number; mtimeMs: number } | null> {
  try {
    const stats = await lstat(path);
    // Never readFile(): a FIFO planted at <path>.lock would block this process forever. Anything
    // but a small regular file of ours is not a recovery lock we may judge (it is left alone).
    const text = await readStateFile(path, { maxBytes: 64 });
    const pid = Number.parseInt(text, 10);
    return { text, pid: Number.isInteger(pid) && pid > 0 ? pid : null, ino: stats.ino, mtimeMs: stats.mtimeMs };
  } catch {
    return null;
  }
}

function kindOf(stats: { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean }): string {
  if (stats.isSymbolicLink()) return 'symlink';
  if (stats.isDirectory()) return 'directory';
  if (stats.isFile()) return 'file';
  return 'non-socket file';
}
