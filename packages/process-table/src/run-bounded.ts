import { spawn } from 'node:child_process';
import { ProcessListError, ProcessListTimeoutError } from './errors.js';

export interface RunResult {
  exitCode: number | null;
  stdout: Buffer;
  stderr: string;
}

export interface RunOptions {
  /** Kill the child and reject with ProcessListTimeoutError after this many ms. */
  timeoutMs?: number;
  /** Kill the child and reject with signal.reason. */
  signal?: AbortSignal;
  /** Kill the child and reject when stdout grows past this many bytes. Default 64 MiB. */
  maxBuffer?: number;
  env?: NodeJS.ProcessEnv;
  /** Test hook: told the child's pid right after spawn. */
  onSpawn?: (pid: number) => void;
}

export type RunCommand = (file: string, args: readonly string[], options: RunOptions) => Promise<RunResult>;

/**
 * Runs one command and collects its output, bounded: on timeout, abort or overflow the child gets
 * SIGKILL and we wait for 'close' (the child has been reaped by then: no zombie, no pile-up) before
 * rejecting. A non-zero exit is not an error here; callers decide (ps -p exits 1 for "no such pid").
 */
export const runBounded: RunCommand = (file, args, options) =>
  new Promise<RunResult>((resolve, reject) => {
    const { timeoutMs, signal, maxBuffer = 64 * 1024 * 1024, env, onSpawn } = options;
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true, env });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let failure: { error: unknown } | undefined;
    let timer: NodeJS.Timeout | undefined;

    const stop = (error: unknown) => {
      if (failure) return;
      failure = { error };
      child.kill('SIGKILL');
    };
    const onAbort = () => stop(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => stop(new ProcessListTimeoutError(timeoutMs, `${file} ${args.join(' ')}`)), timeoutMs);
    }
    if (child.pid !== undefined) onSpawn?.(child.pid);

    child.stdout.on('data', (chunk: Buffer) => {
      outBytes += chunk.length;
      if (outBytes > maxBuffer) {
        stop(new ProcessListError(`${file} printed more than ${maxBuffer} bytes`, { command: file }));
        return;
      }
      out.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (err.length < 64) err.push(chunk);
    });
    child.on('error', (error) => {
      // Spawn failed (ENOENT, EACCES): there is no child to reap; 'close' may still follow.
      if (!failure) failure = { error };
      if (child.pid === undefined) finish();
    });
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (failure) reject(failure.error);
      else
        resolve({ exitCode: child.exitCode, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') });
    };
    // 'close' fires after the exit was reaped and both pipes drained.
    child.on('close', finish);
  });
