/** killTree was pointed at a process it must never signal: itself, an ancestor, pid <= 1. */
export class ProtectedProcessError extends Error {
  readonly code = 'EPROTECTED' as const;
  readonly pid: number;
  readonly reason: 'self' | 'ancestor' | 'pid<=1' | 'kernel';

  constructor(pid: number, reason: ProtectedProcessError['reason']) {
    const why = {
      self: 'it is this process',
      ancestor: 'it is an ancestor of this process',
      'pid<=1': 'pids 0 and 1 belong to the kernel and init',
      kernel: 'it is a kernel process',
    }[reason];
    super(`refusing to kill the tree of pid ${pid}: ${why}`);
    this.name = 'ProtectedProcessError';
    this.pid = pid;
    this.reason = reason;
  }
}
