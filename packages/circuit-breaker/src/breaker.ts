import mitt, { type Emitter } from 'mitt';
import { type BrokenCircuitError, brokenCircuit, CircuitStoreError, isStoreProblem } from './errors.js';
import { type CircuitBreakerEvents, type CircuitState, safeEmit } from './events.js';
import { memoryStore } from './memory-store.js';
import { type CircuitBreakerOptions, type ResolvedOptions, resolveOptions } from './options.js';
import {
  type CircuitSnapshot,
  type CircuitStore,
  closedSnapshot,
  isSnapshot,
  type ProbeClaim,
  type ProbeLease,
} from './snapshot.js';
import { describe } from './validate.js';

export interface ExecuteOptions {
  /** Aborting rejects the call with `signal.reason` at once; the call then counts as nothing. */
  signal?: AbortSignal | undefined;
}

/** What `fn` receives: the caller's signal, to pass on to the work it starts. */
export interface ExecuteContext {
  signal: AbortSignal | undefined;
}

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

const Outcome = {
  Succeeded: 0,
  Failed: 1,
  /** Aborted by the caller, or an error isFailure() rejects: neither success nor failure. */
  Nothing: 2,
} as const;
type Outcome = (typeof Outcome)[keyof typeof Outcome];

interface Handlers {
  generation: number;
  succeeded: (value: unknown) => unknown;
  failed: (error: unknown) => never;
}

const NO_SIGNAL: ExecuteContext = Object.freeze({ signal: undefined });
let instances = 0;

/**
 * Counts consecutive failures of `fn`; at `failureThreshold` the circuit opens and calls are
 * refused with BrokenCircuitError until `cooldownMs` has passed; then up to
 * `halfOpenMaxConcurrent` probe calls run, and the first verdict closes it (success) or opens it
 * again with a grown cooldown (failure). No timers: the state is computed from the clock and the
 * store whenever it is needed.
 */
export class CircuitBreaker {
  /** Typed mitt emitter; see CircuitBreakerEvents. */
  readonly events: Emitter<CircuitBreakerEvents> = mitt<CircuitBreakerEvents>();
  readonly name: string | undefined;

  readonly #o: ResolvedOptions;
  readonly #store: CircuitStore;
  /** Identifies this breaker in probe leases (unique across processes sharing a file). */
  readonly #owner: string;
  /** The last state read from or written to the store; the truth while the store is unusable. */
  #memory: CircuitSnapshot;
  /** Set when a save failed: stop trusting loads until a save succeeds again. */
  #memoryMode = false;
  /** The store problem last reported, so a missing file is reported once, not on every call. */
  #problem: string | undefined;
  /** The state last reported through events (and returned by `state`). */
  #lastState: CircuitState = 'closed';
  #isolations = 0;
  /** Bumped by reset(), so handles from before it cannot end a later isolation. */
  #isolationEpoch = 0;
  #probeGeneration = -1;
  #probeCount = 0;
  /** Events waiting to be emitted once the current operation has updated the state: [type, payload, ...]. */
  #pending: unknown[] | undefined;
  #handlers: Handlers | undefined;

  constructor(options?: CircuitBreakerOptions) {
    this.#o = resolveOptions(options);
    this.name = this.#o.name;
    this.#store = this.#o.store ?? memoryStore();
    this.#owner = `${process.pid}.${++instances}.${Math.random().toString(36).slice(2, 10)}`;
    this.#memory = Object.freeze(closedSnapshot(0, this.#o.cooldownMs));
  }

  /** 'closed' | 'open' | 'halfOpen', read fresh from the store and the clock. */
  get state(): CircuitState {
    this.#refresh();
    this.#flush();
    return this.#lastState;
  }

