import { deferred, hasListeners, safeEmit, untilAborted } from '@spawnguard/internal';
import mitt, { type Emitter } from 'mitt';
import { type Attempt, abortError, linkSignals, newAttempt, type Waiter } from './attempt.js';
import { ConnectTimeoutError, MemoClosedError } from './errors.js';
import { type CloseReason, type ConnectionMemoEvents, PACKAGE, warn } from './events.js';
import {
  type ConnectionBreaker,
  type ConnectionMemo,
  type ConnectionMemoOptions,
  checkMemoOptions,
  type MemoState,
  readSignal,
  type SignalOptions,
} from './options.js';

/**
 * Share one connection between every caller: N concurrent get() calls make one connect(), a failed
 * connect is forgotten, and the old connection is always closed before a new one is made.
 */
export function memoizeConnection<C>(options: ConnectionMemoOptions<C>): ConnectionMemo<C> {
  return new Memo(options);
}

class Memo<C> implements ConnectionMemo<C> {
  readonly events: Emitter<ConnectionMemoEvents<C>>;

  /** The hot path: a settled promise of the current connection, set only in state `connected`. */
  #value: Promise<C> | undefined;
  #current: { readonly connection: C; readonly generation: number } | undefined;
  #state: MemoState = 'idle';
  #generation = 0;
  /** The in-flight connect(); set exactly when the state is `connecting`. */
  #attempt: Attempt | undefined;
  /** One promise shared by every waiting get() without a signal (they cannot leave early). */
  #shared: ReturnType<typeof deferred<C>> | undefined;
  #waiters = new Set<Waiter<C>>();
  /** The running reset/invalidate teardown; set exactly when the state is `resetting`. */
  #teardown: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  readonly #connect: ConnectionMemoOptions<C>['connect'];
  readonly #close: ConnectionMemoOptions<C>['close'];
  readonly #breaker: ConnectionBreaker | undefined;
  readonly #timeoutMs: number | undefined;

  constructor(options: ConnectionMemoOptions<C>) {
    const o = checkMemoOptions(options);
    this.#connect = o.connect;
    this.#close = o.close;
    this.#breaker = o.breaker;
    this.#timeoutMs = o.connectTimeoutMs;
    this.events = o.events ?? mitt<ConnectionMemoEvents<C>>();
  }

  get state(): MemoState {
    return this.#state;
  }

  get current(): C | undefined {
    return this.#current?.connection;
  }

  get(options?: SignalOptions): Promise<C> {
    // Hot path: one field check, no allocation, no event.
    const value = this.#value;
    if (value !== undefined && options === undefined) return value;
    return this.#getSlow(options);
  }

