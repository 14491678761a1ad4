// Fixture scripts run as real child processes: `node <fixtures>/<script> <marker> ...args`, their
// output collected and their lifetime tracked, so a test file can kill what it started by pid.
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { waitUntil } from './net.ts';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface FixtureChild {
  proc: ChildProcess;
  pid: number;
  stdout: () => string;
  stderr: () => string;
  /** Set once the child has closed. */
  exit: Exit | null;
  exited: Promise<Exit>;
  /** Bounded wait until `check(stdout)` holds; a timeout names the script, the pid and its stderr. */
  waitForOutput: (check: (stdout: string) => boolean, timeoutMs: number, what: string) => Promise<void>;
}

export class FixtureRunner {
  private readonly live = new Set<ChildProcess>();

  constructor(
    private readonly fixtures: string,
    private readonly marker: string,
  ) {}

  start(script: string, args: string[]): FixtureChild {
    const proc = spawn(process.execPath, [join(this.fixtures, script), this.marker, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.live.add(proc);
    let out = '';
    let err = '';
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    proc.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const child: FixtureChild = {
      proc,
      pid: proc.pid ?? -1,
      stdout: () => out,
      stderr: () => err,
      exit: null,
      exited: new Promise((resolve) =>
        proc.once('close', (code, signal) => {
          child.exit = { code, signal };
          this.live.delete(proc);
          resolve({ code, signal });
        }),
      ),
      waitForOutput: (check, timeoutMs, what) =>
        waitUntil(() => check(out), timeoutMs, `${what} from ${script} (pid ${proc.pid}); stderr: ${err}`),
    };
    return child;
  }

  /** SIGKILL every child still running and wait for each to exit. */
  async killAll(): Promise<void> {
    const waits: Promise<unknown>[] = [];
    for (const proc of this.live) {
      if (proc.exitCode === null && proc.signalCode === null) {
        waits.push(new Promise((resolve) => proc.once('exit', resolve)));
        proc.kill('SIGKILL');
      }
    }
    this.live.clear();
    await Promise.all(waits);
  }
}
