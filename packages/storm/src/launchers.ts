import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { pause } from '@spawnguard/internal';
import { processIdentity } from '@spawnguard/process-table';

const isWindows = process.platform === 'win32';

/** A process the storm started (a launcher or the cleanup shell), in its own process group. */
export interface Started {
  pid: number | undefined;
  /** performance.now() at spawn. */
  spawnedAt: number;
  /** True until the exit (or spawn error) was seen; while true the pid (and so the group id) is ours. */
  running: boolean;
  /** Settles once: `"0"`, `"SIGTERM"`, `"error:ENOENT"`. */
  done: Promise<{ outcome: string; exitCode: number | null; signal: string | null; durationMs: number }>;
  child: ChildProcess;
}

export interface StartOptions {
  env: Record<string, string | undefined> | undefined;
  cwd: string | undefined;
  shell?: boolean;
  /** Keep the tail of stdout+stderr (cleanup command); launchers' output is ignored. */
  captureOutput?: boolean;
}

/**
 * Starts a process detached, so it leads its own process group: the storm can kill the launcher and
 * everything in its group with one `kill(-pgid)`, and a Ctrl-C in the terminal (sent to the
 * foreground group) does not reach it behind the storm's back.
 */
export function start(command: string, args: string[], options: StartOptions): Started & { output: () => string } {
  const spawnedAt = performance.now();
  let output = '';
  const child = spawn(command, args, {
    detached: true,
    stdio: options.captureOutput ? ['ignore', 'pipe', 'pipe'] : 'ignore',
    env: options.env ? { ...process.env, ...options.env } : process.env,
    cwd: options.cwd,
    shell: options.shell ?? false,
    windowsHide: true,
  });
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-2000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const started: Started & { output: () => string } = {
    pid: child.pid,
    spawnedAt,
    running: true,
    child,
    output: () => output,
    done: new Promise((resolve) => {
      // 'exit', not 'close': a daemon the launcher leaves behind may hold inherited pipes for minutes.
      child.once('exit', (code, signal) => {
        started.running = false;
        const durationMs = performance.now() - spawnedAt;
        resolve({ outcome: signal ?? String(code), exitCode: code, signal, durationMs });
      });
      child.once('error', (err: NodeJS.ErrnoException) => {
        // A spawn failure emits 'error' without 'exit'; an error after a successful spawn (a failed
        // kill) is not the end of the process, so only settle here when there is no pid.
        if (child.pid !== undefined) return;
        started.running = false;
        resolve({
          outcome: `error:${err.code ?? 'UNKNOWN'}`,
          exitCode: null,
          signal: null,
          durationMs: performance.now() - spawnedAt,
        });
      });
    }),
  };
  return started;
}

/** Does the process group `pgid` still have members? (POSIX; always false on Windows.) */
export function groupAlive(pgid: number): boolean {
  if (isWindows) return false;
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    // ESRCH: empty. EPERM: a group of another user, so certainly not one of ours.
    return false;
  }
}

function signalGroup(started: Started, signal: NodeJS.Signals): void {
  const pid = started.pid;
  if (pid === undefined) return;
  if (isWindows) {
    // No process groups: taskkill /T walks the tree, which only works while the launcher lives.
    if (started.running) {
      spawnSync('taskkill', ['/pid', String(pid), '/T', '/F'], { stdio: 'ignore', timeout: 5000, windowsHide: true });
    }
    return;
  }
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is empty already.
  }
}

/**
 * Is group `pid` still the group our process started? While the leader runs (not yet reaped) its pid
 * is ours. After it exited, the group can outlive it only through members it left behind, and the
 * kernel does not hand out a pid that is still in use as a group id; so if no process has that pid
 * now, any members of group `pid` are ours. If some process does have it, the pid was reused: hands off.
 */
async function isOurGroup(started: Started): Promise<boolean> {
  if (started.pid === undefined) return false;
  if (started.running) return true;
  if (!groupAlive(started.pid)) return false;
  return (await processIdentity(started.pid).catch(() => 'unknown')) === null;
}

/**
 * SIGTERM every group that is still ours, wait up to `graceMs` for them to empty, then SIGKILL what is
 * left. Returns how many groups were signalled.
 */
export async function killGroups(all: readonly Started[], graceMs: number): Promise<number> {
  const targets: Started[] = [];
  for (const started of all) if (await isOurGroup(started)) targets.push(started);
  if (targets.length === 0) return 0;
  for (const started of targets) signalGroup(started, 'SIGTERM');
  const alive = (s: Started) => s.running || (s.pid !== undefined && groupAlive(s.pid));
  const deadline = performance.now() + graceMs;
  while (performance.now() < deadline && targets.some(alive)) await pause(20);
  for (const started of targets) {
    if (alive(started) && (await isOurGroup(started))) signalGroup(started, 'SIGKILL');
  }
  // Let the exit events of launchers we just killed arrive (bounded; SIGKILL cannot be ignored).
  await Promise.race([Promise.all(targets.map((t) => t.done)), pause(2000)]);
  return targets.length;
}

/** Last resort from a synchronous `exit` handler: SIGKILL the groups of launchers still running. */
export function killRunningGroupsSync(all: Iterable<Started>): void {
  for (const started of all) if (started.running) signalGroup(started, 'SIGKILL');
}
