import { hasListeners, safeEmit } from '@spawnguard/internal';
import type { Emitter } from 'mitt';
import type { CircuitBreakerEvents } from './events.js';

const PACKAGE = '@spawnguard/circuit-breaker';

type EventName = keyof CircuitBreakerEvents;

/**
 * Events wait here while an operation updates the state, and are emitted once it is done, so a
 * listener that calls back into the breaker sees the new state, and a throwing listener breaks
 * nothing: it becomes a process warning (the policy of every package, @spawnguard/internal's
 * safeEmit) and, in addition, a `listenerError` event (not for a throwing `listenerError` listener).
 */
export class EventQueue {
  /** [type, payload, type, payload, ...], or undefined when empty (the common case: no allocation). */
  private pending: unknown[] | undefined;

  constructor(
    private readonly events: Emitter<CircuitBreakerEvents>,
    private readonly circuit: string | undefined,
  ) {}

  /** Does anyone listen for `type`? Payloads nobody would see are never built. */
  wants(type: EventName): boolean {
    return hasListeners(this.events, type);
  }

  queue<K extends EventName>(type: K, payload: CircuitBreakerEvents[K]): void {
    if (this.pending === undefined) this.pending = [type, payload];
    else this.pending.push(type, payload);
  }

  /** Emits what was queued; listeners may call back into the breaker safely. */
  flush(): void {
    const pending = this.pending;
    if (pending === undefined) return;
    this.pending = undefined;
    for (let i = 0; i < pending.length; i += 2) {
      const type = pending[i] as EventName;
      safeEmit(
        PACKAGE,
        this.events,
        type,
        pending[i + 1] as never,
        type === 'listenerError' ? undefined : this.#failed,
      );
    }
  }

  /** The addition to the common policy: a `listenerError` event (its own listeners' errors only warn). */
  readonly #failed = (error: unknown, event: EventName): void => {
    safeEmit(PACKAGE, this.events, 'listenerError', { circuit: this.circuit, event, error });
  };
}
