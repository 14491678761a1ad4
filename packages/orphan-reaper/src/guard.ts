import { ancestorsIn, type ProcessInfo } from '@spawnguard/process-table';
import type { ReaperContext } from './context.js';
import type { SkipReason } from './types.js';

/** Who may be signalled: never ourselves, our ancestors, pid <= 1, the kernel's, or another user's. */

/** pids we never signal, whatever the caller asks: ourselves, our ancestors, pid <= 1, the kernel's. */
export function protectedReason(ctx: ReaperContext, p: ProcessInfo, ancestors: Set<number>): SkipReason | null {
  if (p.pid <= 1) return 'pid<=1';
  if (p.pid === ctx.selfPid) return 'self';
  if (ancestors.has(p.pid)) return 'ancestor';
  if (isKernel(ctx, p)) return 'kernel';
  return null;
}

/**
 * Linux: kthreadd (pid 2) and its children, which have no cmdline. Checking the cmdline matters
 * in a PID namespace, where pid 2 is an ordinary process and a process entered from outside
 * (docker exec) has ppid 0. Windows: System and Idle (ppid 0). macOS: kernel_task is pid 0.
 */
export function isKernel(ctx: ReaperContext, p: ProcessInfo): boolean {
  if (ctx.linux) return p.cmdline.length === 0 && (p.pid === 2 || p.ppid === 2 || p.ppid === 0);
  return ctx.windows && p.ppid === 0;
}

/** Our ancestors in `list` (and our parent, even when the listing missed it). */
export function ancestorsFrom(ctx: ReaperContext, list: ProcessInfo[]): Set<number> {
  const set = new Set(ancestorsIn(list, ctx.selfPid).map((p) => p.pid));
  set.add(process.ppid);
  return set;
}

/** Another user's process? uid when the platform reports one, and kill(pid, 0) = EPERM on POSIX. */
export function ownership(ctx: ReaperContext, p: ProcessInfo): 'other-user' | 'gone' | null {
  if (ctx.myUid !== undefined && p.uid !== -1 && p.uid !== ctx.myUid) return 'other-user';
  if (ctx.windows) return null;
  try {
    ctx.kill(p.pid, 0);
    return null;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EPERM') return 'other-user';
    if (code === 'ESRCH') return 'gone';
    throw error;
  }
}

/** Why `p` is not to be signalled ('gone' for a zombie or a pid that vanished), or null when it may be. */
export function screen(ctx: ReaperContext, p: ProcessInfo, ancestors: Set<number>): SkipReason | null {
  return protectedReason(ctx, p, ancestors) ?? (p.state === 'Z' ? 'gone' : null) ?? ownership(ctx, p);
}
