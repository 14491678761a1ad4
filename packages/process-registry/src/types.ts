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
  | 'foreign-uid';

/**
 * Why the registry does not own its file:
 * - `owner-alive`: another live process owns it (a second daemon): its children are never touched.
 * - `owner-on-other-host`: written on another host (shared folder); liveness cannot be proven here.
 * - `leftovers-pending`: the previous owner is dead and left entries; call `reapLeftovers()`.
 */
export type NotOwnedReason = 'owner-alive' | 'owner-on-other-host' | 'leftovers-pending';

export type RegistryState = 'owned' | 'not-owned' | 'closed';

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

export type RegistryEvents = {
  spawned: { entry: Entry };
  exited: { entry: Entry; code: number | null; signal: NodeJS.Signals | null };
  reaped: { entry: Entry; result: KillTreeResult; leftover: boolean };
  dropped: { entry: Entry; reason: DropReason };
  corruptFile: { path: string; movedTo: string | null; reason: CorruptReason; detail: string };
  writeError: { path: string; error: Error };
};
