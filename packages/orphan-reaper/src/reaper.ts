import { createContext, type ReaperOptions } from './context.js';
import { groupMembers, killGroup } from './group.js';
import { killTree } from './kill-tree.js';
import { reap } from './reap.js';
import type {
  ExitedGroup,
  GroupMember,
  KillGroupOptions,
  KillTreeOptions,
  KillTreeResult,
  ReaperEmitter,
  ReapOptions,
  ReapResult,
} from './types.js';

export type { ReaperOptions, RunCommand, TableLike } from './context.js';

export interface Reaper {
  readonly events: ReaperEmitter;
  killTree(pid: number, options?: KillTreeOptions): Promise<KillTreeResult>;
  reap(options: ReapOptions): Promise<ReapResult>;
  groupMembers(leader: { pid: number; startToken: string }, options?: { signal?: AbortSignal }): Promise<GroupMember[]>;
  killGroup(group: ExitedGroup, options?: KillGroupOptions): Promise<KillTreeResult>;
}

/**
 * A reaper bound to one process table; the package's killTree/reap use a default one. Who may be
 * signalled is in guard.ts, signal escalation in signals.ts, the choice of what reap() kills in
 * reap.ts, and the options with their defaults in context.ts.
 */
export function createReaper(options: ReaperOptions = {}): Reaper {
  const ctx = createContext(options);
  return {
    events: ctx.events,
    killTree: (pid, opts) => killTree(ctx, pid, opts),
    reap: (opts) => reap(ctx, opts),
    groupMembers: (leader, opts) => groupMembers(ctx, leader, opts),
    killGroup: (group, opts) => killGroup(ctx, group, opts),
  };
}
