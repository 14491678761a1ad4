// Test helpers shared by the packages whose tests start real processes (not published): a unique
// marker per test, bounded polling, and cleanup by pid of only what carries the test's marker.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const newMarker = () => `spawnguard-test-${randomUUID().slice(0, 12)}`;

/** Bounded poll. */
export async function waitFor<T>(
  fn: () => T | Promise<T>,
  { timeoutMs = 5000, intervalMs = 20, what = 'condition' } = {},
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export function cmdlineOf(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

/** Other processes whose argv has `marker` as one whole element: how a test finds what it started. */
export function pidsCarrying(marker: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (/^\d+$/.test(name) && pid !== process.pid && cmdlineOf(pid).includes(marker)) found.push(pid);
  }
  return found;
}

export const alive = (pid: number) => existsSync(`/proc/${pid}`) && stateOf(pid) !== 'Z';

export function stateOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

/**
 * Processes started by one test: a unique marker in every argv, a temp folder, and cleanup that
 * kills by pid only what still carries this test's marker.
 */
export class TestProcesses {
  readonly marker = newMarker();
  readonly dir: string;
  readonly pids = new Set<number>();
  private children: ChildProcess[] = [];

  constructor(tempPrefix = 'spawnguard-test-') {
    this.dir = mkdtempSync(join(tmpdir(), tempPrefix));
  }

  /** node -e <code> <marker> ...args */
  node(code: string, args: string[] = [], options: { detached?: boolean } = {}): ChildProcess {
    const child = spawn(process.execPath, ['-e', code, this.marker, ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
      detached: options.detached ?? false,
    });
    this.track(child);
    return child;
  }

  spawn(file: string, args: string[]): ChildProcess {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    this.track(child);
    return child;
  }

  /** A script file in the temp folder. */
  script(name: string, source: string): string {
    const path = join(this.dir, name);
    writeFileSync(path, source, { mode: 0o755 });
    return path;
  }

  /** Reads `count` whitespace-separated pids that a child prints on stdout. */
  async readPids(child: ChildProcess, count: number, timeoutMs = 10_000): Promise<number[]> {
    let text = '';
    child.stdout?.on('data', (d: Buffer) => {
      text += d.toString();
    });
    const pids = await waitFor(
      () => {
        const found = text.split(/\s+/).filter(Boolean).map(Number);
        return found.length >= count ? found.slice(0, count) : null;
      },
      { timeoutMs, what: `${count} pids from child ${child.pid}` },
    );
    for (const pid of pids) this.pids.add(pid);
    return pids;
  }

  async cleanup(): Promise<void> {
    // Everything that still carries our marker: tracked pids plus any descendant they left behind.
    const ours = new Set([...this.pids, ...pidsCarrying(this.marker)]);
    for (const pid of ours) {
      if (pid > 1 && pid !== process.pid && cmdlineOf(pid).some((a) => a.includes(this.marker))) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {}
      }
    }
    for (const child of this.children) {
      if (child.exitCode === null && child.signalCode === null) {
        try {
          child.kill('SIGKILL');
        } catch {}
      }
    }
    await Promise.all(
      this.children.map((c) =>
        c.exitCode !== null || c.signalCode !== null ? null : new Promise((r) => c.once('exit', r)),
      ),
    );
    rmSync(this.dir, { recursive: true, force: true });
  }

  private track(child: ChildProcess) {
    this.children.push(child);
    if (child.pid) this.pids.add(child.pid);
  }
}
