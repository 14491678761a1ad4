import { hostname as osHostname } from 'node:os';
import { resolve } from 'node:path';
import type { Emitter } from 'mitt';
import { safeEmit } from './emit.js';
import { requireHostname } from './ensure-singleton.js';
import type { SpawnMutexEvents } from './events.js';
import { attemptLock } from './lock.js';
import { MIN_STALE_MS, optionalEvents, optionalSignal, requireMs, requireObject, requireString } from './validate.js';

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
  const path = resolve(requireString('lockPath', lockPath));
  const o = requireObject('options', options);
  const staleMs = o.staleMs === undefined ? 10_000 : requireMs('staleMs', o.staleMs, MIN_STALE_MS);
  const signal = optionalSignal(o.signal);
  const events = optionalEvents(o.events);
  const hostname = o.hostname === undefined ? osHostname() : requireHostname(o.hostname);
  signal?.throwIfAborted();
  const started = Date.now();
  const attempt = await attemptLock({ lockPath: path, lockDir: `${path}.lock`, staleMs, hostname, events, started });
  if (attempt.acquired) {
    safeEmit(events, 'lockAcquired', { lockPath: path, elapsedMs: Date.now() - started });
    return attempt.release;
  }
  safeEmit(events, 'lockBusy', { lockPath: path, owner: attempt.owner, elapsedMs: Date.now() - started });
  return null;
}
