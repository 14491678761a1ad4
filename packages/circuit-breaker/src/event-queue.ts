import type { Emitter } from 'mitt';
import { type CircuitBreakerEvents, safeEmit } from './events.js';

type EventName = keyof CircuitBreakerEvents;

/**
 * Events wait here while an operation updates the state, and are emitted once it is done, so a
 * listener that calls back into the breaker sees the new state, and a throwing listener breaks
 * nothing: it is reported as `listenerError` (dropped when nobody listens for that, or when a
 * `listenerError` listener throws).
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
    const all = this.events.all;
    return (all.get(type)?.length ?? 0) > 0 || (all.get('*')?.length ?? 0) > 0;
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
      safeEmit(this.events, type, pending[i + 1] as never, (error) => this.listenerFailed(type, error));
    }
  }

  private listenerFailed(event: EventName, error: unknown): void {
    if (event === 'listenerError') return; // never recurse
    safeEmit(this.events, 'listenerError', { circuit: this.circuit, event, error }, () => {});
  }
}
