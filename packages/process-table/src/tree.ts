import type { ProcessInfo } from './types.js';

/**
 * A child cannot have started before its parent. On Windows, ParentProcessId is never updated, so
 * after the parent exits its pid may be reused by an unrelated, younger process: the check keeps
 * that stranger from adopting the old children. One second of slack covers ps's 1 s resolution.
 */
function plausibleChild(child: ProcessInfo, parent: ProcessInfo | undefined): boolean {
  return child.pid !== child.ppid && (parent === undefined || child.startTime + 1000 >= parent.startTime);
}

/** Direct children of `pid` within one listing. */
export function childrenIn(list: readonly ProcessInfo[], pid: number): ProcessInfo[] {
  const parent = list.find((p) => p.pid === pid);
  return list.filter((p) => p.ppid === pid && p.pid !== pid && plausibleChild(p, parent));
}

/** All descendants of `pid` within one listing, parents before children (breadth first), root excluded. */
export function descendantsIn(list: readonly ProcessInfo[], pid: number): ProcessInfo[] {
  const byParent = new Map<number, ProcessInfo[]>();
  for (const p of list) {
    const siblings = byParent.get(p.ppid);
    if (siblings) siblings.push(p);
    else byParent.set(p.ppid, [p]);
  }
  const byPid = new Map(list.map((p) => [p.pid, p]));
  const out: ProcessInfo[] = [];
  const seen = new Set<number>([pid]);
  const queue = [pid];
  for (let i = 0; i < queue.length; i++) {
    const parentPid = queue[i]!;
    for (const child of byParent.get(parentPid) ?? []) {
      if (seen.has(child.pid) || !plausibleChild(child, byPid.get(parentPid))) continue;
      seen.add(child.pid);
      out.push(child);
      queue.push(child.pid);
    }
  }
  return out;
}

/**
 * Ancestors of `pid` within one listing: parent first, up to and including pid 1 (init / launchd)
 * or the top. pid 0 (macOS kernel_task, Windows System Idle Process) is never included.
 */
export function ancestorsIn(list: readonly ProcessInfo[], pid: number): ProcessInfo[] {
  const byPid = new Map(list.map((p) => [p.pid, p]));
  const out: ProcessInfo[] = [];
  const seen = new Set<number>([pid]);
  let current = byPid.get(pid);
  while (current && current.pid !== 1 && current.ppid !== 0) {
    const parent = byPid.get(current.ppid);
    if (!parent || seen.has(parent.pid) || !plausibleChild(current, parent)) break;
    seen.add(parent.pid);
    out.push(parent);
    current = parent;
  }
  return out;
}
