import type { Emitter, EventType } from 'mitt';

/** Why a connection was handed to `close(conn)`. */
export type CloseReason =
  /** reset() dropped it, or it was still being connected when reset() was called. */
  | 'reset'
  /** invalidate(conn) said it is dead or closing. */
  | 'invalidate'
  /** close() of the memo, or it was still being connected when close() was called. */
  | 'close'
  /** connect() resolved after connectTimeoutMs had already failed its waiters. */
  | 'timeout'
  /** connect() resolved after every get() waiting for it had aborted. */
  | 'abandoned';

/**
 * `generation` counts how many times the memo has dropped a connection (reset, invalidate, close);
 * a connection or connect attempt carries the generation it was made in.
 */
export type ConnectionMemoEvents<C> = {
  /** connect() is about to be called (through the breaker when one is given). */
  connecting: { generation: number };
  /** connect() resolved and the connection is now cached; waiting get() calls receive it. */
  connected: { connection: C; generation: number; durationMs: number };
  /** connect() (or the breaker) rejected, or connectTimeoutMs elapsed. The failure is not cached. */
  connectFailed: { error: unknown; generation: number; durationMs: number };
  /** close(conn) is about to be called. */
  closing: { connection: C; generation: number; reason: CloseReason };
  /** close(conn) settled. `error` is set when it threw or rejected; the connection is dropped anyway. */
  closed: { connection: C; generation: number; reason: CloseReason; error?: unknown };
  /** invalidate(conn) dropped the current connection; closing and closed follow. */
  invalidated: { connection: C; generation: number };
};

type AnyHandler = (...args: unknown[]) => void;

/**
 * Emit to each handler separately, so a throwing listener neither reaches the memo's caller nor
 * stops the listeners after it. Its error is reported as a process warning rather than lost.
 */
export function safeEmit<E extends Record<EventType, unknown>, K extends keyof E & EventType>(
  emitter: Emitter<E>,
  type: K,
  event: E[K],
): void {
  const all = emitter.all as Map<unknown, AnyHandler[]> | undefined;
  if (!(all instanceof Map)) {
    try {
      emitter.emit(type, event);
    } catch (error) {
      warn(`a listener for '${String(type)}' threw`, error);
    }
    return;
  }
  const handlers = all.get(type);
  if (handlers !== undefined) {
    for (const handler of handlers.slice()) {
      try {
        handler(event);
      } catch (error) {
        warn(`a listener for '${String(type)}' threw`, error);
      }
    }
  }
  const wildcards = all.get('*');
  if (wildcards !== undefined) {
    for (const handler of wildcards.slice()) {
      try {
        handler(type, event);
      } catch (error) {
        warn(`a '*' listener threw on '${String(type)}'`, error);
      }
    }
  }
}

/** True when someone listens for `type` (directly or through '*'). */
export function hasListener(emitter: { all: unknown }, type: EventType): boolean {
  const all = emitter.all as Map<unknown, unknown[]> | undefined;
  if (!(all instanceof Map)) return true; // unknown emitter: assume it reports
  return (all.get(type)?.length ?? 0) > 0 || (all.get('*')?.length ?? 0) > 0;
}

export function warn(what: string, error: unknown): void {
  const detail = error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : String(error);
  process.emitWarning(`@spawnguard/connection-memo: ${what}: ${detail}`, { code: 'SPAWNGUARD_CONNECTION_MEMO' });
}
