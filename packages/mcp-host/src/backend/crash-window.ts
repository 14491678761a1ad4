import type { CircuitBreaker } from '@spawnguard/circuit-breaker';
import type { Clock } from '../clock.js';

/** How a backend's life ended, as its slot saw it. */
export interface LifeEnd {
  /** It exited on its own (a crash, a kill by hand), not because the host stopped it. */
  byItself: boolean;
  /** The host stopped it after maxTimeoutsInARow timeouts in a row: a failure even with nothing in flight. */
  unresponsive: boolean;
  /** Session requests it had not answered when it exited. */
  inFlight: number;
  /** What the sessions were told (a BackendExitedError or BackendUnresponsiveError): the failure the breaker records. */
  error: Error;
}

/** The verdict of a start the host itself ended within the window: nothing, for the breaker. */
class StoppedByHostError extends Error {
  readonly code = 'ESTOPPEDBYHOST';
  constructor() {
    super('the host stopped the backend within its crash window');
    this.name = 'StoppedByHostError';
  }
}

interface Life {
  verdict: Promise<void>;
  settle(failure: Error | null): void;
  /** Still within crashWindowMs of its start, no verdict yet. */
  open: boolean;
  timer: unknown;
}

/**
 * A server's breaker judges a backend by how it lives, not only by its handshake: a server that
 * answers `initialize` and crashes on the first `tools/call` must not restart on every call.
 *
 * Used as the slot's connection-memo `breaker` (by shape: `execute(fn, { signal })`): a start is
 * admitted by the server's circuit as before, and its backend handed to the memo as soon as it
 * is up, but the circuit's verdict on that start waits for the backend's first `crashWindowMs`:
 * an exit on its own within it is a failure (so is a start that failed), surviving it is a
 * success, and a stop by the host within it is no verdict. After the window, an exit on its own
 * with requests in flight is recorded as one more failure (`recordFailure`), and so is a stop for
 * not answering (maxTimeoutsInARow), which counts as an exit on its own within the window. So at most
 * `failureThreshold` starts happen per cooldown, however the backend dies.
 */
export class CrashWindow {
  readonly #lives = new WeakMap<object, Life>();

  constructor(
    readonly breaker: CircuitBreaker,
    private readonly clock: Clock,
    private readonly windowMs: number,
  ) {}

  /** connection-memo's breaker: runs the start through the circuit; resolves with the backend once it is up. */
  execute<T>(fn: (context: { signal?: AbortSignal }) => Promise<T>, options?: { signal?: AbortSignal }): Promise<T> {
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<T>((resolve, reject) => {
      let ran = false;
      const verdict = this.breaker.execute(async () => {
        ran = true;
        let value: T;
        try {
          value = await fn(signal ? { signal } : {});
        } catch (error) {
          reject(error);
          throw error; // a start that failed: the circuit's verdict (isFailure decides whether it counts)
        }
        resolve(value);
        await this.#lives.get(value as object)?.verdict;
      });
      verdict.catch((error: unknown) => {
        if (!ran) reject(error); // refused by the circuit: fn never ran
      });
    });
  }

  /** A backend is up: its window opens now. */
  begin(backend: object): void {
    let settle!: Life['settle'];
    const verdict = new Promise<void>((resolve, reject) => {
      settle = (failure) => (failure ? reject(failure) : resolve());
    });
    verdict.catch(() => {});
    const life: Life = { verdict, settle, open: true, timer: null };
    this.#lives.set(backend, life);
    if (this.windowMs === 0) {
      life.open = false;
      settle(null);
      return;
    }
    life.timer = this.clock.setTimeout(() => {
      life.timer = null;
      if (!life.open) return;
      life.open = false;
      settle(null); // it lived through its window: a good start
    }, this.windowMs);
  }

  /** A backend's life ended. The life stays (weakly) with its verdict: a start still awaiting it reads it. */
  ended(backend: object, end: LifeEnd): void {
    const life = this.#lives.get(backend);
    if (!life) return;
    if (life.open) {
      life.open = false;
      if (life.timer !== null) this.clock.clearTimeout(life.timer);
      life.timer = null;
      life.settle(end.byItself || end.unresponsive ? end.error : new StoppedByHostError());
      return;
    }
    if (end.unresponsive || (end.byItself && end.inFlight > 0)) this.breaker.recordFailure(end.error);
  }
}
