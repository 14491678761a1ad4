import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type FixtureChild, FixtureRunner } from '../../../test-kit/fixtures.js';

/** Every child gets this as an argv element, so a leak is findable with `ps -ef | grep`. */
export const MARKER = `spawnguard-test-${randomBytes(4).toString('hex')}`;
export const FIXTURES = join(import.meta.dirname, 'fixtures');

const runner = new FixtureRunner(FIXTURES, MARKER);
const dirs = new Set<string>();

export interface Child extends FixtureChild {
  /** Resolves once stdout contains `text`. */
  waitFor: (text: string, timeoutMs?: number) => Promise<void>;
}

export function startChild(script: string, args: string[]): Child {
  const child = runner.start(script, args);
  return Object.assign(child, {
    waitFor: (text: string, timeoutMs = 20_000) =>
      child.waitForOutput((out) => out.includes(text), timeoutMs, JSON.stringify(text)),
  });
}

/** Kill what this test file started, by pid, and wait for it to be gone. */
export function killChildren(): Promise<void> {
  return runner.killAll();
}

export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bind-or-die-'));
  dirs.add(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  dirs.clear();
}

export { freePort, waitUntil } from '../../../test-kit/net.js';