  /**
   * Runs `fn` if the circuit admits the call; otherwise rejects with BrokenCircuitError without
   * running it. `fn` is called synchronously, before execute returns.
   */
  execute<T>(fn: (context: ExecuteContext) => T | PromiseLike<T>, options?: ExecuteOptions): Promise<T> {
    if (typeof fn !== 'function') {
      return Promise.reject(new TypeError(`execute(fn): fn must be a function, got ${describe(fn)}`));
    }
    let signal: AbortSignal | undefined;
    if (options !== undefined) {
      if (typeof options !== 'object' || options === null) {
        return Promise.reject(new TypeError(`execute options must be an object, got ${describe(options)}`));
      }
      signal = options.signal;
      if (signal !== undefined && !(signal instanceof AbortSignal)) {
        return Promise.reject(new TypeError(`execute options.signal must be an AbortSignal, got ${describe(signal)}`));
      }
      // Counts as nothing: the caller gave up before asking.
      if (signal?.aborted) return Promise.reject(signal.reason);
    }
    const snapshot = this.#refresh();
    let probe = false;
    if (this.#lastState !== 'closed') {
      const refusal = this.#lastState === 'open' ? this.#openRefusal(snapshot) : this.#admitProbe(snapshot);
      if (refusal !== undefined) {
        if (this.#wants('rejected')) this.#queue('rejected', { circuit: this.name, error: refusal });
        this.#flush();
        return rejectSoon(refusal);
      }
      probe = true;
    }
    this.#flush();
    return signal === undefined
      ? this.#run(fn, snapshot.generation, probe)
      : this.#runWithSignal(fn, signal, snapshot.generation, probe);
  }

  /** Back to closed with no failures and the base cooldown, here and in the store; ends every isolation. */
  reset(): void {
    const snapshot = this.#load();
    this.#isolations = 0;
    this.#isolationEpoch++;
    this.#commit(closedSnapshot(snapshot.generation + 1, this.#o.cooldownMs));
    this.#observe();
    this.#flush();
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
    this.#flush();
    let active = true;
    return {
      dispose: () => {
        if (!active) return;
        active = false;
        if (epoch !== this.#isolationEpoch) return;
        this.#isolations--;
        this.#refresh();
        this.#flush();
      },
    };
  }

  toJSON(): CircuitBreakerJSON {
    const snapshot = this.#refresh();
    this.#flush();
    const state = this.#lastState;
    let retryAfterMs: number | null = 0;
    if (this.#isolations > 0) retryAfterMs = null;
    else if (state === 'open') retryAfterMs = this.#remainingCooldown(snapshot, this.#now());
    else if (state === 'halfOpen') retryAfterMs = this.#probeWait(snapshot, this.#now());
    return {
      name: this.name,
      state,
      failures: snapshot.failures,
      openedAt: snapshot.openedAt,
      cooldownMs: snapshot.cooldownMs,
      retryAfterMs,
      halfOpenInFlight: this.#probesInFlight(snapshot.generation),
      isolated: this.#isolations > 0,
      generation: snapshot.generation,
    };
  }

  #run<T>(fn: (context: ExecuteContext) => T | PromiseLike<T>, generation: number, probe: boolean): Promise<T> {
    const handlers = this.#handlersFor(generation, probe);
    let pending: T | PromiseLike<T>;
    try {
      pending = fn(NO_SIGNAL);
    } catch (error) {
      pending = Promise.reject(error);
    }
    return Promise.resolve(pending).then(handlers.succeeded, handlers.failed) as Promise<T>;
  }

  /**
   * The settle callbacks for a generation. They depend only on (generation, probe), so the closed
   * state reuses one pair for every call instead of allocating two closures per call.
   */
  #handlersFor(generation: number, probe: boolean): Handlers {
    const cached = this.#handlers;
    if (!probe && cached !== undefined && cached.generation === generation) return cached;
    const handlers: Handlers = {
      generation,
      succeeded: (value) => {
        this.#settle(generation, probe, Outcome.Succeeded, undefined);
        return value;
      },
      failed: (error) => {
        this.#settle(generation, probe, Outcome.Failed, error);
        throw error;
      },
    };
    if (!probe) this.#handlers = handlers;
    return handlers;
  }

  #runWithSignal<T>(
    fn: (context: ExecuteContext) => T | PromiseLike<T>,
    signal: AbortSignal,
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
          this.#settle(generation, probe, Outcome.Nothing, undefined);
          return;
        }
        answered = true;
        this.#settle(generation, probe, outcome, result);
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

