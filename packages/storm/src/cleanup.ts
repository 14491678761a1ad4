import { killGroups, type Started, start } from './launchers.js';
import { round1 } from './stats.js';
import type { CleanupResult } from './types.js';

/** Runs the cleanup shell command once, bounded by cleanupTimeoutMs and the storm's stop signal. */
export async function runCleanup(
  command: string,
  o: {
    env: Record<string, string | undefined> | undefined;
    cwd: string | undefined;
    cleanupTimeoutMs: number;
    killGraceMs: number;
  },
  helpers: Set<Started>,
  stop: AbortSignal,
): Promise<CleanupResult> {
  const shell = start(command, [], { env: o.env, cwd: o.cwd, shell: true, captureOutput: true });
  helpers.add(shell);
  let timedOut = false;
  const kill = () => killGroups([shell], o.killGraceMs);
  const timer = setTimeout(() => {
    timedOut = true;
    void kill();
  }, o.cleanupTimeoutMs);
  stop.addEventListener('abort', kill, { once: true });
  try {
    const end = await shell.done;
    const result: CleanupResult = {
      command,
      exitCode: end.exitCode,
      signal: end.signal,
      durationMs: round1(end.durationMs),
      timedOut,
      output: shell.output(),
    };
    if (end.outcome.startsWith('error:')) result.error = end.outcome.slice('error:'.length);
    return result;
  } finally {
    clearTimeout(timer);
    stop.removeEventListener('abort', kill);
  }
}
