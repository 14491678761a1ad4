import type { Clock } from '../clock.js';
import type { ServerFilters } from '../config/server-filters.js';
import type { McpHostEvents } from '../events.js';
import type { Session } from './session.js';

/** What a router needs from the slot that owns its backend's lifecycle. */
export interface RouterLink {
  readonly server: string;
  readonly perSession: boolean;
  readonly serialize: boolean;
  /** Start a backend if none is there or starting; the router gets it through `attach`, or `startFailed`. */
  ensureBackend(): void;
  routingError(event: Omit<McpHostEvents['routingError'], 'server'>): void;
  sessionReady(session: Session): void;
  /** A session's initialize could not be answered with a result (its backend did not start). */
  initFailed(session: Session): void;
  sessionsChanged(count: number): void;
  /** Tools, prompts and resources sessions may not see or use (read at each request). */
  readonly filters: ServerFilters;
  /** 0 = none (read at each request). */
  readonly requestTimeoutMs: number;
  readonly clock: Clock;
  /**
   * A session request got no answer within requestTimeoutMs (its session was answered with a
   * RequestTimeoutError, the backend told to cancel it). `inARow`: timeouts since the backend last
   * answered anything, the count a rule that restarts an unresponsive backend reads.
   */
  requestTimedOut(report: { sessionId: string; method: string; timeoutMs: number; inARow: number }): void;
}