  /** Applies a finished call to the freshly loaded state. */
  #settle(generation: number, probe: boolean, outcome: Outcome, error: unknown): void {
    const snapshot = this.#refresh();
    if (probe && this.#probeGeneration === generation && this.#probeCount > 0) this.#probeCount--;
    if (outcome === Outcome.Failed && !this.#isFailure(error)) outcome = Outcome.Nothing;
    // A result from before the last state change (reset, open, close, here or in another process)
    // says nothing about the new state.
    const counted = snapshot.generation === generation && snapshot.state === (probe ? 'open' : 'closed');
    if (outcome === Outcome.Nothing) {
      if (counted && probe && this.#probesInFlight(generation) === 0) this.#releaseLease(snapshot);
    } else if (outcome === Outcome.Succeeded) {
      if (counted) {
        if (probe) this.#commit(closedSnapshot(generation + 1, this.#o.cooldownMs));
        else if (snapshot.failures !== 0) this.#commit({ ...snapshot, failures: 0 });
      }
      if (this.#wants('success')) this.#queue('success', { circuit: this.name, probe, counted });
    } else {
      let failures = snapshot.failures;
      if (counted) {
        failures++;
        if (probe) {
          const grown = Math.min(snapshot.cooldownMs * this.#o.cooldownGrowth, this.#o.maxCooldownMs);
          this.#commit(this.#opened(snapshot, failures, Math.max(grown, snapshot.cooldownMs)));
        } else if (failures >= this.#o.failureThreshold) {
          this.#commit(this.#opened(snapshot, failures, this.#o.cooldownMs));
        } else {
          this.#commit({ ...snapshot, failures });
        }
      }
      if (this.#wants('failure')) this.#queue('failure', { circuit: this.name, error, probe, counted, failures });
    }
    this.#observe();
    this.#flush();
  }

  #opened(from: CircuitSnapshot, failures: number, cooldownMs: number): CircuitSnapshot {
    return { state: 'open', failures, openedAt: this.#now(), cooldownMs, generation: from.generation + 1, probe: null };
  }

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
      retryAfterMs: isolated ? Number.POSITIVE_INFINITY : this.#remainingCooldown(snapshot, this.#now()),
      circuit: this.name,
      isolated,
    });
  }

  /** Takes a probe slot (and the store's probe lease), or says why not. */
  #admitProbe(snapshot: CircuitSnapshot): BrokenCircuitError | undefined {
    const full = this.#probesInFlight(snapshot.generation) >= this.#o.halfOpenMaxConcurrent;
    const lease = full ? snapshot.probe : this.#claimLease(snapshot);
    if (full || lease?.owner !== this.#owner) {
      const retryAfterMs = leaseLeft(lease, snapshot.cooldownMs, this.#now());
      return brokenCircuit({ state: 'halfOpen', retryAfterMs, circuit: this.name });
    }
    if (this.#probeGeneration !== snapshot.generation) {
      this.#probeGeneration = snapshot.generation;
      this.#probeCount = 0;
    }
    this.#probeCount++;
    this.#commit({ ...snapshot, probe: lease });
    return undefined;
  }

  /**
   * The probe lease in force after asking for it: the store's own exclusive claim when it has one
   * (and is usable), else the snapshot's lease field, taken unless another breaker's is running.
   */
  #claimLease(snapshot: CircuitSnapshot): ProbeLease | null {
    if (this.#store.claimProbe !== undefined && !this.#memoryMode) {
      try {
        return this.#store.claimProbe(this.#probeClaim(snapshot));
      } catch (error) {
        this.#memoryMode = true; // decide from memory until a save succeeds again
        this.#report(`error:save:${errorCode(error)}`, 'storeError', { circuit: this.name, operation: 'save', error });
      }
    }
    const now = this.#now();
    const held = snapshot.probe;
    const heldElsewhere = held !== null && held.owner !== this.#owner && leaseLeft(held, snapshot.cooldownMs, now) > 0;
    return heldElsewhere ? held : { owner: this.#owner, until: now + snapshot.cooldownMs };
  }

  /** A probe ended without a verdict: hand the lease back so the next call (anywhere) may probe. */
  #releaseLease(snapshot: CircuitSnapshot): void {
    if (this.#store.releaseProbe !== undefined && !this.#memoryMode) {
      try {
        this.#store.releaseProbe(this.#probeClaim(snapshot));
      } catch (error) {
        this.#report(`error:save:${errorCode(error)}`, 'storeError', { circuit: this.name, operation: 'save', error });
      }
    }
    if (snapshot.probe?.owner === this.#owner) this.#commit({ ...snapshot, probe: null });
  }

  #probeClaim(snapshot: CircuitSnapshot): ProbeClaim {
    const { generation, openedAt, cooldownMs } = snapshot;
    return { owner: this.#owner, generation, openedAt, cooldownMs, now: () => this.#now() };
  }

  #probesInFlight(generation: number): number {
    return this.#probeGeneration === generation ? this.#probeCount : 0;
  }

  /** How long a half-open caller should wait: until our probe slots free up or another's lease ends. */
  #probeWait(snapshot: CircuitSnapshot, now: number): number {
    const left = leaseLeft(snapshot.probe, snapshot.cooldownMs, now);
    if (left > 0 && snapshot.probe?.owner !== this.#owner) return left;
    return this.#probesInFlight(snapshot.generation) >= this.#o.halfOpenMaxConcurrent ? left : 0;
  }

  #remainingCooldown(snapshot: CircuitSnapshot, now: number): number {
    return snapshot.openedAt === null ? 0 : Math.max(0, snapshot.openedAt + snapshot.cooldownMs - now);
  }

