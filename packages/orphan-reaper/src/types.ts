import type { ProcessInfo } from '@spawnguard/process-table';
import type { Emitter } from 'mitt';

export interface KillTreeOptions {
  /** How long to wait after the polite signal before SIGKILL (taskkill /F on Windows). Default 3000. */
  graceMs?: number;
  signal?: AbortSignal;
  /** The root's start token, as recorded: when it does not match, nothing at all is signalled. */
  startToken?: string;
  /**
   * SIGKILL the whole tree at once (Windows: taskkill /F), parents first, with no polite signal and
   * no grace: for a second Ctrl-C, when the caller is about to exit. Each member's start token is
   * still checked before its signal. Cannot be combined with a graceMs other than 0. Default false.
   */
  force?: boolean;
}

/** One process of an exited leader's group, as recorded: its pid and start token. */
export interface GroupMember {
  pid: number;
  startToken: string;
}

/** What is recorded of a process group whose leader has exited (see killGroup). */
export interface ExitedGroup {
  /** The group id: the exited leader's pid. */
  pgid: number;
  /** The leader's start token: members started no earlier than it. */
  leaderStartToken: string;
  /** The members found when the leader's exit was seen (groupMembers). */
  members: GroupMember[];
}

export interface KillGroupOptions {
  /** Time between SIGTERM and SIGKILL. Default 3000. */
  graceMs?: number;
  /** SIGKILL everything at once, no grace; cannot be combined with a graceMs other than 0. Default false. */
  force?: boolean;
  signal?: AbortSignal;
}

export interface KillTreeResult {
  /** Exited after SIGTERM (Windows: after the plain taskkill), within graceMs. */
  terminated: number[];
  /** Still there after graceMs: needed SIGKILL (taskkill /F). With `force`: every member signalled. */
  killed: number[];
  /** Already gone, or its identity changed (PID reused), before we signalled it. */
  gone: number[];
  /** Members we refused to signal: ourselves, an ancestor, pid <= 1, the kernel, another user's. */
  skipped: { pid: number; reason: SkipReason }[];
}

export type SkipReason =
  | 'self'
  | 'ancestor'
  | 'pid<=1'
  | 'kernel'
  | 'other-user'
  | 'not-orphan'
  | 'too-young'
  | 'kept-newest'
  | 'gone'
  | 'dry-run';

export interface ReapOptions {
  /** Which processes to consider: a predicate, or a RegExp tested on the command line joined with spaces. */
  match: RegExp | ((proc: ProcessInfo) => boolean);
  /** Only processes at least this old (ms). */
  olderThanMs?: number;
  /** Keep the K newest candidates, kill the rest (oldest first). */
  keepNewest?: number;
  /** Only processes whose parent is gone, is init (ppid 1) or is one of `subreapers`. Default true. */
  orphansOnly?: boolean;
  /** pids of child subreapers (PR_SET_CHILD_SUBREAPER) that adopt orphans on this machine; see README. */
  subreapers?: number[];
  /** Passed to killTree for each candidate. Default 3000. */
  graceMs?: number;
  /** Decide and report, signal nothing. */
  dryRun?: boolean;
  signal?: AbortSignal;
  /** Clock for ages: age = now() - startTime. Default: processAgeMs (monotonic on Linux). */
  now?: () => number;
}

export interface ReapResult {
  /** Every process `match` accepted. Each one is in exactly one of `killed` and `skipped`. */
  matched: ProcessInfo[];
  /** Matched processes that were signalled and are gone now (with their trees). */
  killed: ProcessInfo[];
  /** The candidates kept by `keepNewest` (also listed in `skipped` with reason 'kept-newest'). */
  kept: ProcessInfo[];
  skipped: { proc: ProcessInfo; reason: SkipReason }[];
}

export type ReaperEvents = {
  /** A signal was sent (after the identity check). Windows: 'taskkill' or 'taskkill /F'. */
  signal: { pid: number; signal: string };
  /** A signalled process is gone; `signal` is the last one it got. */
  killed: { pid: number; signal: string };
  /** A process was left alone, and why. */
  skipped: { pid: number; reason: SkipReason; proc?: ProcessInfo };
};

export type ReaperEmitter = Emitter<ReaperEvents>;
