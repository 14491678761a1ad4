import { checkFunction, checkPid, safeEmit, show } from '@spawnguard/internal';
import mitt, { type Emitter } from 'mitt';
import { darwinEnv, darwinIdentityArgs, darwinListArgs, parsePsOutput } from './darwin.js';
import { ProcessListError, ProcessListTimeoutError } from './errors.js';
import { LinuxProc } from './linux.js';
import { type RunCommand, runBounded } from './run-bounded.js';
import { SingleFlight } from './single-flight.js';
import { parsePidStartToken } from './token.js';
import { ancestorsIn, childrenIn, descendantsIn } from './tree.js';
import type { ListOptions, ProcessInfo, ProcessTableEvents } from './types.js';
import { checkListOptions } from './validate.js';
import { parseWin32ProcessJson, WINDOWS_SHELL, windowsPowerShellArgs } from './windows.js';

export interface ProcessTableOptions {
  /** Which implementation to use. Default: process.platform ('linux', 'darwin', 'win32'; other Unixes use ps). */
  platform?: NodeJS.Platform;
  /** Linux: where procfs is mounted. Default '/proc'. */
  procRoot?: string;
  /** How ps/PowerShell are run (tests swap the command, never the bounding). Default: runBounded. */
  runCommand?: RunCommand;
  /** Override the ps / powershell.exe executable (tests point it at a fixture printer). */
  command?: string;
}

export interface ProcessTable {
  readonly platform: NodeJS.Platform;
  readonly events: Emitter<ProcessTableEvents>;
  listProcesses(options?: ListOptions): Promise<ProcessInfo[]>;
  processIdentity(pid: number, options?: ListOptions): Promise<ProcessInfo | null>;
  isSameProcess(record: { pid: number; startToken: string }, options?: ListOptions): Promise<boolean>;
  childrenOf(pid: number, options?: ListOptions): Promise<ProcessInfo[]>;
  treeOf(pid: number, options?: ListOptions): Promise<ProcessInfo[]>;
  ancestorsOf(pid: number, options?: ListOptions): Promise<ProcessInfo[]>;
  processAgeMs(info: ProcessInfo): number;
}

const SUPPORTED = ['aix', 'android', 'darwin', 'freebsd', 'linux', 'openbsd', 'sunos', 'win32', 'netbsd', 'cygwin'];

/**
 * Runs `work` with a signal that aborts on the caller's signal or after timeoutMs (with
 * ProcessListTimeoutError), and settles as soon as that signal aborts. The timer is unref'd.
 */
async function bounded<T>(
  work: (signal: AbortSignal) => Promise<T>,
  signal: AbortSignal | undefined,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new ProcessListTimeoutError(timeoutMs, what)), timeoutMs);
  timer.unref();
  const onAbort = () => controller.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await work(controller.signal);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

