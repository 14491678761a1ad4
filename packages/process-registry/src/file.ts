import { lstat, mkdir, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { isPositiveInt, readStateFile, StateFileError, writeStateFile } from '@spawnguard/internal';
import type { CorruptReason, Entry, OwnerRecord } from './types.js';

/** The tag that makes a JSON file ours; anything else at the path is foreign. */
export const FORMAT = 'spawnguard-process-registry';
export const VERSION = 1;
/** A registry names live children only; anything near this size was not written by us. */
const MAX_BYTES = 4 * 1024 * 1024;

export interface RegistryFile {
  format: typeof FORMAT;
  version: typeof VERSION;
  /** The owning daemon; `null` once it shut down cleanly with no child left (released: anyone may claim it). */
  owner: OwnerRecord | null;
  updatedAt: number;
  entries: Entry[];
}

export type ReadResult =
  | { kind: 'missing' }
  | { kind: 'ok'; file: RegistryFile }
  | { kind: 'corrupt'; reason: CorruptReason; detail: string; fileUid: number | null };

/**
 * Reads and validates the file. Opened with O_NONBLOCK | O_NOFOLLOW and checked on the open
 * descriptor (fstat): a FIFO, device or socket swapped in at any moment is refused without ever
 * blocking, a symlink is never followed. Never trusts what does not match the format exactly.
 */
export async function readRegistryFile(path: string): Promise<ReadResult> {
  let text: string;
  try {
    text = await readStateFile(path, { maxBytes: MAX_BYTES });
  } catch (error) {
    if (!(error instanceof StateFileError)) throw error;
    return refused(path, error);
  }
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

/** What a refused state file means for the registry: missing, untrusted (moved aside), or an error. */
async function refused(path: string, error: StateFileError): Promise<ReadResult> {
  switch (error.reason) {
    case 'missing':
      return { kind: 'missing' };
    case 'symlink':
      return { kind: 'corrupt', reason: 'not-a-regular-file', detail: error.message, fileUid: null };
    case 'not-regular': {
      // lstat only to word the outcome: nothing is read through it.
      const stats = await lstat(path).catch(() => null);
      if (stats?.isDirectory()) {
        throw Object.assign(new Error(`${path} is a directory, not a registry file`), { code: 'EISDIR' });
      }
      return { kind: 'corrupt', reason: 'not-a-regular-file', detail: error.message, fileUid: null };
    }
    case 'foreign-owner': {
      // Another user's file is never trusted: it could name any pid for us to kill.
      const uid = (await lstat(path).catch(() => null))?.uid ?? null;
      const me = process.getuid?.();
      return {
        kind: 'corrupt',
        reason: 'foreign-uid',
        detail: uid === null ? error.message : `owned by uid ${uid}, this process runs as uid ${me}`,
        fileUid: uid,
      };
    }
    case 'too-large':
      return { kind: 'corrupt', reason: 'too-large', detail: error.message, fileUid: null };
    default:
      throw Object.assign(new Error(error.message), { code: error.errno ?? error.code, cause: error });
  }
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
  if (file.owner !== null && !isOwner(file.owner)) {
    return { reason: 'wrong-shape', detail: 'owner must be {pid, startToken, hostname} or null' };
  }
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
    typeof entry.command === 'string' &&
    (entry.exitedAt === undefined || (typeof entry.exitedAt === 'number' && Number.isFinite(entry.exitedAt))) &&
    (entry.members === undefined || (Array.isArray(entry.members) && entry.members.every(isMember)))
  );
}

function isMember(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return false;
  const member = value as Record<string, unknown>;
  return isPositiveInt(member.pid) && typeof member.startToken === 'string' && member.startToken.length > 0;
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
    await rename(path, target); // renames the entry itself: a link or FIFO is moved, never opened
    return target;
  }
  throw new Error(`no free name for ${path}.corrupt-${timestamp}-N`);
}

/** Creates the folder (0700) when missing. An existing folder is left as it is. */
export async function ensureFolder(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
}

/**
 * Writes the whole file atomically: a temp file created exclusively in the same folder (mode
 * 0600), flushed, renamed over the old one. Readers see the old or the new file, never half of
 * one; a link or FIFO planted at the path is replaced, never written through.
 */
export function writeRegistryFile(path: string, file: RegistryFile): Promise<void> {
  return writeStateFile(path, `${JSON.stringify(file, null, 2)}\n`);
}
