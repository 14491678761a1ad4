import { randomBytes } from 'node:crypto';
import { lstat, readdir } from 'node:fs/promises';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import { fileKind, pidExists, readStateFile, writeStateFile } from '@spawnguard/internal';
import { isSameProcess, processIdentity } from '@spawnguard/process-table';

export const OWNER_FORMAT = '@spawnguard/spawn-mutex';

/**
 * The owner record is `owner-<nonce>.json`, the one file inside the lock folder. The nonce in the name
 * makes a takeover claim exact: renaming that one file out can only succeed once, and only while that
 * incarnation of the lock exists (a newer lock has another file name).
 */
export const ownerFileName = (nonce: string) => `owner-${nonce}.json`;
export const OWNER_FILE_PATTERN = /^owner-([0-9a-f]{8,64})\.json$/;
/**
 * The daemon the holder spawned: `${lockDir}.spawned-<nonce>.json`, beside the lock folder (the
 * holder never writes into the folder once it is the lock). While that daemon lives, the lock stays
 * busy even if the holder dies or gives up, so nobody spawns a second daemon while the first boots.
 */
export const spawnedFileName = (nonce: string) => `spawned-${nonce}.json`;
export const spawnedPathFor = (lockDir: string, nonce: string) => `${lockDir}.${spawnedFileName(nonce)}`;

/** A record is a few hundred bytes; anything larger is not ours and is never read whole. */
const RECORD_MAX_BYTES = 4096;

/** Written into the lock folder by its holder: who holds it, provably (pid + start token). */
export interface OwnerRecord {
  format: typeof OWNER_FORMAT;
  version: 1;
  pid: number;
  /** process-table start token of the holder ('' when the platform could not tell). */
  startToken: string;
  hostname: string;
  /** ms since the epoch when the lock was taken. */
  createdAt: number;
  /** Unique per lock incarnation; names the owner file. */
  nonce: string;
}

let selfToken: Promise<string> | undefined;

/** Our own start token, looked up once per process. */
export function ownStartToken(): Promise<string> {
  selfToken ??= processIdentity(process.pid, { timeoutMs: 2000 }).then(
    (info) => info?.startToken ?? '',
    () => '',
  );
  return selfToken;
}

export const newNonce = () => randomBytes(12).toString('hex');

export async function newOwnerRecord(hostname = osHostname(), nonce = newNonce()): Promise<OwnerRecord> {
  return {
    format: OWNER_FORMAT,
    version: 1,
    pid: process.pid,
    startToken: await ownStartToken(),
    hostname,
    createdAt: Date.now(),
    nonce,
  };
}

/** A record naming another live process (the daemon a holder spawned), or null when it is gone. */
export async function ownerRecordFor(pid: number, nonce: string, hostname = osHostname()): Promise<OwnerRecord | null> {
  const info = await processIdentity(pid, { timeoutMs: 2000 }).catch(() => null);
  if (!info || info.state === 'Z') return null;
  return {
    format: OWNER_FORMAT,
    version: 1,
    pid,
    startToken: info.startToken,
    hostname,
    createdAt: Date.now(),
    nonce,
  };
}

/** Atomic (temp file + rename), 0600. No fsync: after a power cut every recorded pid is gone anyway. */
export function writeRecord(path: string, record: OwnerRecord): Promise<void> {
  return writeStateFile(path, `${JSON.stringify(record)}\n`, { fsync: false });
}

/**
 * A record file, read as a state file (never blocks on a FIFO, never follows a link, only a regular
 * file of ours): the record, 'missing', or 'invalid' (unreadable, foreign, corrupt, or not for `nonce`).
 */
export async function readRecord(path: string, nonce?: string): Promise<OwnerRecord | 'missing' | 'invalid'> {
  let raw: string;
  try {
    raw = await readStateFile(path, { maxBytes: RECORD_MAX_BYTES });
  } catch (error) {
    return (error as { reason?: string }).reason === 'missing' ? 'missing' : 'invalid';
  }
  const record = parseOwner(raw);
  if (record === null || (nonce !== undefined && record.nonce !== nonce)) return 'invalid';
  return record;
}

