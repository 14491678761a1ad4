import { checkBoolean, checkMs, checkOptions, checkPid, checkSignal, checkString, show } from '@spawnguard/internal';
import { descendantsIn } from '@spawnguard/process-table';
import type { ReaperContext } from './context.js';
import { ProtectedProcessError } from './errors.js';
import { ancestorsFrom, isKernel } from './guard.js';
import { forceKill, terminate } from './signals.js';
import type { KillTreeOptions, KillTreeResult } from './types.js';

export const DEFAULT_GRACE_MS = 3000;

/** killTree(pid): the tree as it is now (plus the root's group), identity-proven, then terminated or force-killed. */
export async function killTree(ctx: ReaperContext, pid: number, options?: KillTreeOptions): Promise<KillTreeResult> {
  checkPid('pid', pid);
  const o = checkOptions('options', options) as KillTreeOptions;
  const force = checkBoolean('force', o.force, false);
  if (force && o.graceMs !== undefined && o.graceMs !== 0) {
    throw new TypeError(
      `graceMs cannot be combined with force: true (a forced kill sends SIGKILL at once, with no grace), got graceMs ${show(o.graceMs)}`,
    );
  }
  const graceMs = checkMs('graceMs', o.graceMs, { fallback: DEFAULT_GRACE_MS });
  const signal = checkSignal('signal', o.signal);
  if (o.startToken !== undefined) checkString('startToken', o.startToken);
  if (pid <= 1) throw new ProtectedProcessError(pid, 'pid<=1');
  if (pid === ctx.selfPid) throw new ProtectedProcessError(pid, 'self');
  if (signal?.aborted) throw signal.reason;

  const list = await ctx.table.listProcesses({ signal });
  const ancestors = ancestorsFrom(ctx, list);
  const root = list.find((p) => p.pid === pid);
  if (ancestors.has(pid)) throw new ProtectedProcessError(pid, 'ancestor');
  if (root && isKernel(ctx, root)) throw new ProtectedProcessError(pid, 'kernel');
  if (!root || root.state === 'Z' || (o.startToken !== undefined && root.startToken !== o.startToken)) {
    // Gone, or the pid now belongs to another process: signal nothing, not even its "children".
    return { terminated: [], killed: [], gone: [pid], skipped: [] };
  }
  const members = [root, ...descendantsIn(list, pid)];
  // A group leader's group may hold processes that left the tree (their parent died and they
  // were reparented before our snapshot): they are part of what the caller started.
  if (root.pgid === root.pid) {
    const inTree = new Set(members.map((m) => m.pid));
    for (const p of list) if (p.pgid === root.pid && !inTree.has(p.pid)) members.push(p);
  }
  if (force) return forceKill(ctx, members, ancestors, root.pgid === root.pid ? root.pid : null, signal);
  return terminate(ctx, members, graceMs, ancestors, signal);
}
