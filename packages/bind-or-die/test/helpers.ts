import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitUntil } from '../../../test-kit/net.ts';

/** Every child gets this as an argv element, so a leak is findable with `ps -ef | grep`. */
export const MARKER = `spawnguard-test-${randomBytes(4).toString('hex')}`;
export const FIXTURES = join(import.meta.dirname, 'fixtures');

const children = new Set<ChildProcess>();
const dirs = new Set<string>();

export interface Child {
  proc: ChildProcess;
  pid: number;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exit: { code: number | null; signal: NodeJS.Signals | null } | null;
  /** Resolves once stdout contains `text`. */
  waitFor: (text: string, timeoutMs?: number) => Promise<void>;
}

export function startChild(script: string, args: string[]): Child {
  const proc = spawn(process.execPath, [join(FIXTURES, script), MARKER, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(proc);
  let out = '';
  let err = '';
  proc.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  proc.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const child: Child = {
    proc,
    pid: proc.pid ?? -1,
    stdout: () => out,
    stderr: () => err,
    exit: null,
    exited: new Promise((resolve) =>
      proc.once('close', (code, signal) => {
        child.exit = { code, signal };
        children.delete(proc);
        resolve({ code, signal });
      }),
    ),
    waitFor: (text, timeoutMs = 20_000) =>
      waitUntil(() => out.includes(text), timeoutMs, `"${text}" from ${script} (pid ${proc.pid}); stderr: ${err}`),
  };
  return child;
}

/** Kill what this test file started, by pid, and wait for it to be gone. */
export async function killChildren(): Promise<void> {
  const waits: Promise<unknown>[] = [];
  for (const proc of children) {
    if (proc.exitCode === null && proc.signalCode === null) {
      waits.push(new Promise((resolve) => proc.once('exit', resolve)));
      proc.kill('SIGKILL');
    }
  }
  children.clear();
  await Promise.all(waits);
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

export { freePort, waitUntil } from '../../../test-kit/net.ts';