  #now(): number {
    const now = this.#o.now();
    if (typeof now !== 'number' || !Number.isFinite(now)) {
      throw new TypeError(`now() must return a finite number of ms, got ${describe(now)}`);
    }
    return now;
  }

  #refresh(): CircuitSnapshot {
    const snapshot = this.#load();
    this.#observe();
    return snapshot;
  }

  /** Reads the store (unless it failed us) and adopts what it holds. Never throws for the store. */
  #load(): CircuitSnapshot {
    if (this.#memoryMode) return this.#memory;
    let loaded: unknown;
    try {
      loaded = this.#store.load();
    } catch (error) {
      if (isStoreProblem(error)) {
        this.#report(`reset:${error.reason}`, 'storeReset', { circuit: this.name, reason: error.reason, error });
        return this.#adoptClosed();
      }
      this.#report(`error:load:${errorCode(error)}`, 'storeError', { circuit: this.name, operation: 'load', error });
      return this.#memory;
    }
    if (loaded === this.#memory) return this.#memory;
    if (loaded === undefined) return this.#adoptClosed();
    if (!isSnapshot(loaded)) {
      const error = new CircuitStoreError('corrupt', `store.load() returned an invalid snapshot: ${describe(loaded)}`);
      this.#report('reset:corrupt', 'storeReset', { circuit: this.name, reason: 'corrupt', error });
      return this.#adoptClosed();
    }
    this.#problem = undefined;
    this.#memory = loaded;
    return loaded;
  }

  /** No usable state in the store: the circuit is closed (a new generation if that changes anything). */
  #adoptClosed(): CircuitSnapshot {
    const m = this.#memory;
    if (m.state === 'closed' && m.failures === 0 && m.probe === null) return m;
    this.#memory = Object.freeze(closedSnapshot(m.generation + 1, this.#o.cooldownMs));
    return this.#memory;
  }

  #commit(next: CircuitSnapshot): void {
    const frozen = Object.freeze(next);
    this.#memory = frozen;
    try {
      this.#store.save(frozen);
      this.#memoryMode = false;
      this.#problem = undefined;
    } catch (error) {
      this.#memoryMode = true;
      this.#report(`error:save:${errorCode(error)}`, 'storeError', { circuit: this.name, operation: 'save', error });
    }
  }

  #report<K extends 'storeError' | 'storeReset'>(key: string, type: K, payload: CircuitBreakerEvents[K]): void {
    if (key === this.#problem) return;
    this.#problem = key;
    this.#queue(type, payload);
  }

  /** Compares the visible state with the last reported one and queues the transition events. */
  #observe(): void {
    const m = this.#memory;
    let to: CircuitState;
    let now = Number.NaN;
    if (this.#isolations > 0) to = 'open';
    else if (m.state === 'closed') to = 'closed';
    else {
      now = this.#now();
      // A clock that went back before openedAt admits a probe: open never outlasts its cooldown.
      to = m.openedAt === null || now >= m.openedAt + m.cooldownMs || now < m.openedAt ? 'halfOpen' : 'open';
    }
    const from = this.#lastState;
    if (to === from) return;
    this.#lastState = to;
    const circuit = this.name;
    if (this.#wants('stateChange')) this.#queue('stateChange', { circuit, from, to });
    if (to === 'open') {
      if (!this.#wants('open')) return;
      const isolated = this.#isolations > 0;
      const retryAfterMs = isolated ? Number.POSITIVE_INFINITY : this.#remainingCooldown(m, now);
      this.#queue('open', { circuit, retryAfterMs, cooldownMs: m.cooldownMs, isolated });
    } else if (this.#wants(to === 'closed' ? 'close' : 'halfOpen')) {
      this.#queue(to === 'closed' ? 'close' : 'halfOpen', { circuit });
    }
  }

  #wants(type: keyof CircuitBreakerEvents): boolean {
    const all = this.events.all;
    return (all.get(type)?.length ?? 0) > 0 || (all.get('*')?.length ?? 0) > 0;
  }

  #queue<K extends keyof CircuitBreakerEvents>(type: K, payload: CircuitBreakerEvents[K]): void {
    if (this.#pending === undefined) this.#pending = [type, payload];
    else this.#pending.push(type, payload);
  }

  /** Emits what the operation queued; listeners may call back into the breaker safely. */
  #flush(): void {
    const pending = this.#pending;
    if (pending === undefined) return;
    this.#pending = undefined;
    for (let i = 0; i < pending.length; i += 2) {
      const type = pending[i] as keyof CircuitBreakerEvents;
      safeEmit(this.events, type, pending[i + 1] as never, (error) => this.#listenerFailed(type, error));
    }
  }

  #listenerFailed(event: keyof CircuitBreakerEvents, error: unknown): void {
    if (event === 'listenerError') return; // never recurse
    safeEmit(this.events, 'listenerError', { circuit: this.name, event, error }, () => {});
  }
}

/** Same as `new CircuitBreaker(options)`. */
export function circuitBreaker(options?: CircuitBreakerOptions): CircuitBreaker {
  return new CircuitBreaker(options);
}

/**
 * A promise that rejects one microtask later. By then the caller has attached its handler
 * (await / .catch), so V8 does not take the costly "rejected without a handler" path (~0.6 us,
 * most of the price of a refusal). A caller that never handles it still sees unhandledRejection.
 */
function rejectSoon(error: unknown): Promise<never> {
  return new Promise((_, reject) => queueMicrotask(() => reject(error)));
}

/**
 * Time left on a probe lease. A lease is never longer than the cooldown it was taken with, so one
 * further in the future (clock stepped back, hand-edited file) is treated as expired.
 */
function leaseLeft(lease: ProbeLease | null, cooldownMs: number, now: number): number {
  if (lease === null) return 0;
  const left = lease.until - now;
  return left > 0 && left <= cooldownMs ? left : 0;
}

function errorCode(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const { code, name } = error as { code?: unknown; name?: unknown };
    if (typeof code === 'string') return code;
    if (typeof name === 'string') return name;
  }
  return typeof error;
}
