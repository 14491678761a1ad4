/** No healthy daemon appeared in time. */
export class SpawnTimeoutError extends Error {
  readonly code = 'ESPAWNTIMEOUT' as const;
  constructor(
    /** The budget that ran out (waitTimeoutMs, or spawnTimeoutMs for the launcher that spawned). */
    readonly waitTimeoutMs: number,
    readonly lockPath: string,
    /** True when this call spawned the daemon itself and it never answered healthy. */
    readonly spawned: boolean,
    /** The pid of the still-booting daemon the lock was handed to, if any. */
    readonly handedOffTo?: number,
  ) {
    super(
      spawned
        ? `spawned the daemon but it was not healthy within ${waitTimeoutMs} ms (lock ${lockPath}` +
            `${handedOffTo ? `, now held for its pid ${handedOffTo} while it boots` : ''}); ` +
            'check that it starts and answers isHealthy, or raise spawnTimeoutMs'
        : `no healthy daemon within ${waitTimeoutMs} ms (lock ${lockPath}); the launcher holding the lock ` +
            'may be slow, or the daemon fails at boot: raise waitTimeoutMs or check the daemon',
    );
    this.name = 'SpawnTimeoutError';
  }
}

/** The lock folder cannot be used: missing, not a folder, a symbolic link, someone else's, unwritable, read-only. */
export class LockUnavailableError extends Error {
  readonly code = 'ELOCKUNAVAILABLE' as const;
  constructor(
    readonly lockPath: string,
    override readonly cause: unknown,
  ) {
    const reason = (cause as NodeJS.ErrnoException | null)?.code ?? String(cause);
    // What sits at the lock path (a link, a file, another user's folder) says itself what to do.
    const what =
      (cause as Error | null)?.name === 'LockPathError'
        ? (cause as Error).message
        : 'make sure its folder exists and is writable';
    super(
      `cannot use the spawn lock ${lockPath}.lock (${reason}): ${what}; or pass failOpen: true to spawn without the lock`,
      { cause },
    );
    this.name = 'LockUnavailableError';
  }
}
