import type { RegistryFile } from './file.js';
import type { Entry, OwnerRecord } from './types.js';

/**
 * What a registry file means for the process that reads it: pure functions, no I/O, so every rule
 * is tested alone. The registry only feeds them what it read (the file, its own identity, the boot
 * id, and where needed whether the recorded owner is still alive).
 */
export type Verdict =
  /** Free to take now: missing or untrusted (moved aside), released and empty, ours, or a dead owner's empty file. */
  | { kind: 'take'; adopt: Entry[]; previousOwner: OwnerRecord | null }
  /** The owner is gone (or released the file) but entries are left: kill their trees, then take it. */
  | { kind: 'leftovers'; previousOwner: OwnerRecord | null; entries: Entry[] }
  /** A live owner on this host. */
  | { kind: 'alive'; owner: OwnerRecord; entries: Entry[] }
  /** Written on another host: its owner's liveness cannot be proven from here. */
  | { kind: 'other-host'; owner: OwnerRecord; entries: Entry[] };

/** The file's owner must be checked for liveness (process identity) before a verdict. */
export type NeedsIdentity = { kind: 'check-owner'; owner: OwnerRecord; entries: Entry[] };

/**
 * The boot id in a Linux start token (`<bootId>:<ticks>`), or null. Only meaningful when the token
 * comes from Linux; the caller passes `ownBootId` null elsewhere (macOS and Windows tokens are
 * `<pid>:<startTime>`, which carry no boot id). 'unknown-boot' (boot id hidden) proves nothing.
 */
export function bootIdOf(startToken: string): string | null {
  const match = /^(.+):(\d+)$/.exec(startToken);
  if (!match || match[1] === 'unknown-boot') return null;
  return match[1]!;
}

/**
 * Is a file's owner on this host? Same hostname, or the same boot id: a token from this very boot
 * was written on this kernel, whatever the hostname says now (DHCP renames, a re-created container).
 */
export function onThisHost(owner: OwnerRecord, me: OwnerRecord, ownBootId: string | null): boolean {
  if (owner.hostname === me.hostname) return true;
  return ownBootId !== null && bootIdOf(owner.startToken) === ownBootId;
}

export function sameOwner(a: OwnerRecord, b: OwnerRecord): boolean {
  return a.pid === b.pid && a.startToken === b.startToken && a.hostname === b.hostname;
}

/** Everything that can be decided from the file alone. `file` null: missing, or untrusted and moved aside. */
export function classify(
  file: RegistryFile | null,
  me: OwnerRecord,
  ownBootId: string | null,
): Verdict | NeedsIdentity {
  if (file === null) return { kind: 'take', adopt: [], previousOwner: null };
  const { owner, entries } = file;
  if (owner === null) {
    // Released by a clean shutdown: nobody owns it. Entries there (not written by us) are handled
    // like a dead owner's: each is killed only if its identity still matches.
    return entries.length === 0
      ? { kind: 'take', adopt: [], previousOwner: null }
      : { kind: 'leftovers', previousOwner: null, entries };
  }
  // Our own file (the registry was reopened in the same process): its entries are ours.
  if (sameOwner(owner, me)) return { kind: 'take', adopt: entries, previousOwner: null };
  if (!onThisHost(owner, me, ownBootId)) return { kind: 'other-host', owner, entries };
  return { kind: 'check-owner', owner, entries };
}

/** The verdict once the owner's liveness is known. */
export function withIdentity(pending: NeedsIdentity, ownerAlive: boolean): Verdict {
  const { owner, entries } = pending;
  if (ownerAlive) return { kind: 'alive', owner, entries };
  if (entries.length === 0) return { kind: 'take', adopt: [], previousOwner: owner };
  return { kind: 'leftovers', previousOwner: owner, entries };
}
