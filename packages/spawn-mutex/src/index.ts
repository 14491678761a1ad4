export type { AcquireSpawnLockOptions } from './acquire.js';
export { acquireSpawnLock } from './acquire.js';
export type { BreakerLike, EnsureResult, EnsureSingletonOptions } from './ensure-singleton.js';
export { ensureSingleton } from './ensure-singleton.js';
export { LockUnavailableError, SpawnTimeoutError } from './errors.js';
export type { EnsureOutcome, SpawnMutexEvents } from './events.js';
export { createSpawnMutexEvents } from './events.js';
export type { OwnerRecord } from './owner.js';
