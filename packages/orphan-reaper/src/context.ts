import { execFile } from 'node:child_process';
import { checkFunction, checkMs, checkOptions, show } from '@spawnguard/internal';
import type { ProcessTable } from '@spawnguard/process-table';
import * as processTable from '@spawnguard/process-table';
import mitt from 'mitt';
import type { ReaperEmitter } from './types.js';

export const PACKAGE = '@spawnguard/orphan-reaper';

export type TableLike = Pick<
  ProcessTable,
  'platform' | 'listProcesses' | 'isSameProcess' | 'processAgeMs' | 'processIdentity' | 'ancestorsOf'
>;

export type RunCommand = (
  file: string,
  args: string[],
  options: { signal?: AbortSignal },
) => Promise<{ exitCode: number | null; stdout: string; stderr: string }>;

export interface ReaperOptions {
  /** Where processes come from. Default: @spawnguard/process-table's functions for this platform. */
  table?: TableLike;
  /** Sends a POSIX signal. Default process.kill. */
  kill?: (pid: number, signal: NodeJS.Signals | 0) => void;
  /** Runs taskkill on Windows. Default: execFile, hidden window, 10 s bound. */
  runCommand?: RunCommand;
  /** How often to check whether signalled processes are gone. Default 20 ms (Linux), 100 ms (macOS), 500 ms (Windows). */
  pollIntervalMs?: number;
  events?: ReaperEmitter;
}

/** What every part of a reaper works with: the process table, how to signal, and who we are. */
export interface ReaperContext {
  readonly table: TableLike;
  readonly kill: (pid: number, signal: NodeJS.Signals | 0) => void;
  readonly runCommand: RunCommand;
  readonly windows: boolean;
  readonly linux: boolean;
  readonly pollIntervalMs: number;
  readonly events: ReaperEmitter;
  readonly selfPid: number;
  /** undefined where the platform has no uids (Windows). */
  readonly myUid: number | undefined;
}

const defaultTable: TableLike = {
  platform: process.platform,
  listProcesses: processTable.listProcesses,
  isSameProcess: processTable.isSameProcess,
  processAgeMs: processTable.processAgeMs,
  processIdentity: processTable.processIdentity,
  ancestorsOf: processTable.ancestorsOf,
};

const defaultRunCommand: RunCommand = (file, args, { signal }) =>
  new Promise((resolve) => {
    execFile(file, args, { windowsHide: true, timeout: 10_000, signal }, (error, stdout, stderr) => {
      const code = (error as { code?: unknown } | null)?.code;
      resolve({ exitCode: error ? (typeof code === 'number' ? code : null) : 0, stdout, stderr });
    });
  });

/** createReaper's options, checked, with their defaults. */
export function createContext(options: unknown): ReaperContext {
  const opts = checkOptions('options', options) as ReaperOptions;
  const table = opts.table ?? defaultTable;
  if (!table || typeof table.listProcesses !== 'function' || typeof table.isSameProcess !== 'function') {
    throw new TypeError(`table must provide listProcesses and isSameProcess, got ${show(table)}`);
  }
  const kill = checkFunction<ReaperContext['kill']>(
    'kill',
    opts.kill ?? ((pid: number, sig: NodeJS.Signals | 0) => process.kill(pid, sig)),
  );
  const runCommand = checkFunction<RunCommand>('runCommand', opts.runCommand ?? defaultRunCommand);
  const windows = table.platform === 'win32';
  const linux = table.platform === 'linux';
  const pollIntervalMs = checkMs('pollIntervalMs', opts.pollIntervalMs, {
    minExclusive: true,
    fallback: windows ? 500 : linux ? 20 : 100,
  });
  return {
    table,
    kill,
    runCommand,
    windows,
    linux,
    pollIntervalMs,
    events: opts.events ?? mitt(),
    selfPid: process.pid,
    myUid: typeof process.getuid === 'function' ? process.getuid() : undefined,
  };
}
