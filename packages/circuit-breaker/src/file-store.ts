import * as nodeFs from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { CircuitStoreError } from './errors.js';
import { type CircuitSnapshot, type CircuitStore, isSnapshot, pickSnapshot } from './snapshot.js';
import { describe } from './validate.js';

/** The `format` tag and `version` written in every file; a file without them is not ours. */
export const FILE_FORMAT = '@spawnguard/circuit-breaker';
export const FILE_VERSION = 1;
// JSON.stringify writes keys in insertion order, so every file we write starts like this. A file
// that does not (and is not empty) is never overwritten: it may belong to someone else.
const OUR_PREFIX = `{"format":"${FILE_FORMAT}"`;
// Ours is ~200 bytes. Anything much larger is someone else's file: do not read it on every call.
const MAX_BYTES = 64 * 1024;

/** The synchronous fs functions the file store uses; inject them to simulate failures. */
export type FileStoreFs = Pick<
  typeof nodeFs,
  'openSync' | 'fstatSync' | 'readSync' | 'closeSync' | 'writeFileSync' | 'renameSync' | 'unlinkSync' | 'mkdirSync'
>;

export interface FileStoreOptions {
  fs?: FileStoreFs;
}

export interface FileStore extends CircuitStore {
  /** The absolute path of the state file. */
  readonly path: string;
}

const FS_FUNCTIONS = [
  'openSync',
  'fstatSync',
  'readSync',
  'closeSync',
  'writeFileSync',
  'renameSync',
  'unlinkSync',
  'mkdirSync',
] as const;

/**
 * Keeps the circuit in a small JSON file, read fresh before every decision and replaced
 * atomically (temp file in the same folder, mode 0600, then rename), so short-lived processes
 * share one circuit. `load()` throws CircuitStoreError for a missing, corrupt or foreign file;
 * `save()` refuses to replace a file that is not ours.
 */
export function fileStore(path: string, options: FileStoreOptions = {}): FileStore {
  if (typeof path !== 'string' || path.length === 0 || path.includes('\0')) {
    throw new TypeError(`fileStore(path): path must be a non-empty string without NUL bytes, got ${describe(path)}`);
  }
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`fileStore options must be an object, got ${describe(options)}`);
  }
  const fs = options.fs ?? nodeFs;
  if (typeof fs !== 'object' || fs === null) throw new TypeError(`fileStore fs must be an object, got ${describe(fs)}`);
  for (const name of FS_FUNCTIONS) {
    if (typeof fs[name] !== 'function') {
      throw new TypeError(`fileStore fs.${name} must be a function, got ${describe(fs[name])}`);
    }
  }
  const file = resolve(path);
  const folder = dirname(file);
  let writes = 0;

  const read = (): string => {
    const fd = fs.openSync(file, 'r');
    try {
      const stat = fs.fstatSync(fd);
      if (!stat.isFile()) throw new CircuitStoreError('foreign', `${file} is not a regular file`, file);
      if (stat.size > MAX_BYTES) {
        throw new CircuitStoreError('foreign', `${file} is ${stat.size} bytes, too large to be a circuit state`, file);
      }
      const buffer = Buffer.alloc(stat.size);
      let length = 0;
      while (length < buffer.length) {
        const n = fs.readSync(fd, buffer, length, buffer.length - length, length);
        if (n === 0) break;
        length += n;
      }
      return buffer.toString('utf8', 0, length);
    } finally {
      fs.closeSync(fd);
    }
  };

  const parse = (text: string): CircuitSnapshot => {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      const what = text.trim() === '' ? 'is empty' : 'is not valid JSON (truncated or corrupt)';
      throw new CircuitStoreError('corrupt', `${file} ${what}`, file);
    }
    const tagged =
      typeof value === 'object' && value !== null && (value as { format?: unknown }).format === FILE_FORMAT;
    if (!tagged) throw new CircuitStoreError('foreign', `${file} is JSON but not a ${FILE_FORMAT} state file`, file);
    const version = (value as { version?: unknown }).version;
    if (version !== FILE_VERSION) {
      throw new CircuitStoreError(
        'foreign',
        `${file} has format version ${describe(version)}, expected ${FILE_VERSION}`,
        file,
      );
    }
    if (!isSnapshot(value)) throw new CircuitStoreError('corrupt', `${file} has invalid circuit fields`, file);
    return pickSnapshot(value);
  };

  const load = (): CircuitSnapshot => {
    let text: string;
    try {
      text = read();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new CircuitStoreError('missing', `${file} does not exist yet`, file);
      }
      throw error;
    }
    return parse(text);
  };

  /** Throws unless the current file is missing, empty, or written by us (possibly truncated). */
  const assertReplaceable = (): void => {
    let text: string;
    try {
      text = read();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      // Not a regular file or too large: someone else's. Unreadable: let the write report it.
      if (error instanceof CircuitStoreError) throw refuse(error.message);
      return;
    }
    if (text.trim() === '') return;
    if (!text.startsWith(OUR_PREFIX)) throw refuse(`${file} was not written by ${FILE_FORMAT}`);
    try {
      parse(text);
    } catch (error) {
      // A newer version's file is theirs to keep; our own truncated or corrupt file is healed.
      if (error instanceof CircuitStoreError && error.reason === 'foreign') throw refuse(error.message);
    }
  };

  const refuse = (why: string) =>
    new CircuitStoreError('foreign', `refusing to overwrite ${file}: ${why}; delete it or choose another path`, file);

  const save = (snapshot: CircuitSnapshot): void => {
    assertReplaceable();
    const text = JSON.stringify({ format: FILE_FORMAT, version: FILE_VERSION, ...pickSnapshot(snapshot) });
    const temp = join(folder, `.${basename(file)}.${process.pid}.${++writes}.${randomSuffix()}.tmp`);
    try {
      writeTemp(temp, text);
      fs.renameSync(temp, file);
    } catch (error) {
      try {
        fs.unlinkSync(temp);
      } catch {
        // The temp file was never created, or is already gone.
      }
      throw error;
    }
  };

  const writeTemp = (temp: string, text: string): void => {
    try {
      fs.writeFileSync(temp, text, { mode: 0o600, flag: 'wx' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      // The folder does not exist yet: create it private, as state folders should be.
      fs.mkdirSync(folder, { recursive: true, mode: 0o700 });
      fs.writeFileSync(temp, text, { mode: 0o600, flag: 'wx' });
    }
  };

  return { path: file, load, save };
}

const randomSuffix = () => Math.random().toString(36).slice(2, 10);
