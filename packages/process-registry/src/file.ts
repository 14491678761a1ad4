import { randomBytes } from 'node:crypto';
import { lstat, mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { CorruptReason, Entry, OwnerRecord } from './types.js';
import { isPositiveInt } from './validate.js';

/** The tag that makes a JSON file ours; anything else at the path is foreign. */
export const FORMAT = 'spawnguard-process-registry';
export const VERSION = 1;

export interface RegistryFile {
  format: typeof FORMAT;
  version: typeof VERSION;
  owner: OwnerRecord;
  updatedAt: number;
  entries: Entry[];
}

export type ReadResult =
  | { kind: 'missing' }
  | { kind: 'ok'; file: RegistryFile }
  | { kind: 'corrupt'; reason: CorruptReason; detail: string; fileUid: number | null };

/** Reads and validates the file. Never trusts what does not match the format exactly. */
export async function readRegistryFile(path: string): Promise<ReadResult> {
  let stats: Awaited<ReturnType<typeof lstat>>;
  try {
    stats = await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
    throw error;
  }
  if (stats.isDirectory()) {
    const error = new Error(`${path} is a directory, not a registry file`) as NodeJS.ErrnoException;
    error.code = 'EISDIR';
    throw error;
  }
  if (!stats.isFile()) {
    return {
      kind: 'corrupt',
      reason: 'not-a-regular-file',
      detail: 'not a regular file (symlink, fifo, ...)',
      fileUid: null,
    };
  }
  // Another user's file is never trusted: it could name any pid for us to kill.
  const myUid = typeof process.getuid === 'function' ? process.getuid() : null;
  if (myUid !== null && stats.uid !== myUid) {
    return {
      kind: 'corrupt',
      reason: 'foreign-uid',
      detail: `owned by uid ${stats.uid}, this process runs as uid ${myUid}`,
      fileUid: stats.uid,
    };
  }
  const text = await readFile(path, 'utf8');
  if (text.trim().length === 0) return { kind: 'corrupt', reason: 'empty', detail: 'the file is empty', fileUid: null };
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    return { kind: 'corrupt', reason: 'not-json', detail: (error as Error).message, fileUid: null };
  }
  const problem = shapeProblem(data);
  if (problem) return { kind: 'corrupt', ...problem, fileUid: null };
  return { kind: 'ok', file: data as RegistryFile };
}

function shapeProblem(data: unknown): { reason: CorruptReason; detail: string } | null {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    return { reason: 'foreign-format', detail: 'JSON is not an object' };
  }
  const file = data as Record<string, unknown>;
  if (file.format !== FORMAT) {
    return { reason: 'foreign-format', detail: `format tag is ${JSON.stringify(file.format)}, expected "${FORMAT}"` };
  }
  if (file.version !== VERSION) {
    return { reason: 'wrong-version', detail: `version is ${JSON.stringify(file.version)}, expected ${VERSION}` };
  }
  if (!isOwner(file.owner)) return { reason: 'wrong-shape', detail: 'owner must be {pid, startToken, hostname}' };
  if (typeof file.updatedAt !== 'number' || !Number.isFinite(file.updatedAt)) {
    return { reason: 'wrong-shape', detail: 'updatedAt must be a number' };
  }
  if (!Array.isArray(file.entries)) return { reason: 'wrong-shape', detail: 'entries must be an array' };
  const bad = file.entries.findIndex((entry) => !isEntry(entry));
  if (bad !== -1) return { reason: 'wrong-shape', detail: `entries[${bad}] is not a valid entry` };
  return null;
}

function isOwner(value: unknown): value is OwnerRecord {
  if (value === null || typeof value !== 'object') return false;
  const owner = value as Record<string, unknown>;
  return (
    isPositiveInt(owner.pid) &&
    typeof owner.startToken === 'string' &&
    owner.startToken.length > 0 &&
    typeof owner.hostname === 'string'
  );
}

function isEntry(value: unknown): value is Entry {
  if (value === null || typeof value !== 'object') return false;
  const entry = value as Record<string, unknown>;
  return (
    isPositiveInt(entry.pid) &&
    typeof entry.startToken === 'string' &&
    entry.startToken.length > 0 &&
    (entry.pgid === null || isPositiveInt(entry.pgid)) &&
    typeof entry.session === 'string' &&
    typeof entry.type === 'string' &&
    typeof entry.spawnedAt === 'number' &&
    Number.isFinite(entry.spawnedAt) &&
    typeof entry.command === 'string'
  );
}

/** Moves an untrusted file to `<path>.corrupt-<timestamp>` (with a counter if that exists). */
export async function moveAside(path: string, timestamp: number): Promise<string> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const target = `${path}.corrupt-${timestamp}${attempt === 0 ? '' : `-${attempt}`}`;
    try {
      await lstat(target);
      continue; // taken: try the next name rather than overwrite an earlier piece of evidence
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    await rename(path, target);
    return target;
  }
  throw new Error(`no free name for ${path}.corrupt-${timestamp}-N`);
}

/** Creates the folder (0700) when missing. An existing folder is left as it is. */
export async function ensureFolder(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
}

/**
 * Writes the whole file atomically: a temp file in the same folder (so rename never crosses a
 * filesystem), mode 0600, flushed, then renamed over the old one. Readers see the old or the new
 * file, never half of one.
 */
export async function writeRegistryFile(path: string, file: RegistryFile): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx', 0o600);
  try {
    try {
      await handle.writeFile(`${JSON.stringify(file, null, 2)}\n`, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => {});
    throw error;
  }
}
