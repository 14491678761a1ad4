import { deferred as makeDeferred } from '@spawnguard/internal';
import { CircuitBreaker, type CircuitBreakerEvents, type CircuitBreakerOptions } from '../src/index.js';

export const T0 = 1_700_000_000_000;

/** A clock the test moves by hand; the breaker has no timers, so nothing else is needed. */
export function fakeClock(start = T0) {
  let t = start;
  return {
    now: () => t,
    advance(ms: number) {
      t += ms;
    },
    set(ms: number) {
      t = ms;
    },
  };
}

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

export function deferred<T = unknown>(): Deferred<T> {
  return makeDeferred<T>();
}

/** Lets every pending promise reaction run (they all run before the next macrotask). */
export const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Records every event of a breaker as [type, payload] in order. */
export function record(breaker: CircuitBreaker): Array<[keyof CircuitBreakerEvents, unknown]> {
  const seen: Array<[keyof CircuitBreakerEvents, unknown]> = [];
  breaker.events.on('*', (type, payload) => seen.push([type, payload]));
  return seen;
}

/** Captures how a promise ended without letting it go unhandled. */
export function outcome<T>(promise: Promise<T>) {
  const result: { done: boolean; value?: T; error?: unknown; rejected?: boolean } = { done: false };
  promise.then(
    (value) => Object.assign(result, { done: true, value, rejected: false }),
    (error) => Object.assign(result, { done: true, error, rejected: true }),
  );
  return result;
}

export const boom = (message = 'boom') => {
  throw new Error(message);
};

/** A breaker on a fake clock with a 60 s cooldown (the defaults) unless overridden. */
export function breakerWithClock(options: CircuitBreakerOptions = {}) {
  const clock = fakeClock();
  const breaker = new CircuitBreaker({ now: clock.now, ...options });
  return { breaker, clock };
}

export async function failTimes(breaker: CircuitBreaker, n: number) {
  for (let i = 0; i < n; i++) await breaker.execute(() => boom(`failure ${i + 1}`)).catch(() => {});
}
