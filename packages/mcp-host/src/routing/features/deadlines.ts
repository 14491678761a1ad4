import type { Clock } from '../../clock.js';
import { RequestTimeoutError, toJsonRpcError } from '../../errors.js';
import { cancelled } from '../../protocol/message.js';
import type { BackendPort } from '../backend-port.js';
import type { Pending, RouterCore, RouterFeature } from '../feature.js';

/** What the deadlines read from the router's link, at each request (a reconfigured value applies to the next one). */
export interface DeadlineSettings {
  readonly clock: Clock;
  /** 0 = no deadline. */
  readonly requestTimeoutMs: number;
}

/**
 * The deadlines of the session requests in flight at one backend, by backend id (`requestTimeoutMs`
 * after each was written to the backend; progress does not move them: the timeout is a maximum),
 * and how many expired in a row with no answer from the backend between them: the count a
 * "restart an unresponsive backend" rule reads. No timer when `requestTimeoutMs` is 0.
 */
class RequestDeadlines {
  /** Backend id → its timer (an own object: a clock's handle may be anything, even undefined). */
  readonly #timers = new Map<number, { handle: unknown }>();
  #inARow = 0;

  constructor(private readonly settings: DeadlineSettings) {}

  /** `onExpire(timeoutMs)` runs if `id` is still armed after `requestTimeoutMs`. */
  arm(id: number, onExpire: (timeoutMs: number) => void): void {
    const ms = this.settings.requestTimeoutMs;
    if (ms === 0) return;
    const timer: { handle: unknown } = { handle: undefined };
    this.#timers.set(id, timer);
    timer.handle = this.settings.clock.setTimeout(() => {
      if (this.#timers.get(id) !== timer) return;
      this.#timers.delete(id);
      this.#inARow++;
      onExpire(ms);
    }, ms);
  }

  /** The backend answered `id`: its deadline is gone, and the backend is answering. */
  answered(id: number): void {
    this.#inARow = 0;
    this.drop(id);
  }

  /** `id` ended without an answer from the backend (cancelled, its session left). */
  drop(id: number): void {
    if (this.#timers.size === 0) return;
    const timer = this.#timers.get(id);
    if (timer === undefined) return;
    this.#timers.delete(id);
    this.settings.clock.clearTimeout(timer.handle);
  }

  /** The backend is gone: every deadline with it, and the count starts again with the next backend. */
  clear(): void {
    for (const timer of this.#timers.values()) this.settings.clock.clearTimeout(timer.handle);
    this.#timers.clear();
    this.#inARow = 0;
  }

  /** Deadlines that expired since the backend last answered a request (or since it started). */
  get inARow(): number {
    return this.#inARow;
  }
}

/**
 * requestTimeoutMs as a routing feature: each request written to the backend is armed; when it
 * expires, the session gets a RequestTimeoutError, the backend a cancellation (a late answer is
 * dropped), and the link a report (its hook for an unresponsive backend).
 */
export class Deadlines implements RouterFeature {
  readonly #deadlines: RequestDeadlines;

  constructor(private readonly core: RouterCore) {
    this.#deadlines = new RequestDeadlines(core.link);
  }

  sent(backendId: number, pending: Pending, backend: BackendPort): void {
    this.#deadlines.arm(backendId, (timeoutMs) => this.#timedOut(backend, backendId, pending, timeoutMs));
  }

  answered(backendId: number): void {
    this.#deadlines.answered(backendId);
  }

  dropped(backendId: number): void {
    this.#deadlines.drop(backendId);
  }

  detach(): void {
    this.#deadlines.clear();
  }

  #timedOut(backend: BackendPort, id: number, pending: Pending, timeoutMs: number): void {
    const { core } = this;
    if (core.backend !== backend || core.pendingAt(id) !== pending) return;
    core.drop(id);
    const error = new RequestTimeoutError(core.link.server, pending.method, timeoutMs);
    const rpc = toJsonRpcError(error);
    backend.write(cancelled(id, { reason: error.message }));
    pending.onResponse?.({ jsonrpc: '2.0', id, error: rpc }); // undoes what the request set up (a subscription count)
    pending.session.fail(pending.clientId, rpc);
    core.settled(pending.session, pending.clientId);
    core.link.requestTimedOut({
      sessionId: pending.session.id,
      method: pending.method,
      timeoutMs,
      inARow: this.#deadlines.inARow,
    });
  }
}
