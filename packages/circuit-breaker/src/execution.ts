import { Outcome } from './transitions.js';

/** Aborting rejects the call with `signal.reason` at once; the call then counts as nothing. */
export interface ExecuteOptions {
  signal?: AbortSignal | undefined;
}

/** What `fn` receives: the caller's signal, to pass on to the work it starts. */
export interface ExecuteContext {
  signal: AbortSignal | undefined;
}

export type CallFn<T> = (context: ExecuteContext) => T | PromiseLike<T>;

/** Told how an admitted call ended (Nothing when its caller gave up first). */
export type Settle = (generation: number, probe: boolean, outcome: Outcome, result: unknown) => void;

/** The settle callbacks of every call of one (generation, probe). */
export interface Handlers {
  generation: number;
  succeeded: (value: unknown) => unknown;
  failed: (error: unknown) => never;
}

const NO_SIGNAL: ExecuteContext = Object.freeze({ signal: undefined });

export function handlers(settle: Settle, generation: number, probe: boolean): Handlers {
  return {
    generation,
    succeeded: (value) => {
      settle(generation, probe, Outcome.Succeeded, undefined);
      return value;
    },
    failed: (error) => {
      settle(generation, probe, Outcome.Failed, error);
      throw error;
    },
  };
}

/** Runs fn now (synchronously) and settles with its outcome: the hot path, no closure per call. */
export function run<T>(fn: CallFn<T>, on: Handlers): Promise<T> {
  let pending: T | PromiseLike<T>;
  try {
    pending = fn(NO_SIGNAL);
  } catch (error) {
    pending = Promise.reject(error);
  }
  return Promise.resolve(pending).then(on.succeeded, on.failed) as Promise<T>;
}

/** As run(), but an abort answers the caller at once; fn ending later only frees its probe slot. */
export function runWithSignal<T>(
  fn: CallFn<T>,
  signal: AbortSignal,
  settle: Settle,
  generation: number,
  probe: boolean,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    // Whichever comes first answers the caller: the abort, or fn's own outcome.
    let answered = false;
    const onAbort = () => {
      if (answered) return;
      answered = true;
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    const finish = (outcome: Outcome, result: unknown) => {
      signal.removeEventListener('abort', onAbort);
      if (answered) {
        // The caller already has the abort; fn ending now frees its probe slot, nothing more.
        settle(generation, probe, Outcome.Nothing, undefined);
        return;
      }
      answered = true;
      settle(generation, probe, outcome, result);
      if (outcome === Outcome.Succeeded) resolve(result as T);
      else reject(result);
    };
    let pending: T | PromiseLike<T>;
    try {
      pending = fn({ signal });
    } catch (error) {
      pending = Promise.reject(error);
    }
    Promise.resolve(pending).then(
      (value) => finish(Outcome.Succeeded, value),
      (error) => finish(Outcome.Failed, error),
    );
  });
}

/**
 * A promise that rejects one microtask later. By then the caller has attached its handler
 * (await / .catch), so V8 does not take the costly "rejected without a handler" path (~0.6 us,
 * most of the price of a refusal). A caller that never handles it still sees unhandledRejection.
 */
export function rejectSoon(error: unknown): Promise<never> {
  return new Promise((_, reject) => queueMicrotask(() => reject(error)));
}
