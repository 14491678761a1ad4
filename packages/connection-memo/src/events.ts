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

export const PACKAGE = '@spawnguard/connection-memo';

/** A problem that is not a listener's (close(conn) failed and nobody listens for `closed`). */
export function warn(what: string, error: unknown): void {
  const detail = error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : String(error);
  process.emitWarning(`${PACKAGE}: ${what}: ${detail}`, { code: 'SPAWNGUARD_CONNECTION_MEMO' });
}
