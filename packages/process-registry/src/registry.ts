import { type ChildProcess, spawn as nodeSpawn } from 'node:child_process';
import { hostname } from 'node:os';
import { killTree } from '@spawnguard/orphan-reaper';
import { isSameProcess, processIdentity } from '@spawnguard/process-table';
import mitt, { type Emitter } from 'mitt';
import { safeEmit } from './emit.js';
import { RegistryClosedError, RegistryFileError, RegistryNotOwnedError } from './errors.js';
import {
  ensureFolder,
  FORMAT,
  moveAside,
  type ReadResult,
  type RegistryFile,
  readRegistryFile,
  VERSION,
  writeRegistryFile,
} from './file.js';
import { planSpawnOptions, processGroupOf, type RegistrySpawnOptions } from './spawn-options.js';
import { checkIdentity, IDENTITY_TIMEOUT_MS, stopMany } from './stop.js';
import type {
  DropReason,
  Entry,
  LeftoversResult,
  NotOwnedReason,
  OwnerRecord,
  RegistryEvents,
  RegistryState,
  StopResult,
} from './types.js';
import {
  checkEmitter,
  checkFunction,
  checkObject,
  checkOwner,
  checkPath,
  checkSignal,
  checkStopOptions,
  checkString,
  type StopSettings,
  show,
} from './validate.js';

export interface OpenRegistryOptions {
  /** The owning daemon's identity; defaults to this process (pid + start token + hostname). */
  owner?: { pid: number; startToken: string; hostname?: string };
  /** Clock for timestamps (spawnedAt, updatedAt, .corrupt-<timestamp>); default Date.now. */
  now?: () => number;
  /** Bring your own mitt emitter; default a new one, exposed as `registry.events`. */
  events?: Emitter<RegistryEvents>;
  signal?: AbortSignal;
}

export interface StopOptions {
  /** Time each tree gets between SIGTERM and SIGKILL; default 3000. */
  graceMs?: number;
  /** Bound for the whole call; trees reached after it is spent get no grace; default 10000. */
  totalTimeoutMs?: number;
  signal?: AbortSignal;
}

export interface SpawnResult {
  child: ChildProcess;
  /** What was recorded. Not recorded (and not in entries()) when the child exited before its identity could be read. */
  entry: Entry;
}

export interface Registry {
  readonly path: string;
  readonly owner: OwnerRecord;
  readonly events: Emitter<RegistryEvents>;
  /** 'owned': this process writes the file; 'not-owned': see `notOwned`; 'closed': after shutdown(). */
  readonly state: RegistryState;
  /** Why the file is not ours yet, and whose it is; null when owned or closed. */
  readonly notOwned: { reason: NotOwnedReason; owner: OwnerRecord } | null;
  spawn(command: string, args: readonly string[], options: RegistrySpawnOptions): Promise<SpawnResult>;
  /** All recorded children, oldest first (copies). */
  entries(): Entry[];
  /** Recorded children matching the filter, oldest first (copies). */
  list(filter?: { session?: string; type?: string }): Entry[];
  /** Removes entries whose process is gone or whose pid now belongs to another process. Never signals. */
  pruneDead(options?: { signal?: AbortSignal }): Promise<Entry[]>;
  /** Stops every tree of one session, newest first. */
  reapSession(session: string, options?: StopOptions): Promise<StopResult>;
  /** Stops every tree, newest first, then refuses further spawns. Calling it again returns the same result. */
  shutdown(options?: StopOptions): Promise<StopResult>;
  /** At boot: kills the still-living children of a previous, dead owner; then takes the file over. */
  reapLeftovers(options?: StopOptions): Promise<LeftoversResult>;
}

/**
 * Opens (or creates) the registry at `path`. Async because the default owner identity (this
 * process's start token) and the previous owner's liveness are read from the process table.
 *
 * The file is taken over at once when it is missing, untrusted (moved aside), ours, or left by a
 * dead owner with no entries. A dead owner's entries wait for `reapLeftovers()`; a live owner's
 * file is never taken over (state 'not-owned', spawn() refuses).
 */
