import type { ChildProcess } from 'node:child_process';
import type { Emitter } from 'mitt';
import type { RegistrySpawnOptions } from './spawn-options.js';
import type {
  Entry,
  LeftoversResult,
  NotOwnedReason,
  OwnerRecord,
  Ownership,
  RegistryEvents,
  RegistryState,
  StopResult,
} from './types.js';

export interface TakeoverOptions {
  /** How long a claim waits for a live previous owner on this host to exit. Default 15000. */
  waitMs?: number;
  /** How often the previous owner's identity (and the file) is checked while waiting. Default 100. */
  pollMs?: number;
  /** After a claim that did not get the file: look again this often (unref'd timer; 0 = only on spawn()/claim()). Default 5000. */
  retryMs?: number;
  /** Grace for each of the previous owner's leftover trees (SIGTERM, then SIGKILL). Default 3000. */
  graceMs?: number;
  /** Bound for reaping all leftovers. Default 10000. */
  totalTimeoutMs?: number;
}

export interface OpenRegistryOptions {
  /** The owning daemon's identity; defaults to this process (pid + start token + hostname). */
  owner?: { pid: number; startToken: string; hostname?: string };
  /** Clock for timestamps (spawnedAt, updatedAt, ownership times, .corrupt-<timestamp>); default Date.now. */
  now?: () => number;
  /** Bring your own mitt emitter; default a new one, exposed as `registry.events`. */
  events?: Emitter<RegistryEvents>;
  /**
   * Take the file over from a previous owner by itself: wait (bounded) for a live one on this host
   * to exit, reap a dead one's leftovers, retry later when the wait ends first. `true` for the defaults.
   */
  takeover?: boolean | TakeoverOptions;
  signal?: AbortSignal;
}

export interface StopOptions {
  /** Time each tree gets between SIGTERM and SIGKILL; default 3000. */
  graceMs?: number;
  /** Bound for the whole call; trees reached after it is spent get no grace; default 10000. */
  totalTimeoutMs?: number;
  signal?: AbortSignal;
}

export interface ShutdownOptions extends StopOptions {
  /** SIGKILL every tree at once, no grace (a second Ctrl-C); also escalates a shutdown() in progress. */
  force?: boolean;
}

export interface ClaimOptions {
  /** How long to wait for a live owner to exit; default the takeover's waitMs (15000). */
  waitMs?: number;
  pollMs?: number;
  graceMs?: number;
  totalTimeoutMs?: number;
  /** Ends this call's wait (rejects with its reason); a claim already running goes on. */
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
  /** Who holds the file, as one state (a copy): owned, waiting, claiming, not-owned or closed. */
  readonly ownership: Ownership;
  /** Summary of `ownership`: 'owned', 'not-owned' (also while waiting or claiming) or 'closed'. */
  readonly state: RegistryState;
  /** Why the file is not ours yet, and whose it is; null when owned or closed. */
  readonly notOwned: { reason: NotOwnedReason; owner: OwnerRecord | null } | null;
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
  shutdown(options?: ShutdownOptions): Promise<StopResult>;
  /** Waits (bounded) for a live owner to exit, reaps a dead one's leftovers, takes the file. Resolves with the ownership. */
  claim(options?: ClaimOptions): Promise<Ownership>;
  /** At boot: kills the still-living children of a previous, dead owner; then takes the file over. */
  reapLeftovers(options?: StopOptions): Promise<LeftoversResult>;
}
