import {
  checkBoolean,
  checkMs,
  checkObject,
  checkOptions,
  checkPid,
  checkSignal,
  checkString,
  show,
} from '@spawnguard/internal';
import { descendantsIn, type ProcessInfo } from '@spawnguard/process-table';
import type { ReaperContext } from './context.js';
import { ancestorsFrom, protectedReason } from './guard.js';
import { DEFAULT_GRACE_MS } from './kill-tree.js';
import { forceKill, terminate } from './signals.js';
import type { ExitedGroup, GroupMember, KillGroupOptions, KillTreeResult } from './types.js';

/**
 * What is left of a process group whose leader has exited by itself, and how to stop it.
 *
 * Why the group number proves membership only at the moment the leader's exit is seen: while any
 * process is in group N, the kernel hands the number N to no new process (POSIX: a process group
 * ID is not reused while the group exists; Linux keeps pid N allocated while it names a group), so
 * no second group N can exist beside the leader's, which outlives its leader as long as it has
 * members. A process found in group N right after the leader's exit is therefore in the leader's
 * group, unless in between every member exited AND the kernel gave pid N to a new process that made
 * its own group N: that takes a full cycle through the pid space (Linux allocates pids upwards to
 * pid_max, at least 32768, before it wraps) within the milliseconds between the exit and our
 * listing. On top of that a member must run as our uid and have started no earlier than the leader
 * (same boot on Linux). After that one look the number is never trusted alone again: each member
 * is recorded by pid + start token and checked before every signal.
 */

/** `<prefix>:<number>` of a start token (Linux: boot id and start ticks; macOS/Windows: pid and start ms). */
function splitToken(token: string): { prefix: string; at: number } | null {
  const colon = token.lastIndexOf(':');
  if (colon <= 0) return null;
  const digits = token.slice(colon + 1);
  if (!/^-?(?:0|[1-9][0-9]*)$/.test(digits)) return null;
  const at = Number(digits);
  return Number.isSafeInteger(at) ? { prefix: token.slice(0, colon), at } : null;
}

/** Did the process with `token` start no earlier than the one with `leader` (and, on Linux, in the same boot)? */
export function startedNoEarlier(linux: boolean, token: string, leader: string): boolean {
  const a = splitToken(token);
  const b = splitToken(leader);
  if (!a || !b) return false;
  if (linux && a.prefix !== b.prefix) return false; // another boot: ticks are not comparable
  return a.at >= b.at;
}

/** May `p` be counted in the group of the leader with `leaderToken`: our uid, started after the leader, not protected. */
function eligible(ctx: ReaperContext, p: ProcessInfo, leaderToken: string, ancestors: Set<number>): boolean {
  if (p.state === 'Z') return false;
  if (ctx.myUid !== undefined && p.uid !== -1 && p.uid !== ctx.myUid) return false;
  if (protectedReason(ctx, p, ancestors) !== null) return false;
  return startedNoEarlier(ctx.linux, p.startToken, leaderToken);
}

/**
 * The members of the process group of `leader` (a group leader: pgid = its pid) that has just
 * exited, each by pid + start token. Call it as soon as the exit is seen (see above). Windows has
 * no process groups: always [].
 */
export async function groupMembers(
  ctx: ReaperContext,
  leader: { pid: number; startToken: string },
  options?: { signal?: AbortSignal },
): Promise<GroupMember[]> {
  const l = checkObject('leader', leader);
  checkGroupId('leader.pid', l.pid);
  checkString('leader.startToken', l.startToken);
  const o = checkOptions('options', options);
  const signal = checkSignal('signal', o.signal);
  if (signal?.aborted) throw signal.reason;
  if (ctx.windows) return [];
  const list = await ctx.table.listProcesses({ signal });
  const ancestors = ancestorsFrom(ctx, list);
  return list
    .filter((p) => p.pgid === leader.pid && p.pid !== leader.pid && eligible(ctx, p, leader.startToken, ancestors))
    .map((p) => ({ pid: p.pid, startToken: p.startToken }));
}

/** A group id we may signal: a leader's pid, never 0 (our own group) or 1 (init's). */
function checkGroupId(name: string, value: unknown): number {
  const id = checkPid(name, value);
  if (id <= 1) throw new RangeError(`${name} must be a process group leader's pid (> 1), got ${show(value)}`);
  return id;
}

function checkGroup(value: unknown): ExitedGroup {
  const g = checkObject('group', value);
  checkGroupId('group.pgid', g.pgid);
  checkString('group.leaderStartToken', g.leaderStartToken);
  if (!Array.isArray(g.members)) throw new TypeError(`group.members must be an array, got ${show(g.members)}`);
  g.members.forEach((m: unknown, i: number) => {
    const member = checkObject(`group.members[${i}]`, m);
    checkPid(`group.members[${i}].pid`, member.pid);
    checkString(`group.members[${i}].startToken`, member.startToken);
  });
  return g as unknown as ExitedGroup;
}

/**
 * Stops what is left of an exited leader's group: every recorded member that still runs the
 * recorded start token, their descendants, and, while a recorded member is provably still in the
 * group (so the number is still held by this group), the group's other members that pass the same
 * test as in groupMembers(). SIGTERM deepest first, `graceMs`, SIGKILL (or all at once with `force`);
 * every process is identity-checked before every signal. Members that are gone are reported `gone`.
 */
export async function killGroup(
  ctx: ReaperContext,
  group: ExitedGroup,
  options?: KillGroupOptions,
): Promise<KillTreeResult> {
  const { pgid, leaderStartToken, members } = checkGroup(group);
  const o = checkOptions('options', options) as KillGroupOptions;
  const force = checkBoolean('force', o.force, false);
  if (force && o.graceMs !== undefined && o.graceMs !== 0) {
    throw new TypeError(
      `graceMs cannot be combined with force: true (a forced kill sends SIGKILL at once, with no grace), got graceMs ${show(o.graceMs)}`,
    );
  }
  const graceMs = checkMs('graceMs', o.graceMs, { fallback: DEFAULT_GRACE_MS });
  const signal = checkSignal('signal', o.signal);
  if (signal?.aborted) throw signal.reason;

  const list = await ctx.table.listProcesses({ signal });
  const byPid = new Map(list.map((p) => [p.pid, p]));
  const ancestors = ancestorsFrom(ctx, list);
  const gone: number[] = [];
  const live: ProcessInfo[] = [];
  for (const m of members) {
    const p = byPid.get(m.pid);
    if (p && p.startToken === m.startToken && p.state !== 'Z') live.push(p);
    else gone.push(m.pid);
  }
  const targets = new Map<number, ProcessInfo>();
  const add = (p: ProcessInfo) => {
    if (targets.has(p.pid)) return;
    targets.set(p.pid, p);
    for (const d of descendantsIn(list, p.pid)) if (!targets.has(d.pid)) targets.set(d.pid, d);
  };
  for (const p of live) add(p);
  if (!ctx.windows && live.some((p) => p.pgid === pgid)) {
    for (const p of list) {
      if (p.pgid === pgid && p.pid !== pgid && eligible(ctx, p, leaderStartToken, ancestors)) add(p);
    }
  }
  const ordered = [...targets.values()];
  const result =
    ordered.length === 0
      ? { terminated: [], killed: [], gone: [], skipped: [] }
      : force
        ? await forceKill(ctx, ordered, ancestors, null, signal)
        : await terminate(ctx, ordered, graceMs, ancestors, signal);
  result.gone.push(...gone);
  return result;
}
