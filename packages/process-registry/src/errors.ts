import type { NotOwnedReason, OwnerRecord } from './types.js';

/** spawn() was called while another process owns the file or leftovers are still pending. */
export class RegistryNotOwnedError extends Error {
  readonly code = 'EREGISTRYNOTOWNED' as const;
  constructor(
    readonly path: string,
    readonly reason: NotOwnedReason,
    readonly owner: OwnerRecord | null,
  ) {
    const who = owner ? `pid ${owner.pid} on ${owner.hostname}` : 'unknown';
    const hint =
      reason === 'leftovers-pending'
        ? 'call reapLeftovers() before spawn()'
        : 'another daemon owns it: stop that daemon (then call reapLeftovers()) or use another path';
    super(`process registry ${path} is not owned by this process (${reason}, owner ${who}); ${hint}`);
    this.name = 'RegistryNotOwnedError';
  }
}

/** spawn() after shutdown() started. */
export class RegistryClosedError extends Error {
  readonly code = 'EREGISTRYCLOSED' as const;
  constructor(readonly path: string) {
    super(`process registry ${path} is shut down; open a new one with openRegistry()`);
    this.name = 'RegistryClosedError';
  }
}

/** The registry file or its folder cannot be used (unreadable, unwritable, a directory, another user's). */
export class RegistryFileError extends Error {
  readonly code = 'EREGISTRYFILE' as const;
  constructor(
    readonly path: string,
    message: string,
    readonly fileUid: number | null = null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'RegistryFileError';
  }
}
