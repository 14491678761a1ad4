import { type KillTreeResult, killGroup, killTree } from '@spawnguard/orphan-reaper';
import { isSameProcess, processIdentity } from '@spawnguard/process-table';
import type { DropReason, Entry, GroupMember } from './types.js';

/** Bound for one identity read (a /proc read on Linux, one `ps` on macOS). */
export const IDENTITY_TIMEOUT_MS = 2000;
/** Bound for one forced tree kill (listing + SIGKILLs + a short confirmation); then the group gets SIGKILL. */
const FORCE_BOUND_MS = 1500;

export type StopOutcome =
  | { kind: 'reaped'; result: KillTreeResult }
  | { kind: 'dropped'; reason: DropReason }
  | { kind: 'failed'; error: Error };

export interface StopManySettings {
  graceMs: number;
  totalTimeoutMs: number;
  signal: AbortSignal | undefined;
  /** When it fires (or has fired), every tree not yet stopped gets SIGKILL at once, with no grace. */
  force?: AbortSignal;
}

/** 'alive' when the recorded pid still runs the recorded incarnation; otherwise why not. */
export async function checkIdentity(entry: Entry, signal?: AbortSignal): Promise<'alive' | DropReason> {
  const info = await processIdentity(entry.pid, { signal, timeoutMs: IDENTITY_TIMEOUT_MS });
  if (!info) return 'gone';
  if (info.startToken !== entry.startToken) return 'pid-reused';
  // Same incarnation, but a zombie has already exited: isSameProcess says so.
  return (await isSameProcess(entry, { signal, timeoutMs: IDENTITY_TIMEOUT_MS })) ? 'alive' : 'gone';
}

/** A group record: the child exited by itself and left members of its process group running. */
export type GroupRecord = Entry & { members: GroupMember[] };
export const isGroupRecord = (entry: Entry): entry is GroupRecord => entry.members !== undefined;

/** The members of a group record that still run their recorded start token (the leader is gone by definition). */
export async function liveMembers(entry: GroupRecord, signal?: AbortSignal): Promise<GroupMember[]> {
  const alive = await Promise.all(
    entry.members.map((m) => isSameProcess(m, { signal, timeoutMs: IDENTITY_TIMEOUT_MS })),
  );
  return entry.members.filter((_, i) => alive[i]);
}

/** What orphan-reaper's killGroup needs: the group id, the leader's start token, the recorded members. */
const exitedGroup = (entry: GroupRecord) => ({
  pgid: entry.pgid ?? entry.pid,
  leaderStartToken: entry.startToken,
  members: entry.members,
});

/** A group record's outcome: reaped when something was stopped, dropped when every member was already gone. */
function groupOutcome(entry: GroupRecord, result: KillTreeResult): StopOutcome {
  const stopped = new Set([...result.terminated, ...result.killed]);
  const gone = new Set(result.gone);
  const left = entry.members.filter((m) => !stopped.has(m.pid) && !gone.has(m.pid));
  if (left.length > 0) {
    const refused = result.skipped.find((s) => s.pid === left[0]!.pid);
    const why = refused ? `killGroup refused to signal it (${refused.reason})` : 'killGroup did not report it stopped';
    return {
      kind: 'failed',
      error: new Error(`member ${left[0]!.pid} of exited ${entry.pid}'s group is still running: ${why}`),
    };
  }
  return stopped.size > 0 ? { kind: 'reaped', result } : { kind: 'dropped', reason: 'gone' };
}

/**
 * Stops trees one at a time in the given order (newest first), each through killTree, within a
 * total budget: each tree gets `graceMs` or what is left of the budget (minus a margin for the
 * final SIGKILL), whichever is less; trees reached after the budget is spent get no grace. A
 * killTree that is still running at the deadline is abandoned and its process group gets SIGKILL,
 * if the group leader is still the recorded process.
 *
 * When `force` fires, the tree being stopped and every one after it are killed at once, all
 * together, with SIGKILL (killTree's `force`), and their outcomes reported in the same order.
 */
export async function stopMany(
  entries: Entry[],
  opts: StopManySettings,
  onOutcome: (entry: Entry, outcome: StopOutcome) => Promise<void>,
): Promise<void> {
  const deadline = performance.now() + opts.totalTimeoutMs;
  const margin = Math.min(1000, opts.totalTimeoutMs / 4);
  for (let i = 0; i < entries.length; i++) {
    opts.signal?.throwIfAborted();
    if (opts.force?.aborted) return forceAll(entries.slice(i), opts.signal, onOutcome);
    const entry = entries[i]!;
    const remaining = deadline - performance.now();
    const outcome = await stopOne(entry, Math.max(0, Math.min(opts.graceMs, remaining - margin)), remaining, opts);
    if (outcome === 'forced') return forceAll(entries.slice(i), opts.signal, onOutcome);
    await onOutcome(entry, outcome);
  }
}

