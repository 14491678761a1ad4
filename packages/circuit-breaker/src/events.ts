import type { BrokenCircuitError, CircuitStoreError, StoreProblem } from './errors.js';

export type CircuitState = 'closed' | 'open' | 'halfOpen';

interface Named {
  /** The breaker's `name` option. */
  circuit: string | undefined;
}

/**
 * Every event is emitted after the state it reports has been updated (and saved), synchronously,
 * before the call that caused it returns. State changes made by another process (through a shared
 * store) are reported when this breaker next looks, so a `from` may skip a step (closed → halfOpen).
 */
export type CircuitBreakerEvents = {
  /** The circuit opened (failures, a failed probe, isolate(), or seen in the store). */
  open: Named & { retryAfterMs: number; cooldownMs: number; isolated: boolean };
  /** The cooldown ran out: the next call is a probe. */
  halfOpen: Named;
  /** The circuit closed (a probe succeeded, reset(), or seen in the store). */
  close: Named;
  /** Any visible state change, with `from` and `to`. Emitted before open/halfOpen/close. */
  stateChange: Named & { from: CircuitState; to: CircuitState };
  /** fn resolved. `counted` is false when the result was stale (a newer generation began meanwhile). */
  success: Named & { probe: boolean; counted: boolean };
  /** fn rejected with an error isFailure() accepts, or recordFailure() was called. `failures` is the consecutive count after it. */
  failure: Named & { error: unknown; probe: boolean; counted: boolean; failures: number };
  /** A call was refused with BrokenCircuitError; fn did not run. */
  rejected: Named & { error: BrokenCircuitError };
  /** The store could not be read or written; the breaker decides from memory meanwhile. */
  storeError: Named & { operation: 'load' | 'save'; error: unknown };
  /** The store held no usable state (missing, corrupt, foreign); the circuit counts as closed. */
  storeReset: Named & { reason: StoreProblem; error: CircuitStoreError };
  /**
   * A listener threw (it is also reported as a process warning with code SPAWNGUARD_LISTENER_ERROR,
   * like in every spawnguard package). Not emitted for a throwing listenerError listener.
   */
  listenerError: Named & { event: keyof CircuitBreakerEvents; error: unknown };
};
