import { createProcessTable } from './table.js';
import type { ListOptions, ProcessInfo } from './types.js';

export { DARWIN_PS_FIELDS, darwinIdentityArgs, darwinListArgs, parsePsOutput } from './darwin.js';
export { ProcessListError, ProcessListTimeoutError } from './errors.js';
export { parseCmdline, parseProcStat, USER_HZ } from './linux.js';
export type { ProcessTable, ProcessTableOptions } from './table.js';
export { createProcessTable } from './table.js';
export { ancestorsIn, childrenIn, descendantsIn } from './tree.js';
export type { ListOptions, ProcessInfo, ProcessTableEvents } from './types.js';
export {
  parseCimDate,
  parseWin32ProcessJson,
  parseWindowsCommandLine,
  windowsPowerShellArgs,
  windowsScript,
} from './windows.js';

const table = createProcessTable();

/** Events of the default table: `list` (one per shared listing) and `abandon`. */
export const events = table.events;

/** Every process. Single-flight (concurrent callers share one listing) and bounded by timeoutMs (default 5000). */
export const listProcesses = (options?: ListOptions): Promise<ProcessInfo[]> => table.listProcesses(options);

/** One process by pid, or null when there is none. Linux reads only /proc/<pid>. */
export const processIdentity = (pid: number, options?: ListOptions): Promise<ProcessInfo | null> =>
  table.processIdentity(pid, options);

/** Is `record` still the same, living process (same pid AND same start token; zombies count as exited)? */
export const isSameProcess = (record: { pid: number; startToken: string }, options?: ListOptions): Promise<boolean> =>
  table.isSameProcess(record, options);

/** Direct children of pid. */
export const childrenOf = (pid: number, options?: ListOptions): Promise<ProcessInfo[]> =>
  table.childrenOf(pid, options);

/** All descendants of pid, parents before children; pid itself is not included. */
export const treeOf = (pid: number, options?: ListOptions): Promise<ProcessInfo[]> => table.treeOf(pid, options);

/** Ancestors of pid, parent first, up to and including pid 1 (or the top). */
export const ancestorsOf = (pid: number, options?: ListOptions): Promise<ProcessInfo[]> =>
  table.ancestorsOf(pid, options);

/** Age in ms. Linux: from /proc/uptime (monotonic); elsewhere Date.now() - startTime. */
export const processAgeMs = (info: ProcessInfo): number => table.processAgeMs(info);
