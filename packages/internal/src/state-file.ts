import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fstatSync,
  fsyncSync,
  lstatSync,
  openSync,
  readSync,
  renameSync,
  type Stats,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * State files (a breaker's circuit, a lock's owner record, a registry, a pid file) are read by
 * short-lived processes that must never hang. A plain open(2) of a FIFO blocks until a writer
 * appears, and a symlink can point anywhere. So every state file is opened with O_NONBLOCK (a FIFO
 * opens at once, then fstat refuses it) and O_NOFOLLOW (a symlink fails with ELOOP), and read only
 * when fstat proves a regular file owned by this user.
 */
export type StateFileReason =
  | 'missing'
  | 'symlink'
  | 'not-regular'
  | 'foreign-owner'
  | 'not-private'
  | 'too-large'
  | 'unreadable';

export class StateFileError extends Error {
  readonly code = 'ESTATEFILE';
  constructor(
    readonly reason: StateFileReason,
    readonly path: string,
    message: string,
    readonly errno?: string,
  ) {
    super(message);
    this.name = 'StateFileError';
  }
}

export interface ReadStateFileOptions {
  /** Refuse files larger than this (someone else's file; never read it whole). Default 1 MiB. */
  maxBytes?: number;
  /** Also refuse a file that group or others can read or write (tokens, pid files). Default false. */
  private?: boolean;
}

const IS_WINDOWS = process.platform === 'win32';
// Windows has no FIFOs at file paths and no O_NOFOLLOW; symlinks are refused by lstat there.
const READ_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);
const DEFAULT_MAX_BYTES = 1024 * 1024;

/** "a FIFO", "a directory", ...: what a non-regular file is, for messages. */
export function fileKind(
  stat: Pick<
    Stats,
    'isFile' | 'isDirectory' | 'isFIFO' | 'isSocket' | 'isCharacterDevice' | 'isBlockDevice' | 'isSymbolicLink'
  >,
): string {
  if (stat.isFile()) return 'a regular file';
  if (stat.isDirectory()) return 'a directory';
  if (stat.isFIFO()) return 'a FIFO (named pipe)';
  if (stat.isSocket()) return 'a socket';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  if (stat.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}

function openError(error: unknown, path: string): StateFileError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new StateFileError('missing', path, `${path} does not exist`, code);
  if (code === 'ELOOP' || code === 'EMLINK') {
    return new StateFileError(
      'symlink',
      path,
      `${path} is a symbolic link; refusing to follow it. Remove the link (it was not written by spawnguard).`,
      code,
    );
  }
  return new StateFileError('unreadable', path, `${path} cannot be opened: ${(error as Error).message}`, code);
}

/** Throws unless `stat` (of the opened descriptor) is a regular file we own (and private, if asked). */
export function checkStateStat(stat: Stats, path: string, options: ReadStateFileOptions = {}): void {
  if (!stat.isFile()) {
    throw new StateFileError(
      'not-regular',
      path,
      `${path} is ${fileKind(stat)}, not a regular file; refusing to use it. Remove it (spawnguard did not create it).`,
    );
  }
  const uid = process.getuid?.();
  if (!IS_WINDOWS && uid !== undefined && stat.uid !== uid) {
    throw new StateFileError(
      'foreign-owner',
      path,
      `${path} is owned by uid ${stat.uid}, not by you (uid ${uid}); refusing to trust it. Remove it or choose another path.`,
    );
  }
  if (options.private && !IS_WINDOWS && (stat.mode & 0o077) !== 0) {
    throw new StateFileError(
      'not-private',
      path,
      `${path} is readable or writable by group or others (mode 0${(stat.mode & 0o777).toString(8)}); refusing to trust it. Fix it with: chmod 600 ${path}`,
    );
  }
  const max = options.maxBytes ?? DEFAULT_MAX_BYTES;
  if (stat.size > max) {
    throw new StateFileError(
      'too-large',
      path,
      `${path} is ${stat.size} bytes, over the ${max}-byte limit for a state file`,
    );
  }
}

function refuseWindowsLink(path: string): void {
  if (!IS_WINDOWS) return;
  let stat: Stats;
  try {
    stat = lstatSync(path);
  } catch (error) {
    throw openError(error, path);
  }
  if (stat.isSymbolicLink()) throw openError(Object.assign(new Error('symlink'), { code: 'ELOOP' }), path);
}