  #getSlow(options: SignalOptions | undefined): Promise<C> {
    const signal = readSignal('get()', options);
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#value !== undefined) return this.#value;
    if (this.#state === 'closed') return Promise.reject(new MemoClosedError());
    let promise: Promise<C>;
    if (signal === undefined) {
      this.#shared ??= deferred<C>();
      promise = this.#shared.promise;
    } else {
      const { promise: own, resolve, reject } = deferred<C>();
      const waiter: Waiter<C> = { promise: own, resolve, reject, signal, onAbort: () => this.#leave(waiter) };
      signal.addEventListener('abort', waiter.onAbort, { once: true });
      this.#waiters.add(waiter);
      promise = own;
    }
    this.#pump();
    return promise;
  }

  reset(options?: SignalOptions): Promise<void> {
    const signal = readSignal('reset()', options);
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#teardown !== undefined) return untilAborted(this.#teardown, signal); // one close for concurrent resets
    if (this.#state === 'connected') {
      const current = this.#current!;
      this.#dropCurrent();
      return untilAborted(
        this.#beginTeardown(this.#closeConnection(current.connection, current.generation, 'reset')),
        signal,
      );
    }
    const attempt = this.#attempt;
    if (attempt !== undefined) {
      // The connection being made belongs to the old generation: abort it, close it if it still
      // arrives, and only then let the waiters' new connect() start.
      this.#attempt = undefined;
      this.#generation++;
      attempt.dropReason = 'reset';
      const done = this.#beginTeardown(attempt.released);
      attempt.controller.abort(abortError('the connection memo was reset while connecting'));
      return untilAborted(done, signal);
    }
    return Promise.resolve(); // idle or closed: nothing to close
  }

  invalidate(connection: C): Promise<boolean> {
    const current = this.#current;
    if (this.#state !== 'connected' || current === undefined || current.connection !== connection) {
      return Promise.resolve(false); // an older generation (or nothing): the current connection stays
    }
    this.#dropCurrent();
    const done = this.#beginTeardown(this.#closeConnection(connection, current.generation, 'invalidate'));
    safeEmit(PACKAGE, this.events, 'invalidated', { connection, generation: current.generation });
    return done.then(() => true);
  }

  close(options?: SignalOptions): Promise<void> {
    const signal = readSignal('close()', options);
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#closing === undefined) {
      const error = new MemoClosedError();
      const tasks: Promise<void>[] = [];
      if (this.#teardown !== undefined) tasks.push(this.#teardown);
      const current = this.#current;
      if (current !== undefined) {
        this.#dropCurrent();
        tasks.push(this.#closeConnection(current.connection, current.generation, 'close'));
      }
      const attempt = this.#attempt;
      if (attempt !== undefined) {
        this.#attempt = undefined;
        this.#generation++;
        attempt.dropReason = 'close';
        tasks.push(attempt.released);
      }
      this.#state = 'closed';
      this.#closing = Promise.all(tasks).then(() => undefined);
      this.#settleWaiters(false, error);
      attempt?.controller.abort(error);
    }
    return untilAborted(this.#closing, signal);
  }

  /** Start a connect() if someone is waiting and nothing else is going on. */
  #pump(): void {
    if (this.#state === 'idle' && (this.#shared !== undefined || this.#waiters.size > 0)) this.#startAttempt();
  }

  #startAttempt(): void {
    const generation = this.#generation;
    const timeoutMs = this.#timeoutMs;
    const attempt: Attempt = newAttempt(generation, timeoutMs, () => this.#onTimeout(attempt, timeoutMs!));
    this.#attempt = attempt;
    this.#state = 'connecting';
    safeEmit(PACKAGE, this.events, 'connecting', { generation });
    this.#invoke(attempt.controller.signal).then(
      (connection) => this.#onConnected(attempt, connection),
      (error: unknown) => this.#onFailed(attempt, error),
    );
  }

  async #invoke(signal: AbortSignal): Promise<C> {
    signal.throwIfAborted(); // a 'connecting' listener may already have reset or closed the memo
    const breaker = this.#breaker;
    if (breaker === undefined) return await this.#connect({ signal });
    return await breaker.execute((context) => this.#connect({ signal: linkSignals(signal, context?.signal) }), {
      signal,
    });
  }

