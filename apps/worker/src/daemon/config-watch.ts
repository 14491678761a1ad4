/**
 * Live reload: the daemon's eyes on the files its servers come from, the servers config and the env
 * file. A change is handed on (the daemon reloads as on SIGHUP) once the files have been quiet for
 * `debounceMs`, and only when they differ from what the last reload read.
 *
 * - Folders are watched, not files: an editor that saves through a temp file and a rename replaces
 *   the inode a file watch would follow, and a file that does not exist yet has no inode at all.
 *   Events are filtered by name, so the daemon's own writes beside them (worker.log, worker.json,
 *   registry.json, their temp files) are not changes.
 * - "Differs" is a fingerprint (mode, owner, SHA-256 of the bytes) taken right before each reload
 *   reads the config (`snapshot()`): a save with the same bytes, a chmod that changes nothing, or a
 *   change a SIGHUP has already applied is not a change; a chmod that does (an env file made private)
 *   is.
 * - A watched file that disappears is, per file, either a change (`whenMissing: 'change'`, the env
 *   file: its variables are gone) or a pause (`'wait'`, the servers config: while it is missing
 *   nothing is applied, the running config stays; it is back when the file is, which is then a
 *   change if its bytes differ). A file that was missing at the last read and appears is a change.
 * - Nothing here keeps the process alive (the watch is not persistent, the timer is unref'd), and a
 *   folder that cannot be watched (inotify limits, permissions, removed later) is logged once and
 *   left alone: SIGHUP still reloads.
 */
