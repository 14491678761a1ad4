import { setTimeout as sleep } from 'node:timers/promises';

export interface Conn {
  readonly id: number;
}

export interface PendingConnect {
  readonly id: number;
  readonly signal: AbortSignal;
  resolve(): Conn;
  reject(error: unknown): void;
  settled: boolean;
}

/**
 * An in-memory connection factory whose connect() calls stay pending until the test settles them,
 * with an ordered log ('connect:N', 'close:N:start', 'close:N:end') and per-connection close counts.
 */
export function manualConnector(options: { honorAbort?: boolean; closeDelayMs?: number } = {}) {
  const log: string[] = [];
  const pending: PendingConnect[] = [];
  const closeCounts = new Map<number, number>();
  let connects = 0;
  const connect = ({ signal }: { signal: AbortSignal }): Promise<Conn> => {
    const id = ++connects;
    log.push(`connect:${id}`);
    return new Promise<Conn>((resolve, reject) => {
      const entry: PendingConnect = {
        id,
        signal,
        settled: false,
        resolve() {
          const conn = { id };
          entry.settled = true;
          resolve(conn);
          return conn;
        },
        reject(error) {
          entry.settled = true;
          reject(error);
        },
      };
      pending.push(entry);
      if (options.honorAbort) {
        signal.addEventListener('abort', () => entry.reject(signal.reason), { once: true });
      }
    });
  };
  const close = async (conn: Conn): Promise<void> => {
    log.push(`close:${conn.id}:start`);
    closeCounts.set(conn.id, (closeCounts.get(conn.id) ?? 0) + 1);
    if (options.closeDelayMs !== undefined) await sleep(options.closeDelayMs);
    log.push(`close:${conn.id}:end`);
  };
  return {
    connect,
    close,
    log,
    pending,
    closeCounts,
    get connects() {
      return connects;
    },
    /** The n-th connect() call (1-based). */
    call(n: number): PendingConnect {
      const entry = pending[n - 1];
      if (entry === undefined) throw new Error(`connect() was called ${pending.length} times, not ${n}`);
      return entry;
    },
  };
}

/** Let every queued microtask and the next macrotask run. */
export async function flush(rounds = 3): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Settle state of a promise without awaiting it. */
export function track<T>(promise: Promise<T>) {
  const state: { status: 'pending' | 'fulfilled' | 'rejected'; value?: T; reason?: unknown } = { status: 'pending' };
  promise.then(
    (value) => {
      state.status = 'fulfilled';
      state.value = value;
    },
    (reason: unknown) => {
      state.status = 'rejected';
      state.reason = reason;
    },
  );
  return state;
}