/** Reads a state file without ever blocking on it or following a link. Throws StateFileError. */
export function readStateFileSync(path: string, options: ReadStateFileOptions = {}): string {
  refuseWindowsLink(path);
  let fd: number;
  try {
    fd = openSync(path, READ_FLAGS);
  } catch (error) {
    throw openError(error, path);
  }
  try {
    const stat = fstatSync(fd);
    checkStateStat(stat, path, options);
    const buffer = Buffer.allocUnsafe(stat.size + 1);
    let length = 0;
    while (length < buffer.length) {
      const n = readSync(fd, buffer, length, buffer.length - length, length);
      if (n === 0) break;
      length += n;
    }
    const max = options.maxBytes ?? DEFAULT_MAX_BYTES;
    if (length > max) {
      throw new StateFileError(
        'too-large',
        path,
        `${path} grew past the ${max}-byte limit for a state file while read`,
      );
    }
    return buffer.toString('utf8', 0, length);
  } finally {
    closeSync(fd);
  }
}

/** The promise form of readStateFileSync. */
export async function readStateFile(path: string, options: ReadStateFileOptions = {}): Promise<string> {
  refuseWindowsLink(path);
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, READ_FLAGS);
  } catch (error) {
    throw openError(error, path);
  }
  try {
    const stat = await handle.stat();
    checkStateStat(stat, path, options);
    const max = options.maxBytes ?? DEFAULT_MAX_BYTES;
    const buffer = Buffer.allocUnsafe(stat.size + 1);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > max) {
      throw new StateFileError(
        'too-large',
        path,
        `${path} grew past the ${max}-byte limit for a state file while read`,
      );
    }
    return buffer.toString('utf8', 0, length);
  } finally {
    await handle.close();
  }
}

const APPEND_FLAGS =
  constants.O_WRONLY |
  constants.O_APPEND |
  constants.O_CREAT |
  (constants.O_NOFOLLOW ?? 0) |
  (constants.O_NONBLOCK ?? 0);

/**
 * Opens a log-like file for appending (created 0600 when missing) without ever blocking or
 * following a link: a FIFO with no reader fails with ENXIO instead of hanging, one with a reader
 * opens and is then refused by fstat, like every other non-regular file. Returns the descriptor.
 */
export function openAppendStateFileSync(path: string, options: { mode?: number } = {}): number {
  refuseWindowsLink(path);
  let fd: number;
  try {
    fd = openSync(path, APPEND_FLAGS, options.mode ?? 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENXIO') {
      throw new StateFileError(
        'not-regular',
        path,
        `${path} is a FIFO (named pipe), not a regular file; refusing to use it. Remove it (spawnguard did not create it).`,
        'ENXIO',
      );
    }
    throw openError(error, path);
  }
  try {
    checkStateStat(fstatSync(fd), path, { maxBytes: Number.MAX_SAFE_INTEGER });
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  return fd;
}

/** `<folder>/.<name>.<pid>.<random>.tmp`: beside the target (same filesystem, so rename is atomic). */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

export interface WriteStateFileOptions {
  /** Default 0o600. */
  mode?: number;
  /** fsync before the rename (survives a power cut). Default true. */
  fsync?: boolean;
}

/**
 * Atomic replace: a reader sees the old file or the new one, never half of one. The temp file is
 * created exclusively (O_EXCL never follows a link), then renamed over the path; rename replaces
 * whatever entry is there (a planted FIFO or link included) and never writes through it.
 */
export function writeStateFileSync(path: string, data: string, options: WriteStateFileOptions = {}): void {
  const temp = tempPathFor(path);
  const fd = openSync(temp, 'wx', options.mode ?? 0o600);
  try {
    try {
      writeSync(fd, data);
      if (options.fsync !== false) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  } catch (error) {
    try {
      unlinkSync(temp);
    } catch {}
    throw error;
  }
}

/** The promise form of writeStateFileSync. */
export async function writeStateFile(path: string, data: string, options: WriteStateFileOptions = {}): Promise<void> {
  const temp = tempPathFor(path);
  const handle = await open(temp, 'wx', options.mode ?? 0o600);
  try {
    try {
      await handle.writeFile(data);
      if (options.fsync !== false) await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => {});
    throw error;
  }
}
