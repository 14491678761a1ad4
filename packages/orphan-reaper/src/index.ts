import { createReaper } from './reaper';
import type { KillTreeOptions, KillTreeResult, ReapOptions, ReapResult } from './types';

export { ProtectedProcessError } from './errors';
export type { Reaper, ReaperOptions, RunCommand, TableLike } from './reaper';
export { createReaper } from './reaper';
export type {
  KillTreeOptions,
  KillTreeResult,
  ReaperEmitter,
  ReaperEvents,
  ReapOptions,
  ReapResult,
  SkipReason,
} from './types';
export { TASKKILL, taskkillArgs } from './windows';

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
