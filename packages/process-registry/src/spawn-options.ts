import type { SpawnOptions } from 'node:child_process';
import { show } from '@spawnguard/internal';

/** The options spawn() accepts: Node's, minus the ones the registry decides, plus session and type. */
export interface RegistrySpawnOptions extends Omit<SpawnOptions, 'signal'> {
  /** The session the child belongs to; `reapSession(session)` stops all of them. */
  session: string;
  /** What kind of child this is (free text, e.g. 'mcp-server'); recorded for humans and filters. */
  type: string;
  /** Aborts the spawn: before the child starts nothing happens; after, the child is killed and not recorded. */
  signal?: AbortSignal;
}

const DEFAULT_STDIO = ['ignore', 'pipe', 'pipe'] as const;

/**
 * The options actually handed to child_process.spawn on `platform`.
 *
 * - POSIX: `detached: true`, so the child leads its own process group (pgid = pid) and the whole
 *   tree can be signalled at once through -pgid. Detached also means the child does not die with
 *   us by itself: shutdown() and, after a crash, reapLeftovers() are what end it.
 * - Windows: there are no process groups; `detached` would open a new console, so it is left to
 *   the caller (default false). killTree uses `taskkill /T` there.
 * - `windowsHide: true` unless the caller says otherwise.
 * - stdio: at most stdin/stdout/stderr. Node opens every socket and file it creates with
 *   O_CLOEXEC, so nothing but the stdio slots reaches the child: the daemon's listening socket is
 *   never inherited. Extra slots (index >= 3) and 'ipc' are refused because they would hand the
 *   child more descriptors.
 */
export function planSpawnOptions(platform: NodeJS.Platform, options: RegistrySpawnOptions): SpawnOptions {
  const { session: _session, type: _type, signal: _signal, stdio, ...rest } = options;
  checkStdio(stdio);
  const planned: SpawnOptions = {
    ...rest,
    stdio: stdio ?? [...DEFAULT_STDIO],
    windowsHide: rest.windowsHide ?? true,
  };
  if (platform === 'win32') planned.detached = rest.detached ?? false;
  else {
    if (rest.detached === false) {
      throw new TypeError('options.detached cannot be false on POSIX: the child must lead its own process group');
    }
    planned.detached = true;
  }
  return planned;
}

/** The process group a child spawned with these options leads: its own pid on POSIX; none on Windows. */
export function processGroupOf(platform: NodeJS.Platform, pid: number): number | null {
  return platform === 'win32' ? null : pid;
}

function checkStdio(stdio: SpawnOptions['stdio']): void {
  if (stdio === undefined || typeof stdio === 'string') {
    if (stdio !== undefined && !['pipe', 'ignore', 'inherit', 'overlapped'].includes(stdio)) {
      throw new TypeError(
        `options.stdio must be 'pipe', 'ignore', 'inherit' or an array of up to 3 entries, got ${show(stdio)}`,
      );
    }
    return;
  }
  if (!Array.isArray(stdio)) {
    throw new TypeError(`options.stdio must be a string or an array of up to 3 entries, got ${show(stdio)}`);
  }
  if (stdio.length > 3) {
    throw new TypeError(
      `options.stdio must have at most 3 entries (stdin, stdout, stderr), got ${stdio.length}: extra slots would hand the child more file descriptors`,
    );
  }
  if (stdio.includes('ipc')) {
    throw new TypeError("options.stdio must not contain 'ipc': it would hand the child an extra descriptor");
  }
}
