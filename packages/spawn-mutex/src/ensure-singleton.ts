import { hostname as osHostname } from 'node:os';
import { resolve } from 'node:path';
import type { Emitter } from 'mitt';
import { safeEmit } from './emit.js';
import { LockUnavailableError, SpawnTimeoutError } from './errors.js';
import type { EnsureOutcome, SpawnMutexEvents } from './events.js';
import { attemptLock, type LockContext } from './lock.js';
import { backoff, sleep } from './sleep.js';
import {
  MIN_STALE_MS,
  optionalEvents,
  optionalSignal,
  requireFunction,
  requireMs,
  requireObject,
  requireString,
  show,
} from './validate.js';

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

export interface EnsureResult {
  outcome: EnsureOutcome;
  elapsedMs: number;
}

interface Validated {
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
    safeEmit(o.events, 'fastPath', { lockPath: o.lockPath, elapsedMs: elapsed() });
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
      safeEmit(o.events, 'failOpen', { lockPath: o.lockPath, error });
      await spawnAndWait(o, elapsed, deadline);
      return { outcome: 'spawned', elapsedMs: elapsed() };
    }

    if (attempt.acquired) {
      safeEmit(o.events, 'lockAcquired', { lockPath: o.lockPath, elapsedMs: elapsed() });
      try {
        // Someone may have finished spawning between our health check and our lock.
        if (await checkHealth(o, deadline)) {
          const outcome: EnsureOutcome = waited ? 'waited' : 'already-running';
          safeEmit(o.events, 'healthy', { lockPath: o.lockPath, elapsedMs: elapsed(), outcome });
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
            safeEmit(o.events, 'handOff', { lockPath: o.lockPath, pid: spawnedPid, elapsedMs: elapsed() });
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
      safeEmit(o.events, 'lockBusy', { lockPath: o.lockPath, owner: attempt.owner, elapsedMs: elapsed() });
    }
    waited = true;
    if (await checkHealth(o, deadline)) {
      safeEmit(o.events, 'healthy', { lockPath: o.lockPath, elapsedMs: elapsed(), outcome: 'waited' });
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
      safeEmit(o.events, 'spawnWithoutPid', {
        lockPath: o.lockPath,
        resolved: describeResolved(resolved),
        elapsedMs: elapsed(),
      });
    }
    safeEmit(o.events, 'spawned', { lockPath: o.lockPath, elapsedMs: elapsed() });
    const spawnDeadline = Math.min(deadline, Date.now() + o.spawnTimeoutMs);
    const budget = spawnDeadline === deadline ? o.waitTimeoutMs : o.spawnTimeoutMs;
    const pause = backoff(5, 50);
    for (;;) {
      o.signal?.throwIfAborted();
      if (await checkHealth(o, spawnDeadline)) {
        safeEmit(o.events, 'healthy', { lockPath: o.lockPath, elapsedMs: elapsed(), outcome: 'spawned' });
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

/** Aborts a health check's signal once its answer is no longer needed (made once: no stack per call). */
const HEALTH_CHECK_DONE = new Error('health check no longer needed');

/**
 * isHealthy, bounded by the deadline and the signal; a throw or a hang counts as "not healthy".
 * The signal handed to isHealthy is made on first access: an AbortController costs microseconds,
 * and the fast path (every hook, every editor event) should cost one health check and little else.
 */
async function checkHealth(o: Validated, deadline: number): Promise<boolean> {
  const remaining = deadline - Date.now();
  if (remaining <= 0) return false;
  let call: AbortController | undefined;
  let resolveTimeout: ((answer: false) => void) | undefined;
  // The caller's abort ends the check at once, whether or not isHealthy looked at its signal.
  const onAbort = () => {
    resolveTimeout?.(false);
    call?.abort(o.signal?.reason);
  };
  o.signal?.addEventListener('abort', onAbort, { once: true });
  const context = {
    get signal(): AbortSignal {
      if (call === undefined) {
        call = new AbortController();
        if (o.signal?.aborted) call.abort(o.signal.reason);
      }
      return call.signal;
    },
  };
  let timer: NodeJS.Timeout | undefined;
  try {
    const answer = await Promise.race([
      Promise.resolve()
        .then(() => o.isHealthy(context))
        .then(
          (ok) => ok === true,
          () => false,
        ),
      new Promise<false>((resolve) => {
        resolveTimeout = resolve;
        timer = setTimeout(() => {
          resolve(false);
          call?.abort(HEALTH_CHECK_DONE);
        }, remaining);
      }),
    ]);
    o.signal?.throwIfAborted();
    return answer;
  } finally {
    clearTimeout(timer);
    o.signal?.removeEventListener('abort', onAbort);
    if (call !== undefined && !call.signal.aborted) call.abort(HEALTH_CHECK_DONE);
  }
}

function timeout(o: Validated, elapsedMs: number, budget: number, spawned: boolean): SpawnTimeoutError {
  safeEmit(o.events, 'timeout', { lockPath: o.lockPath, elapsedMs, waitTimeoutMs: budget });
  return new SpawnTimeoutError(budget, o.lockPath, spawned);
}

function validateEnsureOptions(options: unknown): Validated {
  const o = requireObject('options', options);
  const lockPath = resolve(requireString('lockPath', o.lockPath));
  const isHealthy = requireFunction<Validated['isHealthy']>('isHealthy', o.isHealthy);
  const spawn = requireFunction<Validated['spawn']>('spawn', o.spawn);
  const waitTimeoutMs = requireMs('waitTimeoutMs', o.waitTimeoutMs, 1);
  const spawnTimeoutMs =
    o.spawnTimeoutMs === undefined ? waitTimeoutMs : requireMs('spawnTimeoutMs', o.spawnTimeoutMs, 1);
  const staleMs = o.staleMs === undefined ? 10_000 : requireMs('staleMs', o.staleMs, MIN_STALE_MS);
  let breaker: BreakerLike | undefined;
  if (o.breaker !== undefined) {
    const b = o.breaker as Partial<BreakerLike> | null;
    if (typeof b !== 'object' || b === null || typeof b.execute !== 'function') {
      throw new TypeError(`breaker must be an object with an execute(fn) method, got ${show(o.breaker)}`);
    }
    breaker = b as BreakerLike;
  }
  if (o.failOpen !== undefined && typeof o.failOpen !== 'boolean') {
    throw new TypeError(`failOpen must be a boolean, got ${show(o.failOpen)}`);
  }
  const hostname = o.hostname === undefined ? undefined : requireHostname(o.hostname);
  return {
    lockPath,
    isHealthy,
    spawn,
    waitTimeoutMs,
    spawnTimeoutMs,
    staleMs,
    breaker,
    failOpen: o.failOpen === true,
    signal: optionalSignal(o.signal),
    events: optionalEvents(o.events),
    hostname,
  };
}

export function requireHostname(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new TypeError(`hostname must be a non-empty string, got ${show(value)}`);
  }
  return value;
}
