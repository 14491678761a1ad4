import {
  checkEmitter,
  checkFunction,
  checkKnownKeys,
  checkMs,
  checkObject,
  checkSignal,
  MAX_TIMER_MS,
  show,
} from '@spawnguard/internal';
import type { Emitter } from 'mitt';
import type { ConnectionMemoEvents } from './events.js';

/**
 * Anything with the shape of a circuit breaker, such as `@spawnguard/circuit-breaker`. `fn` may get
 * a signal of the breaker's own in `context`; connect() then hears both it and the memo's.
 */
export interface ConnectionBreaker {
  execute<T>(
    fn: (context: { signal?: AbortSignal | undefined }) => Promise<T>,
    options?: { signal?: AbortSignal | undefined },
  ): Promise<T>;
}

export interface ConnectionMemoOptions<C> {
  /** Make one connection. Abort what you are doing when `signal` aborts. */
  connect: (context: { signal: AbortSignal }) => Promise<C>;
  /** Close a connection. Called at most once per connection; errors are reported by the `closed` event. */
  close: (connection: C) => void | Promise<void>;
  /** Every connect() goes through `breaker.execute`; an open circuit rejects get() without connecting. */
  breaker?: ConnectionBreaker | undefined;
  /** Abort a connect() that takes longer, and reject its waiters with ConnectTimeoutError. */
  connectTimeoutMs?: number | undefined;
  /** Emit into this mitt emitter instead of a new one. */
  events?: Emitter<ConnectionMemoEvents<C>> | undefined;
}

export interface SignalOptions {
  signal?: AbortSignal | undefined;
}

/**
 * - `idle`: no connection and none being made; the next get() connects.
 * - `connecting`: one connect() is in flight; get() calls wait for it.
 * - `connected`: get() returns the cached connection.
 * - `resetting`: an old connection (or a connect that was in flight) is being closed; get() calls
 *   wait and then receive the next, new connection.
 * - `closed`: close() was called; get() rejects with MemoClosedError.
 */
export type MemoState = 'idle' | 'connecting' | 'connected' | 'resetting' | 'closed';

export interface ConnectionMemo<C> {
  /** The connection: cached, joined while one connect() is in flight, or made now. */
  get(options?: SignalOptions): Promise<C>;
  /** Close the current connection (or the one being made) before the next connect() starts. */
  reset(options?: SignalOptions): Promise<void>;
  /** `connection` is dead: if it is still the current one, drop and close it. Resolves true if it was. */
  invalidate(connection: C): Promise<boolean>;
  /** Final: close the connection, reject waiting and later get() calls with MemoClosedError. */
  close(options?: SignalOptions): Promise<void>;
  readonly events: Emitter<ConnectionMemoEvents<C>>;
  readonly state: MemoState;
  /** The cached connection, if the state is `connected`. */
  readonly current: C | undefined;
}

const OPTION_KEYS = ['connect', 'close', 'breaker', 'connectTimeoutMs', 'events'] as const;

/** The options, checked: bad ones throw a TypeError or RangeError naming the option and the value. */
export function checkMemoOptions<C>(options: ConnectionMemoOptions<C>): ConnectionMemoOptions<C> {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`memoizeConnection() needs an options object { connect, close }, got ${show(options)}`);
  }
  checkKnownKeys('options', options, OPTION_KEYS);
  const o = options as unknown as Record<string, unknown>;
  const breaker = o.breaker as ConnectionBreaker | undefined;
  if (
    breaker !== undefined &&
    (breaker === null || typeof breaker !== 'object' || typeof breaker.execute !== 'function')
  ) {
    throw new TypeError(
      `breaker must be an object with an execute(fn, { signal }) function (a circuit breaker), got ${show(breaker)}`,
    );
  }
  return {
    connect: checkFunction('connect', o.connect, 'a function ({ signal }) => Promise<connection>'),
    close: checkFunction('close', o.close, 'a function (connection) => void | Promise<void>'),
    breaker,
    connectTimeoutMs:
      o.connectTimeoutMs === undefined
        ? undefined
        : checkMs('connectTimeoutMs', o.connectTimeoutMs, { minExclusive: true, max: MAX_TIMER_MS }),
    events: checkEmitter<Emitter<ConnectionMemoEvents<C>>>('events', o.events, {
      hint: ' (with on, off and emit)',
      mittMap: false,
    }),
  };
}

/** Validate `{ signal }` options of get(), reset() and close(); duck-typed so polyfilled signals work. */
export function readSignal(where: string, options: unknown): AbortSignal | undefined {
  if (options === undefined) return undefined;
  return checkSignal(`${where} options.signal`, checkObject(`${where} options`, options).signal);
}