async function stopOne(
  entry: Entry,
  graceMs: number,
  remainingMs: number,
  opts: StopManySettings,
): Promise<StopOutcome | 'forced'> {
  if (remainingMs <= 0) return lastResort(entry);
  const { signal, force } = opts;
  const timeout = AbortSignal.timeout(Math.ceil(remainingMs));
  const bounded = AbortSignal.any([timeout, ...(signal ? [signal] : []), ...(force ? [force] : [])]);
  try {
    if (isGroupRecord(entry))
      return groupOutcome(entry, await killGroup(exitedGroup(entry), { graceMs, signal: bounded }));
    // The identity check comes first: a pid that now belongs to another process is never signalled,
    // and neither are that process's children.
    const verdict = await checkIdentity(entry, bounded);
    if (verdict !== 'alive') return { kind: 'dropped', reason: verdict };
    return outcomeOf(entry, await killTree(entry.pid, { graceMs, startToken: entry.startToken, signal: bounded }));
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    if (force?.aborted) return 'forced';
    if (timeout.aborted) return lastResort(entry);
    return { kind: 'failed', error: error as Error };
  }
}

/** Every tree at once, SIGKILL, no grace; outcomes reported in the given order. */
async function forceAll(
  entries: Entry[],
  signal: AbortSignal | undefined,
  onOutcome: (entry: Entry, outcome: StopOutcome) => Promise<void>,
): Promise<void> {
  const outcomes = await Promise.all(entries.map((entry) => forceOne(entry, signal)));
  await Promise.all(entries.map((entry, i) => onOutcome(entry, outcomes[i]!)));
}

async function forceOne(entry: Entry, signal: AbortSignal | undefined): Promise<StopOutcome> {
  const timeout = AbortSignal.timeout(FORCE_BOUND_MS);
  const bounded = signal ? AbortSignal.any([signal, timeout]) : timeout;
  try {
    if (isGroupRecord(entry))
      return groupOutcome(entry, await killGroup(exitedGroup(entry), { force: true, signal: bounded }));
    const verdict = await checkIdentity(entry, bounded);
    if (verdict !== 'alive') return { kind: 'dropped', reason: verdict };
    return outcomeOf(entry, await killTree(entry.pid, { force: true, startToken: entry.startToken, signal: bounded }));
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    if (timeout.aborted) return lastResort(entry, `a forced kill did not finish within ${FORCE_BOUND_MS} ms`);
    return { kind: 'failed', error: error as Error };
  }
}

/**
 * What one killTree did for an entry. A root that was alive when the tree was listed, but gone by
 * its own turn (signals go deepest first: a child whose last handle was the grandchild we just
 * stopped may exit by itself in between), had its tree stopped all the same: reaped, not dropped.
 */
export function outcomeOf(entry: Entry, result: KillTreeResult): StopOutcome {
  if (result.terminated.includes(entry.pid) || result.killed.includes(entry.pid)) return { kind: 'reaped', result };
  if (result.gone.includes(entry.pid)) {
    const stoppedOthers = result.terminated.length + result.killed.length > 0;
    return stoppedOthers ? { kind: 'reaped', result } : { kind: 'dropped', reason: 'gone' };
  }
  const refused = result.skipped?.find((s) => s.pid === entry.pid);
  if (refused?.reason === 'gone') return { kind: 'dropped', reason: 'gone' };
  const why = refused ? `killTree refused to signal it (${refused.reason})` : 'killTree did not report it stopped';
  return { kind: 'failed', error: new Error(`pid ${entry.pid} is still running: ${why}`) };
}

/** The budget is spent: SIGKILL the whole process group at once, but only if its leader is still ours. */
async function lastResort(entry: Entry, why = 'within totalTimeoutMs'): Promise<StopOutcome> {
  const message = `could not stop the tree ${why}`;
  if (isGroupRecord(entry)) {
    // The leader is gone: no group to SIGKILL by number; each recorded member, by identity, at once.
    try {
      const outcome = groupOutcome(
        entry,
        await killGroup(exitedGroup(entry), { force: true, signal: AbortSignal.timeout(500) }),
      );
      return outcome.kind === 'failed'
        ? { kind: 'failed', error: new Error(`${message}; ${outcome.error.message}`) }
        : outcome;
    } catch (error) {
      return { kind: 'failed', error: new Error(`${message}: ${(error as Error).message}`) };
    }
  }
  if (entry.pgid === null) return { kind: 'failed', error: new Error(`${message} (no process groups on Windows)`) };
  try {
    const verdict = await checkIdentity(entry, AbortSignal.timeout(500));
    if (verdict !== 'alive') return { kind: 'dropped', reason: verdict };
    process.kill(-entry.pgid, 'SIGKILL');
    return { kind: 'failed', error: new Error(`${message}; sent SIGKILL to process group ${entry.pgid}`) };
  } catch (error) {
    return { kind: 'failed', error: new Error(`${message}: ${(error as Error).message}`) };
  }
}