export async function openRegistry(path: string, options: OpenRegistryOptions = {}): Promise<Registry> {
  checkPath('path', path);
  const opts = checkObject('options', options);
  const signal = checkSignal('options.signal', opts.signal);
  const now = checkFunction<() => number>('options.now', opts.now) ?? Date.now;
  const events = checkEmitter(opts.events) ?? mitt<RegistryEvents>();
  signal?.throwIfAborted();
  const owner = opts.owner === undefined ? await currentOwner(signal) : checkOwner(opts.owner);
  const registry = new ProcessRegistry(path, owner, now, events);
  await registry.load(signal);
  return registry;
}

async function currentOwner(signal: AbortSignal | undefined): Promise<OwnerRecord> {
  const me = await processIdentity(process.pid, { signal, timeoutMs: IDENTITY_TIMEOUT_MS });
  if (!me) throw new Error(`cannot read this process's own identity (pid ${process.pid}); pass options.owner`);
  return { pid: me.pid, startToken: me.startToken, hostname: hostname() };
}

const copy = (entry: Entry): Entry => ({ ...entry });

/** Newest first; ties (same spawnedAt) broken by recording order, later first. */
const newestFirst = (entries: Entry[]): Entry[] => [...entries].reverse().sort((a, b) => b.spawnedAt - a.spawnedAt);

class ProcessRegistry implements Registry {
  readonly events: Emitter<RegistryEvents>;
  /** Live entries by pid, in recording order. */
  #tracked = new Map<number, Entry>();
  #owned = false;
  #closing = false;
  #closed = false;
  #notOwned: { reason: NotOwnedReason; owner: OwnerRecord; leftovers: Entry[] } | null = null;
  #shutdown: Promise<StopResult> | null = null;
  /** Writes run one after another; a write that has not started yet is shared by later callers. */
  #writeChain: Promise<void> = Promise.resolve();
  #queuedWrite: Promise<void> | null = null;

  constructor(
    readonly path: string,
    readonly owner: OwnerRecord,
    private readonly now: () => number,
    events: Emitter<RegistryEvents>,
  ) {
    this.events = events;
  }

