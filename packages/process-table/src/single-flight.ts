import { ProcessListTimeoutError } from './errors.js';

/** How long the last leaving caller waits for an abandoned listing to wind down (child killed and reaped). */
const ABANDON_WAIT_MS = 1000;

interface Flight<T> {
  promise: Promise<T>;
  /** Settles (never rejects) when the work has finished, including the reaping of any child. */
  settled: Promise<void>;
  controller: AbortController;
  callers: number;
  joined: number;
}

export interface SingleFlightHooks<T> {
  onDone?: (value: T, callers: number) => void;
  onAbandon?: (reason: unknown) => void;
}

/**
 * Go-style singleflight with per-caller bounds: concurrent callers share one run; each caller has
 * its own timeout and signal and leaves alone; the run itself is aborted only when the last caller
 * has left, and that last caller's rejection waits (briefly) until the run has wound down, so a
 * listing never outlives everyone who wanted it.
 */
export class SingleFlight<T> {
  private flight: Flight<T> | undefined;

  constructor(
    private readonly work: (signal: AbortSignal) => Promise<T>,
    private readonly hooks: SingleFlightHooks<T> = {},
  ) {}

  /** True while a shared run is in progress (for tests and diagnostics). */
  get inFlight(): boolean {
    return this.flight !== undefined;
  }

  run(options: { signal?: AbortSignal; timeoutMs: number }): Promise<T> {
    const { signal, timeoutMs } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const flight = this.flight ?? this.start();
    flight.callers++;
    flight.joined++;

    return new Promise<T>((resolve, reject) => {
      let left = false;
      const cleanup = () => {
        left = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const leave = (reason: unknown) => {
        if (left) return;
        cleanup();
        flight.callers--;
        if (flight.callers > 0) {
          reject(reason);
          return;
        }
        // Last one out: stop the shared work (kills ps/PowerShell) and let it wind down first.
        if (this.flight === flight) this.flight = undefined;
        flight.controller.abort(reason);
        this.hooks.onAbandon?.(reason);
        let wait: NodeJS.Timeout | undefined;
        const bounded = new Promise<void>((r) => {
          wait = setTimeout(r, ABANDON_WAIT_MS);
          wait.unref();
        });
        void Promise.race([flight.settled, bounded]).then(() => {
          clearTimeout(wait);
          reject(reason);
        });
      };
      const onAbort = () => leave(signal?.reason);
      // unref'd: the work itself (a child, or /proc batches) keeps the loop alive while it runs.
      const timer = setTimeout(() => leave(new ProcessListTimeoutError(timeoutMs)), timeoutMs);
      timer.unref();
      signal?.addEventListener('abort', onAbort, { once: true });

      flight.promise.then(
        (value) => {
          if (left) return;
          cleanup();
          flight.callers--;
          resolve(value);
        },
        (error: unknown) => {
          if (left) return;
          cleanup();
          flight.callers--;
          reject(error);
        },
      );
    });
  }

  private start(): Flight<T> {
    const controller = new AbortController();
    let promise: Promise<T>;
    try {
      promise = this.work(controller.signal);
    } catch (error) {
      promise = Promise.reject(error);
    }
    const flight: Flight<T> = {
      promise,
      settled: promise.then(
        () => undefined,
        () => undefined,
      ),
      controller,
      callers: 0,
      joined: 0,
    };
    this.flight = flight;
    promise.then(
      (value) => {
        if (this.flight === flight) this.flight = undefined;
        this.hooks.onDone?.(value, flight.joined);
      },
      () => {
        if (this.flight === flight) this.flight = undefined;
      },
    );
    return flight;
  }
}