/** A process table bound to one platform implementation. The package's functions use a default one. */
export function createProcessTable(options: ProcessTableOptions = {}): ProcessTable {
  const { platform = process.platform, procRoot = '/proc', runCommand = runBounded, command } = options;
  if (typeof platform !== 'string' || !SUPPORTED.includes(platform)) {
    throw new RangeError(`platform must be one of ${SUPPORTED.join(', ')}, got ${show(platform)}`);
  }
  if (typeof procRoot !== 'string' || procRoot === '') {
    throw new TypeError(`procRoot must be a non-empty path, got ${show(procRoot)}`);
  }
  checkFunction('runCommand', runCommand);
  const events = mitt<ProcessTableEvents>();
  const emit = <K extends keyof ProcessTableEvents>(type: K, payload: ProcessTableEvents[K]) =>
    safeEmit('@spawnguard/process-table', events, type, payload);

  const linux = platform === 'linux' ? new LinuxProc(procRoot) : undefined;
  const windows = platform === 'win32';
  const file = command ?? (windows ? WINDOWS_SHELL : 'ps');

  /** Runs ps/PowerShell once; bounded by `signal` (aborted by the single-flight when every caller left). */
  const runTool = async (args: string[], signal: AbortSignal | undefined, timeoutMs?: number) => {
    return runCommand(file, args, { signal, timeoutMs, env: windows ? undefined : darwinEnv() });
  };

  const parse = (stdout: Buffer) => (windows ? parseWin32ProcessJson(stdout) : parsePsOutput(stdout));

  const listOnce = async (signal: AbortSignal): Promise<ProcessInfo[]> => {
    const started = performance.now();
    let list: ProcessInfo[];
    if (linux) list = await linux.list(signal);
    else {
      const result = await runTool(windows ? windowsPowerShellArgs() : darwinListArgs(), signal);
      if (result.exitCode !== 0) {
        throw new ProcessListError(`${file} exited with code ${result.exitCode}: ${result.stderr.trim()}`, {
          command: file,
          exitCode: result.exitCode,
          stderr: result.stderr,
        });
      }
      list = parse(result.stdout);
      if (list.length === 0) {
        throw new ProcessListError(`${file} printed no process we could read; is it the expected ps/PowerShell?`, {
          command: file,
          exitCode: result.exitCode,
          stderr: result.stderr,
        });
      }
    }
    durations.set(list, performance.now() - started);
    return list;
  };
  const durations = new WeakMap<ProcessInfo[], number>();

  const flight = new SingleFlight<ProcessInfo[]>(listOnce, {
    onDone: (list, callers) =>
      emit('list', { platform, count: list.length, durationMs: durations.get(list) ?? 0, callers }),
    onAbandon: (reason) => emit('abandon', { platform, reason }),
  });

  const listProcesses = async (opts?: ListOptions): Promise<ProcessInfo[]> => {
    const checked = checkListOptions(opts);
    // Each caller gets its own array; the records are shared and should be treated as read-only.
    return (await flight.run(checked)).slice();
  };

  const processIdentity = async (pid: number, opts?: ListOptions): Promise<ProcessInfo | null> => {
    checkPid('pid', pid);
    const { signal, timeoutMs } = checkListOptions(opts);
    if (signal?.aborted) throw signal.reason;
    if (linux) return bounded((bound) => linux.identity(pid, bound), signal, timeoutMs, 'process identity');
    const result = await runTool(windows ? windowsPowerShellArgs(pid) : darwinIdentityArgs(pid), signal, timeoutMs);
    // ps -p exits 1 when the pid does not exist; PowerShell prints nothing.
    const found = result.exitCode === 0 || result.stdout.length > 0 ? parse(result.stdout) : [];
    if (result.exitCode !== 0 && result.exitCode !== 1) {
      throw new ProcessListError(`${file} exited with code ${result.exitCode}: ${result.stderr.trim()}`, {
        command: file,
        exitCode: result.exitCode,
        stderr: result.stderr,
      });
    }
    return found.find((p) => p.pid === pid) ?? null;
  };

  const isSameProcess = async (record: { pid: number; startToken: string }, opts?: ListOptions) => {
    if (!record || typeof record !== 'object') throw new TypeError(`record must be an object, got ${show(record)}`);
    checkPid('record.pid', record.pid);
    if (typeof record.startToken !== 'string' || record.startToken === '') {
      throw new TypeError(`record.startToken must be a non-empty string, got ${show(record.startToken)}`);
    }
    const { signal } = checkListOptions(opts);
    if (signal?.aborted) throw signal.reason;
    if (linux) {
      // Only /proc/<pid>/stat: same boot, same start ticks, and not a zombie (a zombie has exited).
      const ticks = linux.ticksOf(record.startToken);
      if (ticks === null) return false;
      const stat = linux.readStat(record.pid);
      return stat !== null && stat.startTicks === ticks && stat.state !== 'Z' && stat.state !== 'X';
    }
    // `<pid>:<startTime>`, for this very pid, or it cannot be that process: no ps/PowerShell run.
    if (parsePidStartToken(record.startToken)?.pid !== record.pid) return false;
    const info = await processIdentity(record.pid, opts);
    return info !== null && info.startToken === record.startToken && info.state !== 'Z';
  };

  const childrenOf = async (pid: number, opts?: ListOptions) => {
    checkPid('pid', pid);
    return childrenIn(await listProcesses(opts), pid);
  };

  const treeOf = async (pid: number, opts?: ListOptions) => {
    checkPid('pid', pid);
    return descendantsIn(await listProcesses(opts), pid);
  };

  const ancestorsOf = async (pid: number, opts?: ListOptions): Promise<ProcessInfo[]> => {
    checkPid('pid', pid);
    if (!linux) return ancestorsIn(await listProcesses(opts), pid);
    // Linux: walk up /proc/<pid>/stat; a few reads instead of a full listing.
    const { signal, timeoutMs } = checkListOptions(opts);
    if (signal?.aborted) throw signal.reason;
    return bounded(
      async (bound) => {
        const out: ProcessInfo[] = [];
        const seen = new Set([pid]);
        let current = await linux.identity(pid, bound);
        while (current && current.pid !== 1 && current.ppid > 0 && !seen.has(current.ppid)) {
          seen.add(current.ppid);
          const parent = await linux.identity(current.ppid, bound);
          if (!parent) break;
          out.push(parent);
          current = parent;
        }
        return out;
      },
      signal,
      timeoutMs,
      'ancestors listing',
    );
  };

  const processAgeMs = (info: ProcessInfo): number => {
    if (!info || typeof info !== 'object') throw new TypeError(`info must be a ProcessInfo, got ${show(info)}`);
    const monotonic = linux && typeof info.startToken === 'string' ? linux.ageMs(info.startToken) : null;
    if (monotonic !== null) return monotonic;
    if (typeof info.startTime !== 'number' || !Number.isFinite(info.startTime)) {
      throw new TypeError(`info.startTime must be a finite number, got ${show(info.startTime)}`);
    }
    return Math.max(0, Date.now() - info.startTime);
  };

  return {
    platform,
    events,
    listProcesses,
    processIdentity,
    isSameProcess,
    childrenOf,
    treeOf,
    ancestorsOf,
    processAgeMs,
  };
}
