import type { Emitter } from 'mitt';
import mitt from 'mitt';
import type { OwnerRecord } from './owner.js';

export const PACKAGE = '@spawnguard/spawn-mutex';

export type EnsureOutcome = 'already-running' | 'spawned' | 'waited';

/** Every payload names the lock; events are emitted after the state they report has changed. */
export type SpawnMutexEvents = {
  /** The first health check passed: no lock was touched. */
  fastPath: { lockPath: string; elapsedMs: number };
  /** We hold the lock (its folder, with our owner record in it, is in place). */
  lockAcquired: { lockPath: string; elapsedMs: number };
  /** Another launcher holds the lock; emitted once per holder we wait for. */
  lockBusy: { lockPath: string; owner: OwnerRecord | null; elapsedMs: number };
  /**
   * We claimed a lock whose holder is provably gone (`dead-owner`), or that nothing proves alive and
   * whose mtime is older than staleMs (`stale`: another host, an unreadable record, foreign leftovers).
   */
  takeover: { lockPath: string; previousOwner: OwnerRecord | null; reason: 'dead-owner' | 'stale' };
  /**
   * spawn() resolved with no pid (nothing, or an object without a numeric `pid`) while we hold the
   * lock: if the daemon is still booting when our wait ends, the lock cannot be handed to it, and the
   * next launcher may spawn a second one. Resolve spawn() with the ChildProcess (or its pid).
   * `resolved` describes what it resolved with.
   */
  spawnWithoutPid: { lockPath: string; resolved: string; elapsedMs: number };
  /** spawn() returned. */
  spawned: { lockPath: string; elapsedMs: number };
  /** The daemon answered healthy after we spawned or waited. */
  healthy: { lockPath: string; elapsedMs: number; outcome: EnsureOutcome };
  /**
   * The daemon we spawned was alive but not yet healthy when our wait ended: the lock is left to it
   * (its record beside ours), so other launchers wait for it instead of spawning a second one. It frees
   * when the daemon dies (identity); on this host age alone never frees it while the daemon lives.
   */
  handOff: { lockPath: string; pid: number; elapsedMs: number };
  /** waitTimeoutMs (or spawnTimeoutMs) ran out. */
  timeout: { lockPath: string; elapsedMs: number; waitTimeoutMs: number };
  /** Our lock was taken from us: our owner record vanished from the lock folder (seen when refreshing it). */
  compromised: { lockPath: string; error: Error };
  /** The lock folder is unusable and failOpen is set: spawning without the lock. */
  failOpen: { lockPath: string; error: Error };
};

/** A typed emitter to pass as `events`. */
export function createSpawnMutexEvents(): Emitter<SpawnMutexEvents> {
  return mitt<SpawnMutexEvents>();
}
