import type { NotOwnedReason, OwnerRecord, Ownership } from './types.js';

const HINTS: Record<NotOwnedReason, string> = {
  'leftovers-pending': 'call reapLeftovers() before spawn()',
  'owner-alive':
    'another daemon owns it: stop that daemon (then call claim() or reapLeftovers()), open the registry with takeover to wait for it, or use another path',
  'owner-on-other-host':
    'it was written on another host (another boot id and hostname): stop the daemon there, or use a path that is not shared between hosts',
  'claim-failed': 'it could not be written: check the folder permissions and free space (see the claimError event)',
};

/** spawn() was called while another process owns the file or leftovers are still pending. */
export class RegistryNotOwnedError extends Error {
  readonly code = 'EREGISTRYNOTOWNED' as const;
  constructor(
    readonly path: string,
    readonly reason: NotOwnedReason,
    readonly owner: OwnerRecord | null,
    /** When the registry looks again by itself (epoch ms), or null. */
    readonly retryAt: number | null = null,
    options?: { cause?: unknown },
  ) {
    const who = owner ? `pid ${owner.pid} on ${owner.hostname}` : 'none';
    const retry =
      retryAt === null ? '' : `; it is tried again on the next spawn() and at ${new Date(retryAt).toISOString()}`;
    super(
      `process registry ${path} is not owned by this process (${reason}, owner ${who}); ${HINTS[reason]}${retry}`,
      options,
    );
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

/** The error spawn() throws for an ownership that is not 'owned' (nor 'closed'). */
export function notOwnedError(
  path: string,
  o: Exclude<Ownership, { state: 'owned' | 'closed' }>,
  lastTakeError: Error | null,
): RegistryNotOwnedError {
  const reason = o.state === 'not-owned' ? o.reason : o.state === 'claiming' ? 'leftovers-pending' : 'owner-alive';
  const retryAt = o.state === 'not-owned' ? o.retryAt : null;
  const cause = reason === 'claim-failed' ? lastTakeError : null;
  return new RegistryNotOwnedError(path, reason, o.owner, retryAt, cause ? { cause } : undefined);
}
