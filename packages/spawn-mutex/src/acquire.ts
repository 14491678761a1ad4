import { hostname as osHostname } from 'node:os';
import { checkOptions, checkSignal, checkString, safeEmit } from '@spawnguard/internal';
import type { Emitter } from 'mitt';
import { PACKAGE, type SpawnMutexEvents } from './events.js';
import { attemptLock } from './lock.js';
import { checkEvents, checkLockPath, checkStaleMs } from './options.js';

export interface AcquireSpawnLockOptions {
  /** Default 10000, min 2000. */
  staleMs?: number;
  signal?: AbortSignal;
  events?: Emitter<SpawnMutexEvents>;
  /** Default os.hostname(). */
  hostname?: string;
}

/**
 * One try at the spawn lock, with the same owner record and takeover rules as ensureSingleton.
 * Resolves with a release function, or null when a live owner holds it. Throws LockUnavailableError
 * when the lock folder cannot be used.
 */
export async function acquireSpawnLock(
  lockPath: string,
  options: AcquireSpawnLockOptions = {},
): Promise<(() => Promise<void>) | null> {
  const path = checkLockPath(lockPath);
  const o = checkOptions('options', options);
  const staleMs = checkStaleMs(o.staleMs);
  const signal = checkSignal('signal', o.signal);
  const events = checkEvents(o.events);
  const hostname = o.hostname === undefined ? osHostname() : checkString('hostname', o.hostname);
  signal?.throwIfAborted();
  const started = Date.now();
  const attempt = await attemptLock({ lockPath: path, lockDir: `${path}.lock`, staleMs, hostname, events, started });
  if (attempt.acquired) {
    safeEmit(PACKAGE, events, 'lockAcquired', { lockPath: path, elapsedMs: Date.now() - started });
    return attempt.release;
  }
  safeEmit(PACKAGE, events, 'lockBusy', { lockPath: path, owner: attempt.owner, elapsedMs: Date.now() - started });
  return null;
}
