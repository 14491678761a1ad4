import { createReaper } from './reaper.js';
import type { KillTreeOptions, KillTreeResult, ReapOptions, ReapResult } from './types.js';

export { ProtectedProcessError } from './errors.js';
export type { Reaper, ReaperOptions, RunCommand, TableLike } from './reaper.js';
export { createReaper } from './reaper.js';
export type {
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