  #onConnected(attempt: Attempt, connection: C): void {
    clearTimeout(attempt.timer);
    if (attempt !== this.#attempt) {
      // Timed out, reset or closed while connecting: nobody may receive it, and it must not leak.
      this.#closeConnection(connection, attempt.generation, attempt.dropReason ?? 'reset').then(attempt.release);
      return;
    }
    this.#attempt = undefined;
    if (this.#shared === undefined && this.#waiters.size === 0) {
      // Every waiter aborted and connect() ignored its signal. Close it before anything new starts.
      this.#beginTeardown(this.#closeConnection(connection, attempt.generation, 'abandoned').then(attempt.release));
      return;
    }
    this.#current = { connection, generation: attempt.generation };
    this.#value = Promise.resolve(connection);
    this.#state = 'connected';
    attempt.release();
    this.#settleWaiters(true, connection);
    safeEmit(PACKAGE, this.events, 'connected', {
      connection,
      generation: attempt.generation,
      durationMs: performance.now() - attempt.startedAt,
    });
  }

  #onFailed(attempt: Attempt, error: unknown): void {
    clearTimeout(attempt.timer);
    attempt.release();
    if (attempt !== this.#attempt) return; // its waiters were already answered by whoever dropped it
    this.#attempt = undefined;
    this.#state = 'idle';
    // Callers who joined after everyone else aborted never asked for that abort: connect again for them.
    if (!attempt.abandoned) this.#settleWaiters(false, error);
    safeEmit(PACKAGE, this.events, 'connectFailed', {
      error,
      generation: attempt.generation,
      durationMs: performance.now() - attempt.startedAt,
    });
    this.#pump();
  }

  #onTimeout(attempt: Attempt, timeoutMs: number): void {
    attempt.timer = undefined;
    const error = new ConnectTimeoutError(timeoutMs);
    attempt.release(); // a reset or close waiting for this attempt stops waiting now
    if (attempt === this.#attempt) {
      this.#attempt = undefined;
      attempt.dropReason = 'timeout';
      this.#state = 'idle';
      this.#settleWaiters(false, error);
    }
    attempt.controller.abort(error);
    if (attempt.dropReason === 'timeout') {
      safeEmit(PACKAGE, this.events, 'connectFailed', {
        error,
        generation: attempt.generation,
        durationMs: performance.now() - attempt.startedAt,
      });
    }
  }

  /** A waiter's signal aborted: it rejects at once; the last one to leave aborts the connect. */
  #leave(waiter: Waiter<C>): void {
    if (!this.#waiters.delete(waiter)) return;
    waiter.reject(waiter.signal.reason);
    const attempt = this.#attempt;
    if (attempt !== undefined && !attempt.abandoned && this.#waiters.size === 0 && this.#shared === undefined) {
      attempt.abandoned = true;
      attempt.controller.abort(abortError('every get() waiting for this connect() was aborted'));
    }
  }

  #settleWaiters(ok: true, value: C): void;
  #settleWaiters(ok: false, error: unknown): void;
  #settleWaiters(ok: boolean, result: unknown): void {
    const shared = this.#shared;
    this.#shared = undefined;
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    if (ok) shared?.resolve(result as C);
    else shared?.reject(result);
    for (const waiter of waiters) {
      waiter.signal.removeEventListener('abort', waiter.onAbort);
      if (ok) waiter.resolve(result as C);
      else waiter.reject(result);
    }
  }

  /** Someone listens for `closed` (an emitter of the user's own, without mitt's map: assume so). */
  #hearsClosed(): boolean {
    return !(this.events.all instanceof Map) || hasListeners(this.events, 'closed');
  }

  /** The hot path stops returning the connection at once; it is closed by the caller. */
  #dropCurrent(): void {
    this.#value = undefined;
    this.#current = undefined;
    this.#generation++;
  }

  /** Wait for `work` (closing the old generation) in state `resetting`, then connect for any waiters. */
  #beginTeardown(work: Promise<void>): Promise<void> {
    this.#state = 'resetting';
    const done: Promise<void> = work.then(() => {
      if (this.#teardown === done) this.#teardown = undefined;
      if (this.#state === 'resetting') {
        this.#state = 'idle';
        this.#pump();
      }
    });
    this.#teardown = done;
    return done;
  }

  /**
   * The only place close(conn) is called; every path hands each connection here exactly once.
   * It runs a microtask later, so the memo's state is complete before user code sees it. Never rejects.
   */
  #closeConnection(connection: C, generation: number, reason: CloseReason): Promise<void> {
    return Promise.resolve()
      .then(() => {
        safeEmit(PACKAGE, this.events, 'closing', { connection, generation, reason });
        return this.#close(connection);
      })
      .then(
        () => safeEmit(PACKAGE, this.events, 'closed', { connection, generation, reason }),
        (error: unknown) => {
          if (!this.#hearsClosed()) warn(`close(connection) failed (reason: ${reason})`, error);
          safeEmit(PACKAGE, this.events, 'closed', { connection, generation, reason, error });
        },
      );
  }
}
