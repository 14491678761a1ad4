/**
 * connect() did not settle within `connectTimeoutMs`. Its signal was aborted with this error, every
 * waiting get() rejected with it, and a connection that still arrives later is closed.
 */
export class ConnectTimeoutError extends Error {
  override readonly name = 'ConnectTimeoutError';
  readonly code = 'ECONNECTTIMEOUT';
  readonly timeoutMs: number;

  constructor(timeoutMs: number) {
    super(
      `connect() did not settle within connectTimeoutMs (${timeoutMs} ms); its signal was aborted ` +
        'and a connection that still arrives will be closed. The next get() connects again.',
    );
    this.timeoutMs = timeoutMs;
  }
}

/** The memo was closed with close(): pending and later get() calls reject with this error. */
export class MemoClosedError extends Error {
  override readonly name = 'MemoClosedError';
  readonly code = 'EMEMOCLOSED';

  constructor() {
    super(
      'the connection memo is closed (close() is final); create a new one with memoizeConnection() to connect again',
    );
  }
}
