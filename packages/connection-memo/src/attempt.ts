import { type Deferred, deferred, isSignal } from '@spawnguard/internal';
import type { CloseReason } from './events.js';

/** One call to connect(). It stays "current" until it settles, times out, or the memo drops it. */
export interface Attempt {
  readonly generation: number;
  readonly controller: AbortController;
  readonly startedAt: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** Set when the memo let go of this attempt: the reason its connection, if one arrives, is closed. */
  dropReason: CloseReason | undefined;
  /** Every waiter aborted, so its signal was aborted; a caller who comes later may still join it. */
  abandoned: boolean;
  /** Resolved once this attempt can no longer leave a connection open: it failed, its late connection
   * was closed, or its timeout elapsed. reset() and close() wait for this before anything new starts. */
  readonly released: Promise<void>;
  release: () => void;
}

/** A new attempt of `generation`, its timeout (unref'd) armed when `timeoutMs` is set. */
export function newAttempt(generation: number, timeoutMs: number | undefined, onTimeout: () => void): Attempt {
  const { promise: released, resolve: release } = deferred<void>();
  const attempt: Attempt = {
    generation,
    controller: new AbortController(),
    startedAt: performance.now(),
    timer: undefined,
    dropReason: undefined,
    abandoned: false,
    released,
    release,
  };
  if (timeoutMs !== undefined) {
    attempt.timer = setTimeout(onTimeout, timeoutMs);
    attempt.timer.unref();
  }
  return attempt;
}

/** A get() with a signal: it can leave early, so it needs a promise of its own. */
export interface Waiter<C> extends Deferred<C> {
  readonly signal: AbortSignal;
  readonly onAbort: () => void;
}

export function abortError(message: string): DOMException {
  return new DOMException(message, 'AbortError');
}

/** The breaker may hand connect() a signal of its own; connect() must hear both. */
export function linkSignals(own: AbortSignal, other: unknown): AbortSignal {
  if (!isSignal(other) || other === own) return own;
  return AbortSignal.any([own, other]);
}
