import { basename, dirname, join, resolve } from 'node:path';
import { readStateFileSync, StateFileError, show } from '@spawnguard/internal';
import { CircuitStoreError } from './errors.js';
import { writePrivateTemp } from './private-temp.js';
import { fileProbeLease } from './probe-lease.js';
import { type CircuitSnapshot, type CircuitStore, isSnapshot, pickSnapshot } from './snapshot.js';
import { checkFs, type FileStoreFs } from './store-fs.js';

/** The `format` tag and `version` written in every file; a file without them is not ours. */
export const FILE_FORMAT = '@spawnguard/circuit-breaker';
export const FILE_VERSION = 1;
// JSON.stringify writes keys in insertion order, so every file we write starts like this. A file
// that does not (and is not empty) is never overwritten: it may belong to someone else.
const OUR_PREFIX = `{"format":"${FILE_FORMAT}"`;
// Ours is ~200 bytes. Anything much larger is someone else's file: do not read it on every call.
const MAX_BYTES = 64 * 1024;

export interface FileStoreOptions {
  fs?: Partial<FileStoreFs>;
}

export interface FileStore extends CircuitStore {
  /** The absolute path of the state file. */
  readonly path: string;
}

/**
 * Keeps the circuit in a small JSON file, read fresh before every decision and replaced
 * atomically (temp file in the same folder, mode 0600, then rename), so short-lived processes
 * share one circuit. `load()` throws CircuitStoreError for a missing, corrupt or foreign file
 * (foreign includes anything but a regular file owned by us: it is opened without blocking or
 * following links, then refused); `save()` refuses to replace a file that is not ours. The
 * half-open probe lease is exclusive across processes (see probe-lease.ts).
 */
export function fileStore(path: string, options: FileStoreOptions = {}): FileStore {
  if (typeof path !== 'string' || path.length === 0 || path.includes('\0')) {
    throw new TypeError(`fileStore(path): path must be a non-empty string without NUL bytes, got ${show(path)}`);
  }
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`fileStore options must be an object, got ${show(options)}`);
  }
  const fs = checkFs(options.fs);
  const file = resolve(path);
  const folder = dirname(file);
  let writes = 0;

  /** The file's text, read without blocking or following a link; throws CircuitStoreError for "not ours". */
  const read = (): string => {
    try {
      return readStateFileSync(file, { maxBytes: MAX_BYTES });
    } catch (error) {
      throw error instanceof StateFileError ? asStoreProblem(error) : error;
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
        `${file} has format version ${show(version)}, expected ${FILE_VERSION}`,
        file,
      );
    }
    if (!isSnapshot(value)) throw new CircuitStoreError('corrupt', `${file} has invalid circuit fields`, file);
    return pickSnapshot(value);
  };

  const load = (): CircuitSnapshot => parse(read());

  /** Throws unless the current file is missing, empty, or written by us (possibly truncated). */
  const assertReplaceable = (): void => {
    let text: string;
    try {
      text = read();
    } catch (error) {
      if (!(error instanceof CircuitStoreError)) return; // unreadable: let the write report it
      if (error.reason === 'missing') return;
      // A link, a FIFO, a device, a folder, another user's file, or too large: someone else's.
      throw refuse(error.message.split(';')[0] as string);
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
      writePrivateTemp(fs, folder, temp, text);
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

  const lease = fileProbeLease(file, fs, load);
  return { path: file, load, save, claimProbe: lease.claim, releaseProbe: lease.release };
}

const randomSuffix = () => Math.random().toString(36).slice(2, 10);

/**
 * What a StateFileError means for a circuit: no file yet is `missing`; a file that is not ours to
 * read (link, FIFO, device, folder, another user's, too large) is `foreign` and never overwritten;
 * a file we cannot open (EACCES, ENOTDIR, ...) makes the store unavailable (an error with that code).
 */
function asStoreProblem(error: StateFileError): Error {
  const cause = { cause: error };
  if (error.reason === 'missing') {
    return new CircuitStoreError('missing', `${error.path} does not exist yet`, error.path, cause);
  }
  if (error.reason === 'unreadable') {
    return Object.assign(new Error(error.message, cause), { code: error.errno ?? error.code, path: error.path });
  }
  return new CircuitStoreError('foreign', error.message, error.path, cause);
}
