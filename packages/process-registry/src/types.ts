import type { KillTreeResult } from '@spawnguard/orphan-reaper';

/** Who owns a registry file: the daemon process, proven by identity (pid + start token). */
export interface OwnerRecord {
  pid: number;
  startToken: string;
  hostname: string;
}

/** One child the daemon spawned, as written to the registry file. */
export interface Entry {
  pid: number;
  /** process-table start token of the child, read right after spawn: guards against PID reuse. */
  startToken: string;
  /** Process group id: the child's pid on POSIX (spawned detached); null on Windows (no groups). */
  pgid: number | null;
  session: string;
  type: string;
  /** Epoch ms (from the injected `now`) when the child was spawned. */
  spawnedAt: number;
  /** The executable, for humans reading the file (arguments are not stored: they may hold secrets). */
  command: string;
  /**
   * A group record: the child exited while members of its process group were still running. When
   * it exited (epoch ms from `now`), and those members, each by pid + start token, as found the
   * moment its exit was seen. The record stays until every member is gone (pruneDead, shutdown,
   * reapSession, a successor's reapLeftovers stop or drop it, proving each member by identity).
   */
  exitedAt?: number;
  members?: GroupMember[];
}

/** A member of an exited child's process group, as recorded. */
export interface GroupMember {
  pid: number;
  startToken: string;
}

/** Why an entry was removed without being killed. */
export type DropReason =
  /** No process with that pid exists any more. */
  | 'gone'
  /** A process with that pid exists, but it is a different incarnation (PID reuse). */
  | 'pid-reused';

/** Why a registry file was not trusted. */
export type CorruptReason =
  | 'empty'
  | 'not-json'
  | 'foreign-format'
  | 'wrong-version'
  | 'wrong-shape'
  | 'not-a-regular-file'
  | 'foreign-uid'
  | 'too-large';

/**
 * Why the registry does not own its file:
 * - `owner-alive`: another live process on this host owns it (a second daemon, or the previous one
 *   still draining): its children are never touched. With `takeover`, retried until it exits.
 * - `owner-on-other-host`: written on another host (shared folder, another boot id and another
 *   hostname); liveness cannot be proven here.
 * - `leftovers-pending`: the previous owner is dead and left entries; call `reapLeftovers()` or `claim()`.
 * - `claim-failed`: the file was free to claim but could not be written (see the `claimError` event).
 */
export type NotOwnedReason = 'owner-alive' | 'owner-on-other-host' | 'leftovers-pending' | 'claim-failed';

/** The coarse summary of `Ownership`: 'waiting' and 'claiming' count as 'not-owned'. */
export type RegistryState = 'owned' | 'not-owned' | 'closed';

/**
 * Who holds the registry file, as one state (`registry.ownership`). Times are epoch ms from the
 * registry's `now` clock, so the value can be shown as is (`status --json`, `/metrics`).
 */
export type Ownership =
  /** This process writes the file. `previousOwner`: whom it was taken from (null: free, released or ours). */
  | { state: 'owned'; since: number; previousOwner: OwnerRecord | null }
  /** A live owner on this host holds the file; waiting (bounded, until `until`) for it to exit. spawn() waits too. */
  | { state: 'waiting'; owner: OwnerRecord; since: number; until: number }
  /** The previous owner is gone; its leftover trees are being killed before the file is taken. spawn() waits. */
  | { state: 'claiming'; owner: OwnerRecord | null; since: number }
  /** Not ours; `retryAt`: when the next automatic claim attempt runs (null: none scheduled). */
  | { state: 'not-owned'; reason: NotOwnedReason; owner: OwnerRecord | null; since: number; retryAt: number | null }
  /** After shutdown(). */
  | { state: 'closed'; since: number };

export type OwnershipState = Ownership['state'];

export interface ReapedEntry {
  entry: Entry;
  result: KillTreeResult;
}

/** What `reapSession()` and `shutdown()` did. */
export interface StopResult {
  /** Trees signalled through killTree, newest first. */
  reaped: ReapedEntry[];
  /** Entries whose process had already gone or been replaced: removed, not signalled. */
  dropped: Entry[];
  /** Trees that could not be stopped in time or at all; they stay in the registry. */
  failed: Array<{ entry: Entry; error: Error }>;
}

/** What `reapLeftovers()` did with the entries a previous owner left behind. */
export interface LeftoversResult {
  /** Still alive with the recorded start token, owner dead: killed with their trees. */
  killed: Entry[];
  /** Failed the identity check (gone or PID reused): removed, never signalled. */
  dropped: Entry[];
  /** Not touched, with the reason (`owner-alive`, `owner-on-other-host`, or a kill error message). */
  skipped: Array<{ entry: Entry; reason: string }>;
  /** The previous owner when it is still alive (or unprovable); the registry then refuses to take over. */
  ownerAlive: OwnerRecord | null;
}

export interface ClaimedEvent {
  path: string;
  /** Whom the file was taken from: a dead or released owner; null when the file was missing, untrusted or ours. */
  previousOwner: OwnerRecord | null;
  /** How long the claim waited for a live owner to exit (0 when it did not have to). */
  waitedMs: number;
  /** What was done with the previous owner's entries. */
  leftovers: LeftoversResult;
}

export const PACKAGE = '@spawnguard/process-registry';

export type RegistryEvents = {
  spawned: { entry: Entry };
  /** `members`: what is left of its process group (then the entry stays, as a group record); [] when nothing. */
  exited: { entry: Entry; code: number | null; signal: NodeJS.Signals | null; members: GroupMember[] };
  reaped: { entry: Entry; result: KillTreeResult; leftover: boolean };
  dropped: { entry: Entry; reason: DropReason };
  corruptFile: { path: string; movedTo: string | null; reason: CorruptReason; detail: string };
  writeError: { path: string; error: Error };
  /** Every change of `registry.ownership` (the new value). */
  ownership: Ownership;
  /** A live owner on this host holds the file: the registry waits (up to waitMs) for it to exit. */
  ownerWait: { path: string; owner: OwnerRecord; waitMs: number };
  /** The file is ours now (after a wait and a leftovers reap, or at once). */
  claimed: ClaimedEvent;
  /** A claim ended without the file: why, whose it is, and when the next attempt runs. */
  notClaimed: {
    path: string;
    reason: NotOwnedReason;
    owner: OwnerRecord | null;
    waitedMs: number;
    retryAt: number | null;
  };
  /** A claim failed (the file could not be read or written); the registry stays not-owned. */
  claimError: { path: string; error: Error };
};