export interface LockSnapshot {
  /** Everything in the folder: one owner file for a lock, nothing for a folder that holds nobody. */
  entries: string[];
  /** Name of the owner file in the folder, or null when there is none. */
  ownerFile: string | null;
  /** The parsed owner record, or null when missing, unreadable or not ours. */
  owner: OwnerRecord | null;
  /** The folder's mtime: its holder refreshes it every staleMs / 2. */
  mtimeMs: number;
}

/** What sits at the lock path and cannot be a lock folder: a clear error, never followed or used. */
export class LockPathError extends Error {
  constructor(
    readonly code: 'ELOOP' | 'ENOTDIR' | 'EPERM',
    readonly path: string,
    message: string,
  ) {
    super(message);
    this.name = 'LockPathError';
  }
}

/** What is in the lock folder right now; null when there is no lock folder. */
export async function readLockDir(lockDir: string): Promise<LockSnapshot | null> {
  let stats: Awaited<ReturnType<typeof lstat>>;
  try {
    stats = await lstat(lockDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error; // ENOTDIR: a parent is a regular file; EACCES: cannot look
  }
  if (stats.isSymbolicLink()) {
    throw new LockPathError(
      'ELOOP',
      lockDir,
      `${lockDir} is a symbolic link, not a lock folder; spawn-mutex never makes one and does not follow it: remove it`,
    );
  }
  if (!stats.isDirectory()) {
    throw new LockPathError(
      'ENOTDIR',
      lockDir,
      `${lockDir} is ${fileKind(stats)}, not a lock folder; spawn-mutex did not create it: remove it`,
    );
  }
  const uid = process.getuid?.();
  if (process.platform !== 'win32' && uid !== undefined && stats.uid !== uid) {
    throw new LockPathError(
      'EPERM',
      lockDir,
      `${lockDir} belongs to uid ${stats.uid}, not to you (uid ${uid}): use a lock path in a folder of your own`,
    );
  }
  let entries: string[];
  try {
    entries = await readdir(lockDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null; // released meanwhile
    throw error;
  }
  const ownerFile = entries.filter((name) => OWNER_FILE_PATTERN.test(name)).sort()[0] ?? null;
  let owner: OwnerRecord | null = null;
  if (ownerFile) {
    const read = await readRecord(join(lockDir, ownerFile), OWNER_FILE_PATTERN.exec(ownerFile)![1]);
    owner = typeof read === 'string' ? null : read;
  }
  return { entries, ownerFile, owner, mtimeMs: stats.mtimeMs };
}

export function parseOwner(raw: string): OwnerRecord | null {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return null;
  }
  const r = value as Partial<OwnerRecord> | null;
  if (
    typeof r !== 'object' ||
    r === null ||
    r.format !== OWNER_FORMAT ||
    r.version !== 1 ||
    typeof r.pid !== 'number' ||
    !Number.isInteger(r.pid) ||
    r.pid <= 0 ||
    typeof r.startToken !== 'string' ||
    typeof r.hostname !== 'string' ||
    typeof r.createdAt !== 'number' ||
    typeof r.nonce !== 'string' ||
    !/^[0-9a-f]{8,64}$/.test(r.nonce)
  ) {
    return null;
  }
  return r as OwnerRecord;
}

/**
 * What can be proven about a recorded process. 'alive' and 'dead' need the same host and a start
 * token: there, the pid is looked up and its start token compared (a reused pid is another process).
 * Elsewhere, without a token, or when the look-up fails, it is 'unknown' and only age can decide.
 * Without a token, a pid that does not exist at all is still provably dead.
 */
export async function liveness(record: OwnerRecord, hostname = osHostname()): Promise<'alive' | 'dead' | 'unknown'> {
  if (record.hostname !== hostname) return 'unknown';
  if (record.startToken === '') return pidExists(record.pid) ? 'unknown' : 'dead';
  try {
    return (await isSameProcess({ pid: record.pid, startToken: record.startToken }, { timeoutMs: 2000 }))
      ? 'alive'
      : 'dead';
  } catch {
    return 'unknown'; // cannot tell: never a reason to take over
  }
}

export async function isOwnerDead(owner: OwnerRecord, hostname = osHostname()): Promise<boolean> {
  return (await liveness(owner, hostname)) === 'dead';
}
