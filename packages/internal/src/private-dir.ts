import { lstat, mkdir } from 'node:fs/promises';
import { fileKind, StateFileError } from './state-file.js';

const IS_WINDOWS = process.platform === 'win32';

/**
 * Creates `dir` (0700, parents too) when missing, then proves it is a private folder of ours: a
 * real directory (a symlink is refused, never followed), owned by this user, with no access for
 * group or others. An existing folder is never loosened or tightened silently: one that fails is
 * refused with a StateFileError naming the path and what to do. Windows: ACLs, not modes; only
 * "a real directory, not a link" is checked there.
 */
export async function ensurePrivateDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EEXIST') {
      throw new StateFileError('unreadable', dir, `cannot create ${dir}: ${(error as Error).message}`, code);
    }
  }
  let stat: Awaited<ReturnType<typeof lstat>>;
  try {
    stat = await lstat(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new StateFileError('unreadable', dir, `${dir} cannot be read: ${(error as Error).message}`, code);
  }
  if (stat.isSymbolicLink()) {
    throw new StateFileError(
      'symlink',
      dir,
      `${dir} is a symbolic link; refusing to follow it. Remove the link (it was not created by spawnguard).`,
    );
  }
  if (!stat.isDirectory()) {
    throw new StateFileError(
      'not-regular',
      dir,
      `${dir} is ${fileKind(stat)}, not a folder; refusing to use it. Remove it (spawnguard did not create it).`,
    );
  }
  if (IS_WINDOWS) return;
  const uid = process.getuid?.();
  if (uid !== undefined && stat.uid !== uid) {
    throw new StateFileError(
      'foreign-owner',
      dir,
      `${dir} is owned by uid ${stat.uid}, not by you (uid ${uid}); refusing to use it. Remove it or choose another folder.`,
    );
  }
  if ((stat.mode & 0o077) !== 0) {
    throw new StateFileError(
      'not-private',
      dir,
      `${dir} is accessible by group or others (mode 0${(stat.mode & 0o777).toString(8)}); refusing to use it. Fix it with: chmod 700 ${dir}`,
    );
  }
}
