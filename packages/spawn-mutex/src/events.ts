import type { Emitter } from 'mitt';
import mitt from 'mitt';
import type { OwnerRecord } from './owner.js';

export type EnsureOutcome = 'already-running' | 'spawned' | 'waited';

/** Every payload names the lock; events are emitted after the state they report has changed. */
export type SpawnMutexEvents = {
  /** The first health check passed: no lock was touched. */
  fastPath: { lockPath: string; elapsedMs: number };
  /** We hold the lock (owner record written). */
  lockAcquired: { lockPath: string; elapsedMs: number };
  /** Another launcher holds the lock; emitted once per holder we wait for. */
  lockBusy: { lockPath: string; owner: OwnerRecord | null; elapsedMs: number };
  /** We removed a lock whose holder is gone (`dead-owner`) or whose mtime is older than staleMs (`stale`). */
  takeover: { lockPath: string; previousOwner: OwnerRecord | null; reason: 'dead-owner' | 'stale' };
  /** spawn() returned. */
  spawned: { lockPath: string; elapsedMs: number };
  /** The daemon answered healthy after we spawned or waited. */
  healthy: { lockPath: string; elapsedMs: number; outcome: EnsureOutcome };
  /**
   * The daemon we spawned was alive but not yet healthy when our wait ended: the lock now names the
   * daemon as its owner, so other launchers wait for it instead of spawning a second one. It frees
   * when the daemon dies (identity) or after staleMs.
   */
  handOff: { lockPath: string; pid: number; elapsedMs: number };
  /** waitTimeoutMs (or spawnTimeoutMs) ran out. */
  timeout: { lockPath: string; elapsedMs: number; waitTimeoutMs: number };
  /** proper-lockfile reports our lock was taken from us (mtime changed or the folder vanished). */
  compromised: { lockPath: string; error: Error };
  /** The lock folder is unusable and failOpen is set: spawning without the lock. */
  failOpen: { lockPath: string; error: Error };
};

/** A typed emitter to pass as `events`. */
export function createSpawnMutexEvents(): Emitter<SpawnMutexEvents> {
  return mitt<SpawnMutexEvents>();
}
