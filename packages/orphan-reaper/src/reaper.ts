import { createContext, type ReaperOptions } from './context.js';
import { killTree } from './kill-tree.js';
import { reap } from './reap.js';
import type { KillTreeOptions, KillTreeResult, ReaperEmitter, ReapOptions, ReapResult } from './types.js';

export type { ReaperOptions, RunCommand, TableLike } from './context.js';

export interface Reaper {
  readonly events: ReaperEmitter;
  killTree(pid: number, options?: KillTreeOptions): Promise<KillTreeResult>;
  reap(options: ReapOptions): Promise<ReapResult>;
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
  };
}
