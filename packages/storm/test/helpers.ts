import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listProcesses, type ProcessInfo } from '@spawnguard/process-table';

export const fixture = (name: string) => join(import.meta.dirname, 'fixtures', name);

/** A marker no process outside this test carries in its command line. */
export const newMarker = (what: string) => `spawnguard-test-storm-${what}-${randomBytes(4).toString('hex')}`;

export function tempDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'spawnguard-storm-test-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Live processes (not this one) whose command line carries the marker. */
export async function marked(marker: string): Promise<ProcessInfo[]> {
  const list = await listProcesses();
  return list.filter((p) => p.pid !== process.pid && p.cmdline.some((arg) => arg.includes(marker)));
}

/** Test cleanup: SIGKILL, by pid, every process carrying this test's unique marker. */
export async function killMarked(marker: string): Promise<number> {
  let n = 0;
  for (const p of await marked(marker)) {
    try {
      process.kill(p.pid, 'SIGKILL');
      n++;
    } catch {}
  }
  return n;
}

/** Polls `check` until it returns true or `timeoutMs` passes (bounded in time and count). */
export async function waitFor(
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  everyMs = 50,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 10_000 && Date.now() < deadline; i++) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return check();
}
