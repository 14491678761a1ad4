import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitUntil } from '../../../test-kit/net.ts';
import { pidsCarrying } from '../../../test-kit/processes.ts';

/** Every child (launchers and the daemons they spawn) carries this argv element. */
export const MARKER = `spawnguard-test-${randomBytes(4).toString('hex')}`;
export const FIXTURES = join(import.meta.dirname, 'fixtures');
export const DIST = join(import.meta.dirname, '..', 'dist', 'index.js');

const children = new Set<ChildProcess>();
const extraPids = new Set<number>();
const dirs = new Set<string>();

export interface Child {
  proc: ChildProcess;
  pid: number;
  lines: () => Record<string, unknown>[];
  stderr: () => string;
  exit: { code: number | null; signal: NodeJS.Signals | null } | null;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitForLine: (match: (line: Record<string, unknown>) => boolean, timeoutMs?: number) => Promise<void>;
}

export function startNode(script: string, args: string[]): Child {
  const proc = spawn(process.execPath, [join(FIXTURES, script), MARKER, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(proc);
  let out = '';
  let err = '';
  const parsed: Record<string, unknown>[] = [];
  proc.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
    let newline = out.indexOf('\n');
    while (newline >= 0) {
      const line = out.slice(0, newline);
      out = out.slice(newline + 1);
      try {
        parsed.push(JSON.parse(line));
      } catch {
        parsed.push({ unparsed: line });
      }
      newline = out.indexOf('\n');
    }
  });
  proc.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const child: Child = {
    proc,
    pid: proc.pid ?? -1,
    lines: () => parsed,
    stderr: () => err,
    exit: null,
    exited: new Promise((resolve) =>
      proc.once('close', (code, signal) => {
        child.exit = { code, signal };
        children.delete(proc);
        resolve({ code, signal });
      }),
    ),
    waitForLine: (match, timeoutMs = 60_000) =>
      waitUntil(() => parsed.some(match), timeoutMs, `a line from ${script} (pid ${proc.pid}); stderr: ${err}`),
  };
  return child;
}

/** Remember a pid we caused to exist outside our direct children (a detached daemon). */
export function adopt(pid: number): void {
  extraPids.add(pid);
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** SIGKILL one pid we started and wait (bounded) until it is gone. */
export async function killPid(pid: number): Promise<void> {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  await waitUntil(() => !alive(pid), 10_000, `pid ${pid} to die`).catch(() => {});
}

/** Kill what this file started, by pid: direct children and adopted daemons. */
export async function cleanup(): Promise<void> {
  const waits: Promise<unknown>[] = [];
  for (const proc of children) {
    if (proc.exitCode === null && proc.signalCode === null) {
      waits.push(new Promise((resolve) => proc.once('exit', resolve)));
      proc.kill('SIGKILL');
    }
  }
  children.clear();
  await Promise.all(waits);
  for (const dir of dirs) {
    markerPids(dir, 'spawn-'); // adopts daemons a failed test did not get to count
  }
  await Promise.all([...extraPids].map(killPid));
  extraPids.clear();
  // A daemon spawned just before the test ended may not have written its marker file yet; its argv
  // carries MARKER from exec on, so sweep by that (bounded) before its folder goes.
  for (let round = 0; round < 10; round++) {
    const left = pidsCarrying(MARKER);
    if (left.length === 0) break;
    await Promise.all(left.map(killPid));
  }
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  dirs.clear();
}

export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'spawn-mutex-'));
  dirs.add(dir);
  return dir;
}

/** Pids from `<dir>/<prefix><pid>` marker files; every one is adopted for cleanup. */
export function markerPids(dir: string, prefix: 'spawn-' | 'daemon-'): number[] {
  if (!existsSync(dir)) return [];
  const pids = readdirSync(dir)
    .filter((f) => f.startsWith(prefix))
    .map((f) => Number(f.slice(prefix.length)));
  for (const pid of pids) adopt(pid);
  return pids;
}

export { freePort, waitUntil } from '../../../test-kit/net.ts';