  get state(): RegistryState {
    if (this.#closed) return 'closed';
    return this.#owned ? 'owned' : 'not-owned';
  }

  get notOwned() {
    if (!this.#notOwned || this.#closed) return null;
    return { reason: this.#notOwned.reason, owner: { ...this.#notOwned.owner } };
  }

  /** Reads the file and decides who owns it. Called once by openRegistry, again by reapLeftovers. */
  async load(signal?: AbortSignal): Promise<void> {
    const read = await this.#read();
    if (read.kind === 'corrupt') await this.#quarantine(read);
    if (read.kind !== 'ok') return this.#claim();
    const { file } = read;
    if (sameOwner(file.owner, this.owner)) {
      // Our own file (the registry was reopened in the same process): its entries are ours.
      for (const entry of file.entries) this.#tracked.set(entry.pid, entry);
      return this.#claim();
    }
    if (file.owner.hostname !== this.owner.hostname) {
      this.#notOwned = { reason: 'owner-on-other-host', owner: file.owner, leftovers: file.entries };
      return;
    }
    if (await isSameProcess(file.owner, { signal, timeoutMs: IDENTITY_TIMEOUT_MS })) {
      this.#notOwned = { reason: 'owner-alive', owner: file.owner, leftovers: file.entries };
      return;
    }
    if (file.entries.length === 0) return this.#claim();
    this.#notOwned = { reason: 'leftovers-pending', owner: file.owner, leftovers: file.entries };
  }

  async #read(): Promise<ReadResult> {
    try {
      return await readRegistryFile(this.path);
    } catch (error) {
      const err = error as NodeJS.ErrnoException;
      throw new RegistryFileError(
        this.path,
        `cannot read process registry ${this.path}: ${err.message}; check that the path is a file in a folder this user can read and write`,
        null,
        { cause: error },
      );
    }
  }

  async #quarantine(read: Extract<ReadResult, { kind: 'corrupt' }>): Promise<void> {
    let movedTo: string;
    try {
      movedTo = await moveAside(this.path, this.now());
    } catch (error) {
      const err = error as NodeJS.ErrnoException;
      safeEmit(this.events, 'corruptFile', {
        path: this.path,
        movedTo: null,
        reason: read.reason,
        detail: read.detail,
      });
      const whose =
        read.fileUid === null
          ? ''
          : ` It belongs to uid ${read.fileUid}; remove it as that user or root, or use another path.`;
      throw new RegistryFileError(
        this.path,
        `process registry ${this.path} is not trusted (${read.reason}: ${read.detail}) and could not be moved aside (${err.code ?? err.message}).${whose}`,
        read.fileUid,
        { cause: error },
      );
    }
    safeEmit(this.events, 'corruptFile', { path: this.path, movedTo, reason: read.reason, detail: read.detail });
  }

  async #claim(): Promise<void> {
    this.#owned = true;
    this.#notOwned = null;
    try {
      await ensureFolder(this.path);
      await this.#write();
    } catch (error) {
      this.#owned = false;
      throw new RegistryFileError(
        this.path,
        `cannot write process registry ${this.path}: ${(error as Error).message}; check the folder's permissions and free space`,
        null,
        { cause: error },
      );
    }
  }