import { createHash } from 'node:crypto';
import { watch as fsWatch, lstatSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { checkInteger, MAX_TIMER_MS, readStateFileSync } from '@spawnguard/internal';
import { type Config, WATCH_DEBOUNCE_MS } from '../config/config.js';
import type { HomePaths } from '../config/home.js';
import type { Logger } from '../shared/log.js';

export interface WatchedFile {
  /** Absolute path of the file (its folder is what is watched). */
  path: string;
  /** What its disappearance means: `'change'` (reload without it) or `'wait'` (apply nothing until it is back). */
  whenMissing: 'change' | 'wait';
}

/** The part of an `fs.FSWatcher` used here. */
export interface FolderWatch {
  close(): void;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

/** `fs.watch(folder, { persistent: false }, listener)`, injectable for tests. */
export type WatchFolder = (folder: string, listener: (event: string, filename: string | null) => void) => FolderWatch;

export interface ConfigWatcherOptions {
  files: WatchedFile[];
  /** Quiet time after the last event before the files are compared. Default 300 (WATCH_DEBOUNCE_MS). */
  debounceMs?: number;
  log: Logger;
  watch?: WatchFolder;
}

/** What `start`'s callback gets: the files whose fingerprint changed, and how many events were folded. */
export interface WatchChange {
  files: string[];
  events: number;
}

export type WatchState = 'idle' | 'watching' | 'failed' | 'closed';

export interface WatchStatus {
  /** idle: not started; watching: every file is; failed: some folder is not watched (see error); closed: stopped. */
  state: WatchState;
  files: string[];
  debounceMs: number;
  /** An event arrived and its quiet time has not passed yet. */
  pending: boolean;
  /** A `'wait'` file that is missing now: nothing is applied until it is back. */
  waitingFor: string | null;
  /** Changes handed to the reload since start. */
  changes: number;
  /** Why a folder is not watched, one line per folder. */
  error: string | null;
}

const MISSING = 'missing';
/** The largest servers config the worker reads (servers-config.ts): a larger file is fingerprinted as refused. */
const FINGERPRINT_MAX_BYTES = 4 * 1024 * 1024;

const defaultWatch: WatchFolder = (folder, listener) =>
  fsWatch(folder, { persistent: false }, (event, filename) => listener(event, filename ?? null));

/** What a file is right now, as a string: equal strings mean nothing a reload reads has changed. */
export function fingerprint(path: string): string {
  let stat: ReturnType<typeof lstatSync>;
  try {
    stat = lstatSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR' ? MISSING : `unreadable:${code}`;
  }
  let body: string;
  try {
    body = createHash('sha256')
      .update(readStateFileSync(path, { maxBytes: FINGERPRINT_MAX_BYTES }))
      .digest('hex');
  } catch (error) {
    body = `refused:${(error as { reason?: string }).reason ?? 'unreadable'}`;
  }
  return `${stat.mode}:${stat.uid}:${body}`;
}

/** The servers file the daemon reads (the rule of readServers): --config / SPAWNGUARD_CONFIG, else <home>/servers.json. */
export const serversFilePath = (config: Pick<Config, 'configFile'>, paths: Pick<HomePaths, 'servers'>): string =>
  config.configFile ?? paths.servers;

/**
 * What the daemon watches: its servers file (deletion waits) and `<home>/env` (deletion is a change).
 * A server's own `envFile` elsewhere is read at every reload but not watched: SIGHUP applies its edits.
 */
export function watchedFiles(config: Pick<Config, 'configFile'>, paths: Pick<HomePaths, 'servers' | 'envFile'>) {
  return [
    { path: serversFilePath(config, paths), whenMissing: 'wait' },
    { path: paths.envFile, whenMissing: 'change' },
  ] satisfies WatchedFile[];
}

export class ConfigWatcher {
  readonly #files: WatchedFile[];
  readonly #debounceMs: number;
  readonly #log: Logger;
  readonly #watch: WatchFolder;
  /** Folder → the names watched in it. */
  readonly #folders = new Map<string, Set<string>>();
  readonly #watches = new Map<string, FolderWatch>();
  /** Folder → why it is not watched. */
  readonly #errors = new Map<string, string>();
  /** Path → fingerprint at the last snapshot (what the last reload read). */
  #seen = new Map<string, string>();
  #state: 'idle' | 'started' | 'closed' = 'idle';
  #onChange: (change: WatchChange) => void = () => {};
  #timer: NodeJS.Timeout | null = null;
  #events = 0;
  #changes = 0;
  #waitingFor: string | null = null;

  constructor(options: ConfigWatcherOptions) {
    const { files, log } = options;
    if (!Array.isArray(files) || files.length === 0) {
      throw new TypeError(`files must be a non-empty list of {path, whenMissing}, got ${JSON.stringify(files)}`);
    }
    for (const file of files) {
      if (typeof file?.path !== 'string' || !isAbsolute(file.path)) {
        throw new TypeError(`files[].path must be an absolute path, got ${JSON.stringify(file?.path)}`);
      }
      if (file.whenMissing !== 'change' && file.whenMissing !== 'wait') {
        throw new TypeError(`files[].whenMissing must be "change" or "wait", got ${JSON.stringify(file.whenMissing)}`);
      }
    }
    this.#files = files.map((f) => ({ ...f }));
    this.#debounceMs = checkInteger('debounceMs', options.debounceMs, {
      min: 0,
      max: MAX_TIMER_MS,
      fallback: WATCH_DEBOUNCE_MS,
    });
    this.#log = log;
    this.#watch = options.watch ?? defaultWatch;
    for (const { path } of this.#files) {
      const folder = dirname(path);
      const names = this.#folders.get(folder) ?? new Set<string>();
      names.add(basename(path));
      this.#folders.set(folder, names);
    }
  }

  /** Records what the files are now. Call it right before the config is read, so a change made after it is seen. */
  snapshot(): void {
    this.#seen = this.#fingerprints();
    this.#waitingFor = null;
  }

  /**
   * Watches the folders and calls `onChange` for each settled change. Changes made since the last
   * snapshot (between the boot's read and now) are handed on at once.
   */
  start(onChange: (change: WatchChange) => void): void {
    if (this.#state !== 'idle') return;
    this.#state = 'started';
    this.#onChange = onChange;
    for (const [folder, names] of this.#folders) {
      let identity: string;
      try {
        identity = folderIdentity(folder);
        const watch = this.#watch(folder, (_event, filename) => this.#event(folder, identity, names, filename));
        watch.on('error', (error) => this.#lose(folder, 'watch.lost', error.message));
        this.#watches.set(folder, watch);
      } catch (error) {
        this.#lose(folder, 'watch.unavailable', (error as Error).message);
      }
    }
    this.#log.log('watch.started', {
      files: this.#files.map((f) => f.path),
      debounceMs: this.#debounceMs,
      watching: [...this.#watches.keys()],
    });
    this.#settle();
  }

  close(): void {
    if (this.#state === 'closed') return;
    const wasStarted = this.#state === 'started';
    this.#state = 'closed';
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    for (const watch of this.#watches.values()) {
      try {
        watch.close();
      } catch {}
    }
    this.#watches.clear();
    if (wasStarted) this.#log.log('watch.closed', { changes: this.#changes });
  }

  status(): WatchStatus {
    const state: WatchState =
      this.#state === 'idle'
        ? 'idle'
        : this.#state === 'closed'
          ? 'closed'
          : this.#errors.size > 0
            ? 'failed'
            : 'watching';
    return {
      state,
      files: this.#files.map((f) => f.path),
      debounceMs: this.#debounceMs,
      pending: this.#timer !== null,
      waitingFor: this.#waitingFor,
      changes: this.#changes,
      error: this.#errors.size ? [...this.#errors].map(([folder, why]) => `${folder}: ${why}`).join('\n') : null,
    };
  }

  #event(folder: string, identity: string, names: Set<string>, filename: string | null): void {
    if (this.#state !== 'started' || !this.#watches.has(folder)) return;
    if (filename !== null && !names.has(filename)) {
      // The folder itself removed or moved away: its watch follows the old inode, which nobody writes to.
      if (filename === basename(folder) && !sameFolder(folder, identity)) {
        this.#lose(folder, 'watch.lost', 'the folder was removed or replaced');
      }
      return;
    }
    this.#events++;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#settle();
    }, this.#debounceMs);
    this.#timer.unref();
  }

  /** The quiet time has passed (or the watch just started): compare with the last snapshot. */
  #settle(): void {
    if (this.#state !== 'started') return;
    const events = this.#events;
    this.#events = 0;
    const now = this.#fingerprints();
    const gone = this.#files.find(
      (f) => f.whenMissing === 'wait' && now.get(f.path) === MISSING && this.#seen.get(f.path) !== MISSING,
    );
    if (gone) {
      if (this.#waitingFor !== gone.path) {
        this.#log.warn('watch.missing', {
          file: gone.path,
          message: 'the servers config is gone; the running config stays until it is back (or a SIGHUP)',
        });
      }
      this.#waitingFor = gone.path;
      return;
    }
    this.#waitingFor = null;
    const files = this.#files.filter((f) => now.get(f.path) !== this.#seen.get(f.path)).map((f) => f.path);
    if (files.length === 0) {
      // The same bytes saved again, or what a reload (a SIGHUP's) has read already: nothing to apply.
      if (events > 0) this.#log.log('watch.unchanged', { events });
      return;
    }
    this.#changes++;
    this.#log.log('watch.change', { files, events });
    this.#onChange({ files, events });
  }

  #fingerprints(): Map<string, string> {
    return new Map(this.#files.map((f) => [f.path, fingerprint(f.path)]));
  }

  /** A folder is not watched (any more): said once, its watch closed; the others go on. */
  #lose(folder: string, event: 'watch.unavailable' | 'watch.lost', why: string): void {
    if (this.#errors.has(folder)) return;
    this.#errors.set(folder, why);
    const watch = this.#watches.get(folder);
    this.#watches.delete(folder);
    try {
      watch?.close();
    } catch {}
    this.#log.warn(event, {
      folder,
      error: why,
      files: [...(this.#folders.get(folder) ?? [])].map((name) => join(folder, name)),
      message: 'changes to these files are not applied by themselves any more; SIGHUP still reloads',
    });
  }
}

function folderIdentity(folder: string): string {
  const stat = statSync(folder);
  return `${stat.dev}:${stat.ino}`;
}

function sameFolder(folder: string, identity: string): boolean {
  try {
    return folderIdentity(folder) === identity;
  } catch {
    return false;
  }
}
