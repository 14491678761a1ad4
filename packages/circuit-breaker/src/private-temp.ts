import type { FileStoreFs } from './store-fs.js';

/**
 * Writes a new temp file (exclusive, 0600) for an atomic replace; a missing folder is created
 * private (0700), as state folders should be.
 */
export function writePrivateTemp(fs: FileStoreFs, folder: string, temp: string, text: string): void {
  try {
    fs.writeFileSync(temp, text, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    fs.mkdirSync(folder, { recursive: true, mode: 0o700 });
    fs.writeFileSync(temp, text, { mode: 0o600, flag: 'wx' });
  }
}
