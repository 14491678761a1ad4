import { randomBytes } from 'node:crypto';
import { readdir, readFile, rename, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import { isSameProcess, processIdentity } from '@spawnguard/process-table';

export const OWNER_FORMAT = '@spawnguard/spawn-mutex';

/**
 * The owner record is `owner-<nonce>.json` inside the lock folder. The nonce in the name makes a
 * takeover claim exact: renaming that one file out can only succeed once, and only while that
 * incarnation of the lock exists (a newer lock has another file name).
 */
export const ownerFileName = (nonce: string) => `owner-${nonce}.json`;
const OWNER_FILE_PATTERN = /^owner-([0-9a-f]{8,64})\.json$/;
/**
 * The daemon the holder spawned, recorded beside the holder's record (same nonce): while it lives,
 * the lock stays busy even if the holder dies or gives up, so nobody spawns a second daemon while
 * the first one is still booting.
 */
export const spawnedFileName = (nonce: string) => `spawned-${nonce}.json`;

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
  /** Unique per lock incarnation; names the graveyard on takeover. */
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

export async function newOwnerRecord(hostname = osHostname()): Promise<OwnerRecord> {
  return {
    format: OWNER_FORMAT,
    version: 1,
    pid: process.pid,
    startToken: await ownStartToken(),
    hostname,
    createdAt: Date.now(),
    nonce: randomBytes(12).toString('hex'),
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

/**
 * Write the owner record into the freshly made lock folder atomically (temp file beside the folder, then
 * rename), then put the folder's mtime back: proper-lockfile decides "still mine" by comparing the
 * folder's mtime with the one it set, and adding a file changes it.
 */
export async function writeOwnerRecord(
  lockDir: string,
  record: OwnerRecord,
  name = ownerFileName(record.nonce),
): Promise<void> {
  const before = await stat(lockDir);
  const temp = `${lockDir}.owner-${record.nonce}-${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(temp, `${JSON.stringify(record)}\n`, { mode: 0o644 });
  try {
    await rename(temp, join(lockDir, name));
  } catch (error) {
    await unlink(temp).catch(() => {});
    throw error;
  }
  await utimes(lockDir, before.atime, before.mtime);
}

export interface LockSnapshot {
  /** The parsed owner record, or null when missing or not ours. */
  owner: OwnerRecord | null;
  /** Name of the owner file in the folder, or null when there is none. */
  ownerFile: string | null;
  /** The daemon the holder spawned (same nonce), or null. */
  spawned: OwnerRecord | null;
  /** Everything in the folder (normally one owner file, or nothing in the first microseconds). */
  entries: string[];
  mtimeMs: number;
  ino: number;
}

/** What is in the lock folder right now; null when there is no lock folder. */
export async function readLockDir(lockDir: string): Promise<LockSnapshot | null> {
  let stats: Awaited<ReturnType<typeof stat>>;
  let entries: string[];
  try {
    stats = await stat(lockDir);
    entries = await readdir(lockDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error; // ENOTDIR: something that is not a lock folder sits at the lock path
  }
  const ownerFile = entries.find((name) => OWNER_FILE_PATTERN.test(name)) ?? null;
  let owner: OwnerRecord | null = null;
  if (ownerFile) {
    const raw = await readFile(join(lockDir, ownerFile), 'utf8').catch(() => null);
    owner = raw === null ? null : parseOwner(raw);
    if (owner && ownerFileName(owner.nonce) !== ownerFile) owner = null;
  }
  let spawned: OwnerRecord | null = null;
  if (owner && entries.includes(spawnedFileName(owner.nonce))) {
    const raw = await readFile(join(lockDir, spawnedFileName(owner.nonce)), 'utf8').catch(() => null);
    spawned = raw === null ? null : parseOwner(raw);
  }
  return { owner, ownerFile, spawned, entries, mtimeMs: stats.mtimeMs, ino: stats.ino };
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
 * Is the recorded holder provably gone? Only answerable on the same host: there, the pid is
 * looked up and its start token compared (a reused pid is a different process). Elsewhere, or
 * without a start token to compare, we cannot prove anything and the lock ages out via staleMs.
 */
export async function isOwnerDead(owner: OwnerRecord, hostname = osHostname()): Promise<boolean> {
  if (owner.hostname !== hostname) return false;
  if (owner.startToken === '') return !pidExists(owner.pid);
  try {
    return !(await isSameProcess({ pid: owner.pid, startToken: owner.startToken }, { timeoutMs: 2000 }));
  } catch {
    return false; // cannot tell: do not take over
  }
}

function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
