import { hostname as osHostname } from 'node:os';
import { safeEmit, show, sleep } from '@spawnguard/internal';
import { backoff } from './backoff.js';
import { LockUnavailableError, SpawnTimeoutError } from './errors.js';
import { type EnsureOutcome, PACKAGE } from './events.js';
import { checkHealth } from './health.js';
import { attemptLock } from './lock.js';
import type { LockContext } from './lock-context.js';
import { type EnsureSingletonOptions, type Validated, validateEnsureOptions } from './options.js';

export type { BreakerLike, EnsureSingletonOptions } from './options.js';

export interface EnsureResult {
  outcome: EnsureOutcome;
  elapsedMs: number;
}

/**
 * Make sure exactly one daemon runs: return at once if it is healthy (no lock touched), else take
 * the spawn lock, re-check, spawn, wait for health. Launchers that find the lock busy wait for
 * health and compete again if the lock frees without a healthy daemon (its holder died).
 */
export async function ensureSingleton(options: EnsureSingletonOptions): Promise<EnsureResult> {
  const o = validateEnsureOptions(options);
  o.signal?.throwIfAborted();
  const started = Date.now();
  const elapsed = () => Date.now() - started;
  const deadline = started + o.waitTimeoutMs;

  if (await checkHealth(o, deadline)) {
    safeEmit(PACKAGE, o.events, 'fastPath', { lockPath: o.lockPath, elapsedMs: elapsed() });
    return { outcome: 'already-running', elapsedMs: elapsed() };
  }

  const ctx: LockContext = {
    lockPath: o.lockPath,
    lockDir: `${o.lockPath}.lock`,
    staleMs: o.staleMs,
    // Looked up here, not at validation: the fast path above needs no hostname.
    hostname: o.hostname ?? osHostname(),
    events: o.events,
    started,
  };
  const pause = backoff();
  let waited = false;
  let lastBusyNonce: string | null | undefined;

  for (;;) {
    o.signal?.throwIfAborted();
    if (Date.now() >= deadline) throw timeout(o, elapsed(), o.waitTimeoutMs, false);

    let attempt: Awaited<ReturnType<typeof attemptLock>>;
    try {
      attempt = await attemptLock(ctx);
    } catch (error) {
      if (!(error instanceof LockUnavailableError) || !o.failOpen) throw error;
      safeEmit(PACKAGE, o.events, 'failOpen', { lockPath: o.lockPath, error });
      await spawnAndWait(o, elapsed, deadline);
      return { outcome: 'spawned', elapsedMs: elapsed() };
    }

    if (attempt.acquired) {
      safeEmit(PACKAGE, o.events, 'lockAcquired', { lockPath: o.lockPath, elapsedMs: elapsed() });
      try {
        // Someone may have finished spawning between our health check and our lock.
        if (await checkHealth(o, deadline)) {
          const outcome: EnsureOutcome = waited ? 'waited' : 'already-running';
          safeEmit(PACKAGE, o.events, 'healthy', { lockPath: o.lockPath, elapsedMs: elapsed(), outcome });
          return { outcome, elapsedMs: elapsed() };
        }
        let spawnedPid: number | undefined;
        try {
          await spawnAndWait(o, elapsed, deadline, async (pid) => {
            spawnedPid = pid;
            await attempt.recordSpawned(pid);
          });
        } catch (error) {
          if (error instanceof SpawnTimeoutError && spawnedPid !== undefined && (await attempt.handOff())) {
            safeEmit(PACKAGE, o.events, 'handOff', { lockPath: o.lockPath, pid: spawnedPid, elapsedMs: elapsed() });
            throw new SpawnTimeoutError(error.waitTimeoutMs, o.lockPath, true, spawnedPid);
          }
          throw error;
        }
        return { outcome: 'spawned', elapsedMs: elapsed() };
      } finally {
        await attempt.release();
      }
    }

    const nonce = attempt.owner?.nonce ?? null;
    if (nonce !== lastBusyNonce) {
      lastBusyNonce = nonce;
      safeEmit(PACKAGE, o.events, 'lockBusy', { lockPath: o.lockPath, owner: attempt.owner, elapsedMs: elapsed() });
    }
    waited = true;
    if (await checkHealth(o, deadline)) {
      safeEmit(PACKAGE, o.events, 'healthy', { lockPath: o.lockPath, elapsedMs: elapsed(), outcome: 'waited' });
      return { outcome: 'waited', elapsedMs: elapsed() };
    }
    await sleep(Math.min(pause(), Math.max(deadline - Date.now(), 0)), o.signal);
  }
}

/** Spawn, then poll health until spawnTimeoutMs (or the overall deadline); through the breaker if any. */
async function spawnAndWait(
  o: Validated,
  elapsed: () => number,
  deadline: number,
  /** Called with the daemon's pid, when spawn() gave one, before anything else can go wrong for us. */
  onSpawned?: (pid: number) => Promise<void>,
): Promise<void> {
  const run = async () => {
    const resolved = await o.spawn({ signal: o.signal });
    const pid = pidOf(resolved);
    if (pid !== undefined) await onSpawned?.(pid);
    else if (onSpawned) {
      // Under the lock, a pid is what lets it pass to a daemon still booting: say that it is missing.
      safeEmit(PACKAGE, o.events, 'spawnWithoutPid', {
        lockPath: o.lockPath,
        resolved: describeResolved(resolved),
        elapsedMs: elapsed(),
      });
    }
    safeEmit(PACKAGE, o.events, 'spawned', { lockPath: o.lockPath, elapsedMs: elapsed() });
    const spawnDeadline = Math.min(deadline, Date.now() + o.spawnTimeoutMs);
    const budget = spawnDeadline === deadline ? o.waitTimeoutMs : o.spawnTimeoutMs;
    const pause = backoff(5, 50);
    for (;;) {
      o.signal?.throwIfAborted();
      if (await checkHealth(o, spawnDeadline)) {
        safeEmit(PACKAGE, o.events, 'healthy', { lockPath: o.lockPath, elapsedMs: elapsed(), outcome: 'spawned' });
        return;
      }
      if (Date.now() >= spawnDeadline) throw timeout(o, elapsed(), budget, true);
      await sleep(Math.min(pause(), Math.max(spawnDeadline - Date.now(), 0)), o.signal);
    }
  };
  if (o.breaker) await o.breaker.execute(run, o.signal ? { signal: o.signal } : undefined);
  else await run();
}

/** The pid spawn() resolved with: a number, or an object with a numeric pid (a ChildProcess). */
function pidOf(value: unknown): number | undefined {
  const pid = typeof value === 'number' ? value : (value as { pid?: unknown } | null | undefined)?.pid;
  return typeof pid === 'number' && Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** What spawn() resolved with, for the spawnWithoutPid event. */
function describeResolved(value: unknown): string {
  if (value === undefined) return 'undefined (a spawn(...).unref() returns nothing: return the ChildProcess)';
  if (typeof value === 'object' && value !== null && 'pid' in value) {
    return `an object whose pid is ${show((value as { pid: unknown }).pid)} (a ChildProcess that failed to start?)`;
  }
  return show(value);
}

function timeout(o: Validated, elapsedMs: number, budget: number, spawned: boolean): SpawnTimeoutError {
  safeEmit(PACKAGE, o.events, 'timeout', { lockPath: o.lockPath, elapsedMs, waitTimeoutMs: budget });
  return new SpawnTimeoutError(budget, o.lockPath, spawned);
}
