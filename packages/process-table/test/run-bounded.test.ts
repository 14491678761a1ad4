import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { ProcessListError, ProcessListTimeoutError } from '../src/errors.js';
import { runBounded } from '../src/run-bounded.js';

const started: number[] = [];
afterEach(() => {
  // Safety net: anything these tests started that is somehow still there.
  for (const pid of started.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }
});
const track = (pid: number) => started.push(pid);

describe.runIf(process.platform !== 'win32')('runBounded (real children)', () => {
  it('collects stdout, stderr and the exit code', async () => {
    const r = await runBounded('/bin/sh', ['-c', 'printf "out\\n"; printf err >&2; exit 3'], { onSpawn: track });
    expect(r.stdout.toString()).toBe('out\n');
    expect(r.stderr).toBe('err');
    expect(r.exitCode).toBe(3);
  });

  it('kills and reaps a child that outlives timeoutMs (no zombie left)', async () => {
    let pid = 0;
    const t = performance.now();
    const error = await runBounded('sleep', ['30'], {
      timeoutMs: 200,
      onSpawn: (p) => {
        pid = p;
        track(p);
      },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProcessListTimeoutError);
    expect((error as ProcessListTimeoutError).code).toBe('EPROCLISTTIMEOUT');
    expect((error as ProcessListTimeoutError).timeoutMs).toBe(200);
    expect(performance.now() - t).toBeLessThan(5000);
    expect(pid).toBeGreaterThan(0);
    // Rejected only after 'close': the kernel has no entry left, not even a zombie.
    expect(existsSync(`/proc/${pid}`)).toBe(false);
  });

  it('kills and reaps on abort and rejects with signal.reason', async () => {
    let pid = 0;
    const ac = new AbortController();
    const reason = new Error('caller gave up');
    const p = runBounded('sleep', ['30'], {
      signal: ac.signal,
      onSpawn: (x) => {
        pid = x;
        track(x);
      },
    });
    setTimeout(() => ac.abort(reason), 100);
    await expect(p).rejects.toBe(reason);
    expect(existsSync(`/proc/${pid}`)).toBe(false);
  });

  it('rejects at once for an already aborted signal without spawning', async () => {
    let spawned = false;
    const reason = new Error('already');
    await expect(
      runBounded('sleep', ['30'], { signal: AbortSignal.abort(reason), onSpawn: () => (spawned = true) }),
    ).rejects.toBe(reason);
    expect(spawned).toBe(false);
  });

  it('kills a child that prints more than maxBuffer', async () => {
    let pid = 0;
    const error = await runBounded('yes', [], {
      maxBuffer: 10_000,
      onSpawn: (x) => {
        pid = x;
        track(x);
      },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProcessListError);
    expect(String(error)).toMatch(/more than 10000 bytes/);
    expect(existsSync(`/proc/${pid}`)).toBe(false);
  });

  it('rejects with the spawn error for a missing executable', async () => {
    const error = await runBounded('/nonexistent/spawnguard-no-such-ps', [], { timeoutMs: 5000 }).catch((e) => e);
    expect((error as NodeJS.ErrnoException).code).toBe('ENOENT');
  });
});
