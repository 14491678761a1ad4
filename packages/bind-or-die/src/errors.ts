/**
 * The address was taken and `onLost` returned instead of ending the process. The promise of
 * `bindOrDie` rejects with this so a caller can never fall through into background work by mistake.
 */
export class LostBindError extends Error {
  readonly code = 'ELOSTBIND' as const;
  constructor(
    /** `host:port` or the socket path that another process holds. */
    readonly address: string,
    /** `true`/`false` when `verifyWinner` was given, `undefined` otherwise. */
    readonly winnerVerified: boolean | undefined,
  ) {
    super(
      `${address} is already bound by another process (we lost the race); onLost returned, so stop here ` +
        'instead of starting background work',
    );
    this.name = 'LostBindError';
  }
}

/** A unix socket path is taken by something that is not a socket: we never delete it. */
export class NotASocketError extends Error {
  readonly code = 'ENOTSOCK' as const;
  constructor(
    readonly path: string,
    /** What lstat found there: 'file', 'directory', 'symlink', 'other'. */
    readonly found: string,
  ) {
    super(
      `cannot listen on ${path}: a ${found} exists there, not a stale socket; it was left alone. ` +
        'Remove it yourself or choose another socket path',
    );
    this.name = 'NotASocketError';
  }
}
