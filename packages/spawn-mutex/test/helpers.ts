import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pidExists } from '@spawnguard/internal';
import { type FixtureChild, FixtureRunner } from '../../../test-kit/fixtures.js';
import { waitUntil } from '../../../test-kit/net.js';
import { pidsCarrying } from '../../../test-kit/processes.js';

/** Every child (launchers and the daemons they spawn) carries this argv element. */
export const MARKER = `spawnguard-test-${randomBytes(4).toString('hex')}`;
export const FIXTURES = join(import.meta.dirname, 'fixtures');
export const DIST = join(import.meta.dirname, '..', 'dist', 'index.js');

const runner = new FixtureRunner(FIXTURES, MARKER);
const extraPids = new Set<number>();
const dirs = new Set<string>();

type Line = Record<string, unknown>;

export interface Child extends FixtureChild {
  /** Complete stdout lines, each parsed as JSON ({unparsed} when it is not). */
  lines: () => Line[];
  waitForLine: (match: (line: Line) => boolean, timeoutMs?: number) => Promise<void>;
}

function parseLines(out: string): Line[] {
  return out
    .split('\n')
    .slice(0, -1) // the last piece is an unfinished line (or empty)
    .map((line) => {
      try {
        return JSON.parse(line) as Line;
      } catch {
        return { unparsed: line };
      }
    });
}

export function startNode(script: string, args: string[]): Child {
  const child = runner.start(script, args);
  return Object.assign(child, {
    lines: () => parseLines(child.stdout()),
    waitForLine: (match: (line: Line) => boolean, timeoutMs = 60_000) =>
      child.waitForOutput((out) => parseLines(out).some(match), timeoutMs, 'a line'),
  });
}

/** Remember a pid we caused to exist outside our direct children (a detached daemon). */
export function adopt(pid: number): void {
  extraPids.add(pid);
}

/** Is there a process with this pid (EPERM counts)? */
export const alive = pidExists;

/** SIGKILL one pid we started and wait (bounded) until it is gone. */
export async function killPid(pid: number): Promise<void> {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  await waitUntil(() => !alive(pid), 10_000, `pid ${pid} to die`).catch(() => {});
}

/**
 * SIGKILL every process whose argv carries `text` (this file's MARKER, or one trial's temp folder),
 * in bounded rounds: a duplicate daemon a launcher spawned an instant ago has no marker file yet,
 * but its argv names the folder from exec on.
 */
export async function killCarrying(text: string): Promise<void> {
  for (let round = 0; round < 10; round++) {
    const left = pidsCarrying(text);
    if (left.length === 0) return;
    await Promise.all(left.map(killPid));
  }
}

/** Kill what this file started, by pid: direct children and adopted daemons. */
export async function cleanup(): Promise<void> {
  await runner.killAll();
  for (const dir of dirs) {
    markerPids(dir, 'spawn-'); // adopts daemons a failed test did not get to count
  }
  await Promise.all([...extraPids].map(killPid));
  extraPids.clear();
  // A daemon spawned just before the test ended may not have written its marker file yet; its argv
  // carries MARKER from exec on, so sweep by that (bounded) before its folder goes.
  await killCarrying(MARKER);
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

export { freePort, waitUntil } from '../../../test-kit/net.js';
