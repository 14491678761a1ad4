import { createReaper } from './reaper.js';
import type {
  ExitedGroup,
  GroupMember,
  KillGroupOptions,
  KillTreeOptions,
  KillTreeResult,
  ReapOptions,
  ReapResult,
} from './types.js';

export { ProtectedProcessError } from './errors.js';
export type { Reaper, ReaperOptions, RunCommand, TableLike } from './reaper.js';
export { createReaper } from './reaper.js';
export type {
  ExitedGroup,
  GroupMember,
  KillGroupOptions,
  KillTreeOptions,
  KillTreeResult,
  ReaperEmitter,
  ReaperEvents,
  ReapOptions,
  ReapResult,
  SkipReason,
} from './types.js';
export { TASKKILL, taskkillArgs } from './windows.js';

const reaper = createReaper();

/** Events of the default reaper: `signal`, `killed`, `skipped`. */
export const events = reaper.events;

/**
 * SIGTERM a process and all its descendants (snapshot first, identity-checked before every
 * signal), wait up to graceMs, SIGKILL what is left. Windows: taskkill, then taskkill /F.
 */
export const killTree = (pid: number, options?: KillTreeOptions): Promise<KillTreeResult> =>
  reaper.killTree(pid, options);

/** Find leftover processes by match + ownership + age/count and kill their trees. */
export const reap = (options: ReapOptions): Promise<ReapResult> => reaper.reap(options);

/**
 * The members (pid + start token) of the process group of a leader that has just exited by itself:
 * call it as soon as the exit is seen. Our uid, started no earlier than the leader. Windows: [].
 */
export const groupMembers = (
  leader: { pid: number; startToken: string },
  options?: { signal?: AbortSignal },
): Promise<GroupMember[]> => reaper.groupMembers(leader, options);

/**
 * Stops what is left of an exited leader's group: the recorded members still running their start
 * token, their descendants, and the group's other members while a recorded one is still in it.
 * SIGTERM, graceMs, SIGKILL (or `force`), identity-checked before every signal.
 */
export const killGroup = (group: ExitedGroup, options?: KillGroupOptions): Promise<KillTreeResult> =>
  reaper.killGroup(group, options);