  #write(): Promise<void> {
    if (this.#queuedWrite) return this.#queuedWrite;
    const write = this.#writeChain.then(() => {
      this.#queuedWrite = null; // from here on, changes need a new write: this one's snapshot is taken now
      const file: RegistryFile = {
        format: FORMAT,
        version: VERSION,
        owner: this.owner,
        updatedAt: this.now(),
        entries: [...this.#tracked.values()],
      };
      return writeRegistryFile(this.path, file);
    });
    this.#queuedWrite = write;
    this.#writeChain = write.catch(() => {});
    return write;
  }

  /** Persists the current state; a failure becomes a writeError event (the in-memory state stays right). */
  async #persist(): Promise<void> {
    if (!this.#owned) return;
    try {
      await this.#write();
    } catch (error) {
      safeEmit(this.events, 'writeError', { path: this.path, error: error as Error });
    }
  }

  entries(): Entry[] {
    return [...this.#tracked.values()].map(copy);
  }

  list(filter: { session?: string; type?: string } = {}): Entry[] {
    const f = checkObject('filter', filter);
    const session = f.session === undefined ? undefined : checkString('filter.session', f.session);
    const type = f.type === undefined ? undefined : checkString('filter.type', f.type);
    return this.entries().filter(
      (entry) => (session === undefined || entry.session === session) && (type === undefined || entry.type === type),
    );
  }

  async spawn(command: string, args: readonly string[], options: RegistrySpawnOptions): Promise<SpawnResult> {
    checkString('command', command);
    if (!Array.isArray(args) || !args.every((arg) => typeof arg === 'string')) {
      throw new TypeError(`args must be an array of strings, got ${show(args)}`);
    }
    if (options === undefined) throw new TypeError('options must be an object with session and type, got undefined');
    const opts = checkObject('options', options) as unknown as RegistrySpawnOptions;
    const session = checkString('options.session', opts.session);
    const type = checkString('options.type', opts.type);
    const signal = checkSignal('options.signal', opts.signal);
    const planned = planSpawnOptions(process.platform, opts);
    signal?.throwIfAborted();
    this.#assertCanSpawn();

    const child = nodeSpawn(command, args, planned);
    let exitedEarly: { code: number | null; signal: NodeJS.Signals | null } | null = null;
    let recorded: Entry | null = null;
    child.once('exit', (code, sig) => {
      if (recorded) void this.#childExited(recorded, code, sig);
      else exitedEarly = { code, signal: sig };
    });
    await new Promise<void>((resolve, reject) => {
      const onSpawn = () => {
        child.off('error', onError);
        resolve();
      };
      const onError = (error: Error) => {
        child.off('spawn', onSpawn);
        reject(error);
      };
      child.once('spawn', onSpawn);
      child.once('error', onError);
    });
    const pid = child.pid!;

    let identity: Awaited<ReturnType<typeof processIdentity>>;
    try {
      identity = await processIdentity(pid, { signal, timeoutMs: IDENTITY_TIMEOUT_MS });
    } catch (error) {
      child.kill('SIGKILL'); // a child we cannot identify cannot be recorded safely
      throw error;
    }
    const entry: Entry = {
      pid,
      startToken: identity?.startToken ?? '',
      pgid: processGroupOf(process.platform, pid),
      session,
      type,
      spawnedAt: this.now(),
      command,
    };
    if (signal?.aborted || this.#closing || !this.#owned) {
      await this.#discard(entry, child);
      signal?.throwIfAborted();
      this.#assertCanSpawn();
    }
    if (!identity || exitedEarly) return { child, entry: copy(entry) }; // already gone: nothing to record

    this.#tracked.set(pid, entry);
    recorded = entry;
    await this.#persist();
    safeEmit(this.events, 'spawned', { entry: copy(entry) });
    return { child, entry: copy(entry) };
  }

  #assertCanSpawn(): void {
    if (this.#closing || this.#closed) throw new RegistryClosedError(this.path);
    if (!this.#owned) {
      const notOwned = this.#notOwned;
      throw new RegistryNotOwnedError(this.path, notOwned?.reason ?? 'owner-alive', notOwned?.owner ?? null);
    }
  }

  /** A child started but must not be kept (aborted, or shutdown began meanwhile): end its tree. */
  async #discard(entry: Entry, child: ChildProcess): Promise<void> {
    if (entry.startToken) {
      await killTree(entry.pid, { graceMs: 0, startToken: entry.startToken }).catch(() => child.kill('SIGKILL'));
    } else child.kill('SIGKILL');
  }

  async #childExited(entry: Entry, code: number | null, sig: NodeJS.Signals | null): Promise<void> {
    if (this.#tracked.get(entry.pid) === entry) {
      this.#tracked.delete(entry.pid);
      await this.#persist();
    }
    safeEmit(this.events, 'exited', { entry: copy(entry), code, signal: sig });
  }

  #remove(entry: Entry): boolean {
    if (this.#tracked.get(entry.pid) !== entry) return false;
    this.#tracked.delete(entry.pid);
    return true;
  }

  async pruneDead(options: { signal?: AbortSignal } = {}): Promise<Entry[]> {
    const opts = checkObject('options', options);
    const signal = checkSignal('options.signal', opts.signal);
    signal?.throwIfAborted();
    const entries = [...this.#tracked.values()];
    const verdicts = await Promise.all(entries.map((entry) => checkIdentity(entry, signal)));
    const dropped: Entry[] = [];
    const reasons: DropReason[] = [];
    entries.forEach((entry, i) => {
      const verdict = verdicts[i];
      if (verdict !== 'alive' && verdict !== undefined && this.#remove(entry)) {
        dropped.push(entry);
        reasons.push(verdict);
      }
    });
    if (dropped.length > 0) await this.#persist();
    dropped.forEach((entry, i) => {
      safeEmit(this.events, 'dropped', { entry: copy(entry), reason: reasons[i]! });
    });
    return dropped.map(copy);
  }

  async reapSession(session: string, options: StopOptions = {}): Promise<StopResult> {
    checkString('session', session);
    const opts = checkStopOptions('options', options);
    opts.signal?.throwIfAborted();
    const entries = newestFirst([...this.#tracked.values()].filter((entry) => entry.session === session));
    return this.#stopOwn(entries, opts);
  }

  shutdown(options: StopOptions = {}): Promise<StopResult> {
    let opts: StopSettings;
    try {
      opts = checkStopOptions('options', options);
      opts.signal?.throwIfAborted();
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#shutdown) return this.#shutdown;
    this.#closing = true; // from now on spawn() refuses, and a spawn in flight discards its child
    const run = (async () => {
      const result = await this.#stopOwn(newestFirst([...this.#tracked.values()]), opts);
      await this.#persist();
      this.#closed = true;
      return result;
    })();
    this.#shutdown = run;
    // An aborted shutdown may be retried: forget it, but keep refusing spawns.
    run.catch(() => {
      if (this.#shutdown === run) this.#shutdown = null;
    });
    return run;
  }

  async #stopOwn(entries: Entry[], opts: StopSettings): Promise<StopResult> {
    const result: StopResult = { reaped: [], dropped: [], failed: [] };
    await stopMany(entries, opts, async (entry, outcome) => {
      if (outcome.kind === 'failed') {
        result.failed.push({ entry: copy(entry), error: outcome.error });
        return;
      }
      this.#remove(entry);
      // Persist even when the child's 'exit' handler removed it first: that handler's write is not
      // awaited here, and the caller must find the file up to date when this call resolves.
      await this.#persist();
      if (outcome.kind === 'reaped') {
        result.reaped.push({ entry: copy(entry), result: outcome.result });
        safeEmit(this.events, 'reaped', { entry: copy(entry), result: outcome.result, leftover: false });
      } else {
        result.dropped.push(copy(entry));
        safeEmit(this.events, 'dropped', { entry: copy(entry), reason: outcome.reason });
      }
    });
    return result;
  }

  async reapLeftovers(options: StopOptions = {}): Promise<LeftoversResult> {
    const opts = checkStopOptions('options', options);
    opts.signal?.throwIfAborted();
    if (this.#closing || this.#closed) throw new RegistryClosedError(this.path);
    const result: LeftoversResult = { killed: [], dropped: [], skipped: [], ownerAlive: null };
    if (this.#owned) return result;
    // Look again: the other owner may have exited, or the file changed, since openRegistry().
    this.#notOwned = null;
    await this.load(opts.signal);
    const pending = this.#notOwned as { reason: NotOwnedReason; owner: OwnerRecord; leftovers: Entry[] } | null;
    if (!pending) return result;
    if (pending.reason !== 'leftovers-pending') {
      result.ownerAlive = { ...pending.owner };
      for (const entry of pending.leftovers) result.skipped.push({ entry: copy(entry), reason: pending.reason });
      return result;
    }
    const adopted: Entry[] = [];
    await stopMany(newestFirst(pending.leftovers), opts, async (entry, outcome) => {
      if (outcome.kind === 'reaped') {
        result.killed.push(copy(entry));
        safeEmit(this.events, 'reaped', { entry: copy(entry), result: outcome.result, leftover: true });
      } else if (outcome.kind === 'dropped') {
        result.dropped.push(copy(entry));
        safeEmit(this.events, 'dropped', { entry: copy(entry), reason: outcome.reason });
      } else {
        // Proven ours but not stopped: keep it recorded, so shutdown() or a later boot tries again.
        adopted.push(entry);
        result.skipped.push({ entry: copy(entry), reason: `kill-failed: ${outcome.error.message}` });
      }
    });
    for (const entry of adopted.reverse()) this.#tracked.set(entry.pid, entry);
    await this.#claim();
    return result;
  }
}

function sameOwner(a: OwnerRecord, b: OwnerRecord): boolean {
  return a.pid === b.pid && a.startToken === b.startToken && a.hostname === b.hostname;
}
