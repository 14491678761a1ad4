import { resolve } from 'node:path';
import {
  checkBoolean,
  checkEmitter,
  checkFunction,
  checkMs,
  checkObject,
  checkSignal,
  checkString,
  show,
} from '@spawnguard/internal';
import type { Emitter } from 'mitt';
import type { SpawnMutexEvents } from './events.js';

/** Anything with circuit-breaker's `execute` shape; @spawnguard/circuit-breaker fits. */
export interface BreakerLike {
  execute<T>(fn: () => T | PromiseLike<T>, options?: { signal?: AbortSignal }): Promise<T>;
}

export interface EnsureSingletonOptions {
  /** The lock is the folder `${lockPath}.lock`; its parent folder must exist. */
  lockPath: string;
  /** Is the daemon up? Called often: keep it cheap and bounded (a fetch with a short timeout). */
  isHealthy: (options: { signal: AbortSignal }) => boolean | Promise<boolean>;
  /**
   * Start the daemon (detached). Resolve once it is started, not once it is healthy. Resolve with its
   * pid (or anything with a numeric `pid`, such as a ChildProcess) so that, when this launcher's wait
   * ends while the daemon is still booting (a loaded machine), the lock is handed to the daemon and
   * other launchers wait for it instead of spawning a second one.
   */
  spawn: (options: { signal: AbortSignal | undefined }) => unknown;
  /** Total budget for this call, ms. */
  waitTimeoutMs: number;
  /** How long the launcher that spawned waits for health before counting the spawn as failed. Default waitTimeoutMs. */
  spawnTimeoutMs?: number;
  /** A lock whose mtime is older than this is free (the backstop for holders on other hosts). Default 10000, min 2000. */
  staleMs?: number;
  /** Spawn (and wait for health) through this breaker: a daemon that dies at boot is not spawned forever. */
  breaker?: BreakerLike;
  /** When the lock folder is unusable, spawn without the lock instead of throwing LockUnavailableError. */
  failOpen?: boolean;
  signal?: AbortSignal;
  events?: Emitter<SpawnMutexEvents>;
  /** Who we are in owner records. Default os.hostname(). */
  hostname?: string;
}

export interface Validated {
  lockPath: string;
  isHealthy: EnsureSingletonOptions['isHealthy'];
  spawn: EnsureSingletonOptions['spawn'];
  waitTimeoutMs: number;
  spawnTimeoutMs: number;
  staleMs: number;
  breaker: BreakerLike | undefined;
  failOpen: boolean;
  signal: AbortSignal | undefined;
  events: Emitter<SpawnMutexEvents> | undefined;
  hostname: string | undefined;
}

/** The holder refreshes its lock every staleMs / 2 (at least every 1 s): below 2 s, a busy event loop would make a live lock look stale. */
export const MIN_STALE_MS = 2000;

/** The lock path, absolute. */
export function checkLockPath(value: unknown): string {
  return resolve(checkString('lockPath', value));
}

/** staleMs: default 10000, at least MIN_STALE_MS. */
export function checkStaleMs(value: unknown): number {
  return checkMs('staleMs', value, { min: MIN_STALE_MS, fallback: 10_000 });
}

export function checkEvents(value: unknown): Emitter<SpawnMutexEvents> | undefined {
  return checkEmitter<Emitter<SpawnMutexEvents>>('events', value, { hint: ' (createSpawnMutexEvents())' });
}

export function validateEnsureOptions(options: unknown): Validated {
  const o = checkObject('options', options);
  const lockPath = checkLockPath(o.lockPath);
  const isHealthy = checkFunction<Validated['isHealthy']>('isHealthy', o.isHealthy);
  const spawn = checkFunction<Validated['spawn']>('spawn', o.spawn);
  const waitTimeoutMs = checkMs('waitTimeoutMs', o.waitTimeoutMs, { min: 1 });
  const spawnTimeoutMs = checkMs('spawnTimeoutMs', o.spawnTimeoutMs, { min: 1, fallback: waitTimeoutMs });
  const staleMs = checkStaleMs(o.staleMs);
  let breaker: BreakerLike | undefined;
  if (o.breaker !== undefined) {
    const b = o.breaker as Partial<BreakerLike> | null;
    if (typeof b !== 'object' || b === null || typeof b.execute !== 'function') {
      throw new TypeError(`breaker must be an object with an execute(fn) method, got ${show(o.breaker)}`);
    }
    breaker = b as BreakerLike;
  }
  const failOpen = o.failOpen === undefined ? false : checkBoolean('failOpen', o.failOpen);
  const hostname = o.hostname === undefined ? undefined : checkString('hostname', o.hostname);
  return {
    lockPath,
    isHealthy,
    spawn,
    waitTimeoutMs,
    spawnTimeoutMs,
    staleMs,
    breaker,
    failOpen,
    signal: checkSignal('signal', o.signal),
    events: checkEvents(o.events),
    hostname,
  };
}
