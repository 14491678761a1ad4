import { show } from '@spawnguard/internal';
import mitt, { type Emitter } from 'mitt';
import { type BrokenCircuitError, brokenCircuit } from './errors.js';
import { EventQueue } from './event-queue.js';
import type { CircuitBreakerEvents, CircuitState } from './events.js';
import {
  type CallFn,
  type ExecuteOptions,
  type Handlers,
  handlers,
  rejectSoon,
  run,
  runWithSignal,
  type Settle,
} from './execution.js';
import { memoryStore } from './memory-store.js';
import { type CircuitBreakerOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { Probes } from './probes.js';
import type { CircuitSnapshot } from './snapshot.js';
import { StoreLink } from './store-link.js';
import { isCounted, Outcome, remainingCooldown, reset, settle, visibleState } from './transitions.js';

export type { ExecuteContext, ExecuteOptions } from './execution.js';

/** Returned by isolate(): the circuit stays open until every handle is disposed (or reset()). */
export interface IsolationHandle {
  dispose(): void;
}

/** toJSON(): a plain snapshot for logs and /metrics. */
export interface CircuitBreakerJSON {
  name: string | undefined;
  state: CircuitState;
  failures: number;
  openedAt: number | null;
  cooldownMs: number;
  /** 0 when a call would be admitted now; null while isolated (no known end). */
  retryAfterMs: number | null;
  /** Probes this breaker has running in the current half-open period. */
  halfOpenInFlight: number;
  isolated: boolean;
  generation: number;
}

let instances = 0;

/**
 * Counts consecutive failures of `fn`; at `failureThreshold` the circuit opens and calls are
 * refused with BrokenCircuitError until `cooldownMs` has passed; then up to
 * `halfOpenMaxConcurrent` probe calls run, and the first verdict closes it (success) or opens it
 * again with a grown cooldown (failure). No timers: the state is computed from the clock and the
 * store whenever it is needed. The rules are pure functions (transitions.ts); this class reads
 * the store and the clock, applies them, saves the result (store-link.ts) and reports what
 * changed (event-queue.ts).
 */
export class CircuitBreaker {
  /** Typed mitt emitter; see CircuitBreakerEvents. */
  readonly events: Emitter<CircuitBreakerEvents> = mitt<CircuitBreakerEvents>();
  readonly name: string | undefined;

  readonly #o: ResolvedOptions;
  readonly #link: StoreLink;
  readonly #queue: EventQueue;
  /** The state last reported through events (and returned by `state`). */
  #lastState: CircuitState = 'closed';
  #isolations = 0;
  /** Bumped by reset(), so handles from before it cannot end a later isolation. */
  #isolationEpoch = 0;
  readonly #probes: Probes;
  #handlers: Handlers | undefined;
  readonly #clock = () => this.#now();

  constructor(options?: CircuitBreakerOptions) {
    this.#o = resolveOptions(options);
    this.name = this.#o.name;
    this.#queue = new EventQueue(this.events, this.name);
    this.#link = new StoreLink(this.#o.store ?? memoryStore(), this.#o, this.name, (type, payload) =>
      this.#queue.queue(type, payload),
    );
    const owner = `${process.pid}.${++instances}.${Math.random().toString(36).slice(2, 10)}`;
    this.#probes = new Probes(owner, this.#o.halfOpenMaxConcurrent, this.#link, this.#clock);
  }

  /** 'closed' | 'open' | 'halfOpen', read fresh from the store and the clock. */
  get state(): CircuitState {
    this.#refresh();
    this.#queue.flush();
    return this.#lastState;
  }

  /**
   * Runs `fn` if the circuit admits the call; otherwise rejects with BrokenCircuitError without
   * running it. `fn` is called synchronously, before execute returns.
   */
  execute<T>(fn: CallFn<T>, options?: ExecuteOptions): Promise<T> {
    if (typeof fn !== 'function') {
      return Promise.reject(new TypeError(`execute(fn): fn must be a function, got ${show(fn)}`));
    }
    let signal: AbortSignal | undefined;
    if (options !== undefined) {
      if (typeof options !== 'object' || options === null) {
        return Promise.reject(new TypeError(`execute options must be an object, got ${show(options)}`));
      }
      signal = options.signal;
      if (signal !== undefined && !(signal instanceof AbortSignal)) {
        return Promise.reject(new TypeError(`execute options.signal must be an AbortSignal, got ${show(signal)}`));
      }
      // Counts as nothing: the caller gave up before asking.
      if (signal?.aborted) return Promise.reject(signal.reason);
    }
    const snapshot = this.#refresh();
    let probe = false;
    if (this.#lastState !== 'closed') {
      const refusal = this.#lastState === 'open' ? this.#openRefusal(snapshot) : this.#admitProbe(snapshot);
      if (refusal !== undefined) {
        if (this.#queue.wants('rejected')) this.#queue.queue('rejected', { circuit: this.name, error: refusal });
        this.#queue.flush();
        return rejectSoon(refusal);
      }
      probe = true;
    }
    this.#queue.flush();
    return signal === undefined
      ? run(fn, this.#handlersFor(snapshot.generation, probe))
      : runWithSignal(fn, signal, this.#settle, snapshot.generation, probe);
  }

  /**
   * Records a failure that happened outside execute(): a dependency whose call succeeded and that
   * failed later (a server that started fine, then crashed). While closed it counts like a failed
   * call (and opens the circuit at `failureThreshold`); while open or half-open it changes nothing
   * (`counted: false`): the circuit already refuses calls and the next probe decides. Not filtered
   * by `isFailure`: the caller says it is a failure.
   */
  recordFailure(error?: unknown): void {
    const snapshot = this.#refresh();
    const next = settle(snapshot, snapshot.generation, false, Outcome.Failed, this.#clock, this.#o);
    if (next !== snapshot) this.#link.commit(next);
    if (this.#queue.wants('failure')) {
      const counted = isCounted(snapshot, snapshot.generation, false);
      const failures = counted ? snapshot.failures + 1 : snapshot.failures;
      this.#queue.queue('failure', { circuit: this.name, error, probe: false, counted, failures });
    }
    this.#observe();
    this.#queue.flush();
  }

  /** Back to closed with no failures and the base cooldown, here and in the store; ends every isolation. */
  reset(): void {
    const snapshot = this.#link.load();
    this.#isolations = 0;
    this.#isolationEpoch++;
    this.#link.commit(reset(snapshot, this.#o));
    this.#observe();
    this.#queue.flush();
  }

  /**
   * Forces the circuit open in this breaker (not in the store: a crashed process must not leave
   * the circuit open for everyone) until the handle's dispose(), or reset(). Calls already running
   * still report to the underlying circuit, which is visible again once the last handle is disposed.
   */
  isolate(): IsolationHandle {
    this.#refresh();
    this.#isolations++;
    const epoch = this.#isolationEpoch;
    this.#observe();
    this.#queue.flush();
    let active = true;
    return {
      dispose: () => {
        if (!active) return;
        active = false;
        if (epoch !== this.#isolationEpoch) return;
        this.#isolations--;
        this.#refresh();
        this.#queue.flush();
      },
    };
  }

  toJSON(): CircuitBreakerJSON {
    const snapshot = this.#refresh();
    this.#queue.flush();
    const state = this.#lastState;
    let retryAfterMs: number | null = 0;
    if (this.#isolations > 0) retryAfterMs = null;
    else if (state === 'open') retryAfterMs = remainingCooldown(snapshot, this.#now());
    else if (state === 'halfOpen') retryAfterMs = this.#probes.wait(snapshot, this.#now());
    return {
      name: this.name,
      state,
      failures: snapshot.failures,
      openedAt: snapshot.openedAt,
      cooldownMs: snapshot.cooldownMs,
      retryAfterMs,
      halfOpenInFlight: this.#probes.inFlight(snapshot.generation),
      isolated: this.#isolations > 0,
      generation: snapshot.generation,
    };
  }

  /**
   * The settle callbacks for a generation. They depend only on (generation, probe), so the closed
   * state reuses one pair for every call instead of allocating two closures per call.
   */
  #handlersFor(generation: number, probe: boolean): Handlers {
    const cached = this.#handlers;
    if (!probe && cached !== undefined && cached.generation === generation) return cached;
    const made = handlers(this.#settle, generation, probe);
    if (!probe) this.#handlers = made;
    return made;
  }

  /** Applies a finished call to the freshly loaded state (an arrow: handed to the call plumbing as is). */
  readonly #settle: Settle = (generation, probe, outcome, error) => {
    const snapshot = this.#refresh();
    if (probe) this.#probes.ended(generation);
    if (outcome === Outcome.Failed && !this.#isFailure(error)) outcome = Outcome.Nothing;
    if (outcome === Outcome.Nothing) {
      if (probe) this.#probes.noVerdict(snapshot, generation);
    } else {
      const next = settle(snapshot, generation, probe, outcome, this.#clock, this.#o);
      if (next !== snapshot) this.#link.commit(next);
      const counted = isCounted(snapshot, generation, probe);
      if (outcome === Outcome.Succeeded) {
        if (this.#queue.wants('success')) this.#queue.queue('success', { circuit: this.name, probe, counted });
      } else if (this.#queue.wants('failure')) {
        const failures = counted ? snapshot.failures + 1 : snapshot.failures;
        this.#queue.queue('failure', { circuit: this.name, error, probe, counted, failures });
      }
    }
    this.#observe();
    this.#queue.flush();
  };

  #isFailure(error: unknown): boolean {
    try {
      return Boolean(this.#o.isFailure(error));
    } catch {
      // A filter that throws cannot vouch for the error: count it.
      return true;
    }
  }

  #openRefusal(snapshot: CircuitSnapshot): BrokenCircuitError {
    const isolated = this.#isolations > 0;
    return brokenCircuit({
      state: 'open',
      retryAfterMs: isolated ? Number.POSITIVE_INFINITY : remainingCooldown(snapshot, this.#now()),
      circuit: this.name,
      isolated,
    });
  }

  #admitProbe(snapshot: CircuitSnapshot): BrokenCircuitError | undefined {
    const retryAfterMs = this.#probes.admit(snapshot);
    return retryAfterMs === undefined
      ? undefined
      : brokenCircuit({ state: 'halfOpen', retryAfterMs, circuit: this.name });
  }

  #now(): number {
    const now = this.#o.now();
    if (typeof now !== 'number' || !Number.isFinite(now)) {
      throw new TypeError(`now() must return a finite number of ms, got ${show(now)}`);
    }
    return now;
  }

  #refresh(): CircuitSnapshot {
    const snapshot = this.#link.load();
    this.#observe();
    return snapshot;
  }

  /** Compares the visible state with the last reported one and queues the transition events. */
  #observe(): void {
    const m = this.#link.memory;
    const isolated = this.#isolations > 0;
    // Closed or isolated needs no clock (the hot path never reads it).
    let now = Number.NaN;
    let to: CircuitState;
    if (isolated) to = 'open';
    else if (m.state === 'closed') to = 'closed';
    else {
      now = this.#now();
      to = visibleState(m, false, now);
    }
    const from = this.#lastState;
    if (to === from) return;
    this.#lastState = to;
    const q = this.#queue;
    const circuit = this.name;
    if (q.wants('stateChange')) q.queue('stateChange', { circuit, from, to });
    if (to === 'open') {
      if (!q.wants('open')) return;
      const retryAfterMs = isolated ? Number.POSITIVE_INFINITY : remainingCooldown(m, now);
      q.queue('open', { circuit, retryAfterMs, cooldownMs: m.cooldownMs, isolated });
    } else if (q.wants(to === 'closed' ? 'close' : 'halfOpen')) {
      q.queue(to === 'closed' ? 'close' : 'halfOpen', { circuit });
    }
  }
}

/** Same as `new CircuitBreaker(options)`. */
export function circuitBreaker(options?: CircuitBreakerOptions): CircuitBreaker {
  return new CircuitBreaker(options);
}
