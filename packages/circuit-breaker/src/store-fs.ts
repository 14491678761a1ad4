// The file store's one way to the file system for writes (state file, temp files, probe lease slots):
// node's functions, or a test's replacements, checked once at fileStore(). Reads never go through it.
import {
  closeSync,
  fstatSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { show } from '@spawnguard/internal';

/**
 * The synchronous fs functions the file store writes with (the state file, its temp files and the
 * probe lease files); replace any of them to simulate failures. Reads cannot be replaced: every
 * file is read without blocking or following a link (O_NONBLOCK | O_NOFOLLOW, then fstat: a
 * regular file owned by this user), so a FIFO, a device or a link at the path can never hang or
 * redirect a launcher. Simulate read failures with a store that wraps `load()`.
 */
export type FileStoreFs = Pick<
  typeof import('node:fs'),
  'writeFileSync' | 'renameSync' | 'unlinkSync' | 'mkdirSync' | 'linkSync' | 'readdirSync'
>;

const NODE_FS: FileStoreFs = { writeFileSync, renameSync, unlinkSync, mkdirSync, linkSync, readdirSync };
/** What `fs` used to let tests replace; reads no longer go through it. */
const NODE_READS: Record<string, unknown> = { openSync, fstatSync, readSync, closeSync };

/** The fs a file store writes with: node's, with the functions `injected` names replaced (each checked). */
export function checkFs(injected: Partial<FileStoreFs> | undefined): FileStoreFs {
  if (injected === undefined) return NODE_FS;
  if (typeof injected !== 'object' || injected === null) {
    throw new TypeError(`fileStore fs must be an object, got ${show(injected)}`);
  }
  for (const name of Object.keys(NODE_READS)) {
    const given = (injected as Record<string, unknown>)[name];
    if (given !== undefined && given !== NODE_READS[name]) {
      throw new TypeError(
        `fileStore fs.${name} cannot be replaced: state files are always read without blocking or following links; ` +
          'simulate read failures with a store that wraps load()',
      );
    }
  }
  const fs: Record<string, unknown> = { ...NODE_FS };
  for (const name of Object.keys(NODE_FS) as Array<keyof FileStoreFs>) {
    const given = injected[name];
    if (given === undefined) continue;
    if (typeof given !== 'function') {
      throw new TypeError(`fileStore fs.${name} must be a function, got ${show(given)}`);
    }
    fs[name] = given;
  }
  return fs as unknown as FileStoreFs;
}
