import type { Emitter } from 'mitt';
import type { SpawnMutexEvents } from './events.js';

/**
 * The one spawn lock a call works on, and how: what an attempt (lock.ts) and a takeover
 * (takeover.ts) are given. Built once per ensureSingleton / acquireSpawnLock call; never changed.
 */
export interface LockContext {
  /** Absolute; the lock folder is `${lockPath}.lock`. */
  lockPath: string;
  lockDir: string;
  staleMs: number;
  hostname: string;
  events: Emitter<SpawnMutexEvents> | undefined;
  started: number;
}
