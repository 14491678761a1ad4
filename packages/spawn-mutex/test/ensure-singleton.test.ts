import { spawn as spawnChild } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { captureWarnings, listenerWarning } from '@spawnguard/internal/testing';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  acquireSpawnLock,
  createSpawnMutexEvents,
  type EnsureSingletonOptions,
  ensureSingleton,
  LockUnavailableError,
  SpawnTimeoutError,
} from '../src/index.js';
import { adopt, cleanup, freePort, MARKER, tempDir } from './helpers.js';

const servers: Server[] = [];
const releases: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const release of releases.splice(0)) await release();
  for (const s of servers.splice(0)) await new Promise((resolve) => s.close(resolve));
  await cleanup();
});

/** A real "daemon": an HTTP server in this process, started by spawn(). */
async function daemon(port: number): Promise<void> {
  const server = createServer((_req, res) => res.end('ok'));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen({ port, host: '127.0.0.1' }, resolve));
}

/** A real health check: GET with a short timeout. */
const healthOf =
  (port: number) =>
  ({ signal }: { signal: AbortSignal }) =>
    new Promise<boolean>((resolve) => {
      const req = request({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 300, signal }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200));
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(false));
      req.end();
    });

function recorder() {
  const events = createSpawnMutexEvents();
  const seen: string[] = [];
  events.on('*', (type) => seen.push(String(type)));
  return { events, seen };
}

async function setup(overrides: Partial<EnsureSingletonOptions> = {}) {
  const dir = tempDir();
  const port = await freePort();
  const spawn = vi.fn(() => daemon(port));
  const { events, seen } = recorder();
  const options: EnsureSingletonOptions = {
    lockPath: join(dir, 'daemon'),
    isHealthy: healthOf(port),
    spawn,
    waitTimeoutMs: 10_000,
    events,
    ...overrides,
  };
  return { dir, port, spawn, events, seen, options };
}

describe('ensureSingleton', () => {
  it('fast path: a healthy daemon means no lock and no file system call at all', async () => {
    const { port, spawn, seen, options } = await setup({ lockPath: '/nonexistent-folder-spawn-mutex/daemon' });
    await daemon(port);
    const result = await ensureSingleton(options);
    expect(result.outcome).toBe('already-running');
    expect(spawn).not.toHaveBeenCalled();
    expect(seen).toEqual(['fastPath']);
    expect(existsSync('/nonexistent-folder-spawn-mutex')).toBe(false);
  });

  it('spawns when nothing is healthy, waits for health, releases the lock', async () => {
    const { dir, spawn, seen, options } = await setup();
    const result = await ensureSingleton(options);
    expect(result.outcome).toBe('spawned');
    expect(result.elapsedMs).toBeGreaterThanOrEqual(0);
    expect(spawn).toHaveBeenCalledTimes(1);
    // This spawn() resolves with nothing: no hand-off possible, and the event says so.
    expect(seen).toEqual(['lockAcquired', 'spawnWithoutPid', 'spawned', 'healthy']);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('waits for health while a live owner holds the lock, without spawning', async () => {
    const { port, spawn, events, seen, options } = await setup();
    const release = await acquireSpawnLock(options.lockPath);
    expect(release).not.toBeNull();
    releases.push(release!);
    // The daemon comes up once the caller has found the lock busy (not after a delay a busy machine outlasts).
    events.on('lockBusy', () => void daemon(port));
    const result = await ensureSingleton(options);
    expect(result.outcome).toBe('waited');
    expect(spawn).not.toHaveBeenCalled();
    expect(seen).toEqual(['lockBusy', 'healthy']);
  });

  it('competes again when the holder releases without a healthy daemon', async () => {
    const { spawn, events, seen, options } = await setup();
    const release = await acquireSpawnLock(options.lockPath);
    events.on('lockBusy', () => void release!());
    const result = await ensureSingleton(options);
    expect(result.outcome).toBe('spawned');
    expect(spawn).toHaveBeenCalledTimes(1);
    expect(seen).toEqual(['lockBusy', 'lockAcquired', 'spawnWithoutPid', 'spawned', 'healthy']);
  });

  it('times out with SpawnTimeoutError when the holder never produces a healthy daemon', async () => {
    const { options, seen, spawn } = await setup({ waitTimeoutMs: 300 });
    const release = await acquireSpawnLock(options.lockPath);
    releases.push(release!);
    const error = await ensureSingleton(options).catch((e) => e);
    expect(error).toBeInstanceOf(SpawnTimeoutError);
    expect(error).toMatchObject({
      code: 'ESPAWNTIMEOUT',
      waitTimeoutMs: 300,
      lockPath: options.lockPath,
      spawned: false,
    });
    expect(error.message).toContain('no healthy daemon within 300 ms');
    expect(seen.at(-1)).toBe('timeout');
    expect(spawn).not.toHaveBeenCalled();
  });

  it('the spawner gives up after spawnTimeoutMs, releases the lock, and says it spawned', async () => {
    const { dir, options } = await setup({ spawn: () => {}, spawnTimeoutMs: 200 });
    const error = await ensureSingleton(options).catch((e) => e);
    expect(error).toMatchObject({ code: 'ESPAWNTIMEOUT', waitTimeoutMs: 200, spawned: true });
    expect(error.message).toContain('spawned the daemon but it was not healthy within 200 ms');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a spawn that throws rejects with its error and releases the lock', async () => {
    const boom = new Error('ENOENT: daemon binary missing');
    const { dir, options } = await setup({
      spawn: () => {
        throw boom;
      },
    });
    await expect(ensureSingleton(options)).rejects.toBe(boom);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('runs spawn + health wait through any { execute } breaker; its rejection reaches the caller', async () => {
    const calls: string[] = [];
    const refusal = Object.assign(new Error('circuit open'), { retryAfterMs: 5000 });
    let open = false;
    const breaker = {
      async execute<T>(fn: () => T | PromiseLike<T>) {
        calls.push('execute');
        if (open) throw refusal;
        return fn();
      },
    };
    const first = await setup({ breaker });
    expect((await ensureSingleton(first.options)).outcome).toBe('spawned');
    expect(calls).toEqual(['execute']);
    open = true;
    const second = await setup({ breaker });
    await expect(ensureSingleton(second.options)).rejects.toBe(refusal);
    expect(second.spawn).not.toHaveBeenCalled();
  });

  it('with the real circuit breaker: 3 failed spawns open it, then BrokenCircuitError with retryAfterMs', async () => {
    const path = join(import.meta.dirname, '..', '..', 'circuit-breaker', 'dist', 'index.js');
    const { circuitBreaker } = await import(pathToFileURL(path).href);
    const breaker = circuitBreaker({ failureThreshold: 3, cooldownMs: 60_000 });
    const spawn = vi.fn();
    for (let i = 0; i < 3; i++) {
      const { options } = await setup({ breaker, spawn, spawnTimeoutMs: 100 });
      await expect(ensureSingleton(options)).rejects.toMatchObject({ code: 'ESPAWNTIMEOUT' });
    }
    const { options } = await setup({ breaker, spawn, spawnTimeoutMs: 100 });
    const error = await ensureSingleton(options).catch((e) => e);
    expect(error.code).toBe('EBROKENCIRCUIT');
    expect(error.retryAfterMs).toBeGreaterThan(0);
    expect(spawn).toHaveBeenCalledTimes(3);
  });

  it('rejects with the signal reason: already aborted, and while waiting', async () => {
    const reason = new Error('hook cancelled');
    const isHealthy = vi.fn(() => false);
    const pre = await setup({ isHealthy, signal: AbortSignal.abort(reason) });
    await expect(ensureSingleton(pre.options)).rejects.toBe(reason);
    expect(isHealthy).not.toHaveBeenCalled();

    const controller = new AbortController();
    const { options } = await setup({ signal: controller.signal, waitTimeoutMs: 30_000 });
    const release = await acquireSpawnLock(options.lockPath);
    releases.push(release!);
    setTimeout(() => controller.abort(reason), 150);
    await expect(ensureSingleton(options)).rejects.toBe(reason);
  });

  it('a hanging or throwing isHealthy counts as unhealthy, bounded by the deadline', async () => {
    const { options } = await setup({
      isHealthy: () => new Promise<boolean>(() => {}),
      spawn: () => {},
      waitTimeoutMs: 300,
    });
    await expect(ensureSingleton(options)).rejects.toMatchObject({ code: 'ESPAWNTIMEOUT' });
    const throwing = await setup({
      isHealthy: () => {
        throw new Error('bug');
      },
      spawn: () => {},
      waitTimeoutMs: 300,
    });
    await expect(ensureSingleton(throwing.options)).rejects.toMatchObject({ code: 'ESPAWNTIMEOUT' });
  });

  it('a throwing event listener breaks neither the call nor the other listeners; it is a coded process warning', async () => {
    const { events, options } = await setup();
    const bug = new Error('listener bug');
    events.on('lockAcquired', () => {
      throw bug;
    });
    const other = vi.fn();
    events.on('lockAcquired', other);
    const warnings = await captureWarnings();
    try {
      expect((await ensureSingleton(options)).outcome).toBe('spawned');
      expect(other).toHaveBeenCalledTimes(1);
      await warnings.settled();
      expect(warnings.entries()).toEqual([listenerWarning('@spawnguard/spawn-mutex', 'lockAcquired', bug)]);
    } finally {
      warnings.stop();
    }
  });
});

describe('what spawn() resolves with', () => {
  it('nothing (the old README example returned spawn(...).unref()): a spawnWithoutPid event says hand-off is off', async () => {
    const events = createSpawnMutexEvents();
    const got: unknown[] = [];
    events.on('spawnWithoutPid', (e) => got.push(e));
    const { port, options } = await setup({ events });
    options.spawn = () => {
      void daemon(port);
      return undefined; // what `spawn(...).unref()` returns
    };
    expect((await ensureSingleton(options)).outcome).toBe('spawned');
    expect(got).toEqual([
      { lockPath: options.lockPath, resolved: expect.stringContaining('undefined'), elapsedMs: expect.any(Number) },
    ]);
  });

  it('a ChildProcess that failed to start (no pid): spawnWithoutPid names it', async () => {
    const events = createSpawnMutexEvents();
    const got: { resolved: string }[] = [];
    events.on('spawnWithoutPid', (e) => got.push(e));
    const { options } = await setup({ events, spawnTimeoutMs: 200 });
    options.spawn = () => {
      const child = spawnChild(join(tempDir(), 'no-such-daemon'), [MARKER], { stdio: 'ignore' });
      child.on('error', () => {}); // ENOENT arrives later
      return child;
    };
    await expect(ensureSingleton(options)).rejects.toMatchObject({ code: 'ESPAWNTIMEOUT' });
    expect(got).toHaveLength(1);
    expect(got[0]!.resolved).toContain('pid is undefined');
  });

  it('the ChildProcess (the README example): its record goes beside the lock folder, nothing into it, and no event', async () => {
    const { dir, port, events, seen, options } = await setup();
    const lockDir = `${options.lockPath}.lock`;
    let during: { dir: string[]; lock: string[] } | undefined;
    events.on('spawned', () => {
      during = { dir: readdirSync(dir).sort(), lock: readdirSync(lockDir) };
    });
    const server = `require('node:http').createServer((q, s) => s.end('ok')).listen(${port}, '127.0.0.1')`;
    options.spawn = () => {
      const child = spawnChild(process.execPath, ['-e', server, MARKER], { detached: true, stdio: 'ignore' });
      adopt(child.pid!);
      child.unref();
      return child;
    };
    expect((await ensureSingleton(options)).outcome).toBe('spawned');
    expect(seen).toEqual(['lockAcquired', 'spawned', 'healthy']);
    expect(during!.lock).toEqual([expect.stringMatching(/^owner-[0-9a-f]+\.json$/)]);
    const nonce = /^owner-([0-9a-f]+)\.json$/.exec(during!.lock[0]!)![1];
    expect(during!.dir).toEqual(['daemon.lock', `daemon.lock.spawned-${nonce}.json`]);
    expect(readdirSync(dir)).toEqual([]); // released: both records gone
  });
});

describe('an unusable lock folder', () => {
  const cases: [string, () => string, string[]][] = [
    ['a folder that does not exist', () => join(tempDir(), 'missing', 'daemon'), ['ENOENT']],
    [
      'a parent that is a regular file',
      () => {
        const file = join(tempDir(), 'file');
        writeFileSync(file, '');
        return join(file, 'daemon');
      },
      ['ENOTDIR'],
    ],
    [
      'a lock path occupied by a regular file',
      () => {
        const lockPath = join(tempDir(), 'daemon');
        writeFileSync(`${lockPath}.lock`, 'not a lock folder');
        return lockPath;
      },
      ['ENOTDIR'],
    ],
  ];
  if (process.platform === 'linux') {
    // sysfs refuses mkdir even for root: a real unwritable folder (chmod does not stop root).
    cases.push([
      'a folder the kernel will not let us write (sysfs)',
      () => '/sys/spawn-mutex-test',
      ['EPERM', 'EACCES', 'EROFS'],
    ]);
  }

  it.each(cases)('%s: LockUnavailableError naming the path', async (_name, makePath, codes) => {
    const lockPath = makePath();
    const { options, spawn } = await setup({ lockPath });
    const error = await ensureSingleton(options).catch((e) => e);
    expect(error).toBeInstanceOf(LockUnavailableError);
    expect(error).toMatchObject({ code: 'ELOCKUNAVAILABLE', lockPath });
    expect(codes).toContain(error.cause.code);
    expect(error.message).toContain(`${lockPath}.lock`);
    expect(error.message).toContain('failOpen');
    expect(spawn).not.toHaveBeenCalled();
  });

  it.each(cases)('%s, failOpen: spawns without the lock and reports it', async (_name, makePath) => {
    const { options, spawn, seen } = await setup({ lockPath: makePath(), failOpen: true });
    const result = await ensureSingleton(options);
    expect(result.outcome).toBe('spawned');
    expect(spawn).toHaveBeenCalledTimes(1);
    expect(seen).toEqual(['failOpen', 'spawned', 'healthy']);
  });

  it('acquireSpawnLock throws LockUnavailableError too', async () => {
    await expect(acquireSpawnLock(join(tempDir(), 'missing', 'daemon'))).rejects.toBeInstanceOf(LockUnavailableError);
  });
});

describe('bad input', () => {
  const base = (): EnsureSingletonOptions => ({
    lockPath: '/tmp/x',
    isHealthy: () => true,
    spawn: () => {},
    waitTimeoutMs: 1000,
  });
  const cases: [string, unknown, RegExp, typeof TypeError | typeof RangeError][] = [
    ['no options', undefined, /options must be an object, got undefined/, TypeError],
    [
      'lockPath missing',
      { ...base(), lockPath: undefined },
      /lockPath must be a non-empty string, got undefined/,
      TypeError,
    ],
    ['lockPath empty', { ...base(), lockPath: '' }, /lockPath must be a non-empty string, got ""/, TypeError],
    ['lockPath with NUL', { ...base(), lockPath: 'a\0b' }, /lockPath must not contain NUL bytes/, TypeError],
    ['isHealthy not a function', { ...base(), isHealthy: true }, /isHealthy must be a function, got true/, TypeError],
    [
      'spawn not a function',
      { ...base(), spawn: 'node daemon.js' },
      /spawn must be a function, got "node daemon.js"/,
      TypeError,
    ],
    [
      'waitTimeoutMs missing',
      { ...base(), waitTimeoutMs: undefined },
      /waitTimeoutMs must be a finite number of milliseconds >= 1, got undefined/,
      TypeError,
    ],
    ['waitTimeoutMs negative', { ...base(), waitTimeoutMs: -1 }, /waitTimeoutMs .* got -1/, RangeError],
    ['waitTimeoutMs NaN', { ...base(), waitTimeoutMs: Number.NaN }, /waitTimeoutMs .* got NaN/, RangeError],
    ['waitTimeoutMs Infinity', { ...base(), waitTimeoutMs: Number.POSITIVE_INFINITY }, /got Infinity/, RangeError],
    ['spawnTimeoutMs 0', { ...base(), spawnTimeoutMs: 0 }, /spawnTimeoutMs .* got 0/, RangeError],
    [
      'staleMs below the minimum',
      { ...base(), staleMs: 1000 },
      /staleMs must be a finite number of milliseconds >= 2000, got 1000/,
      RangeError,
    ],
    ['staleMs string', { ...base(), staleMs: '10s' }, /staleMs .* got "10s"/, TypeError],
    [
      'breaker without execute',
      { ...base(), breaker: {} },
      /breaker must be an object with an execute\(fn\) method/,
      TypeError,
    ],
    ['failOpen not boolean', { ...base(), failOpen: 'yes' }, /failOpen must be a boolean, got "yes"/, TypeError],
    ['signal not an AbortSignal', { ...base(), signal: {} }, /signal must be an AbortSignal/, TypeError],
    ['events not an emitter', { ...base(), events: {} }, /events must be a mitt emitter/, TypeError],
    ['hostname empty', { ...base(), hostname: '' }, /hostname must be a non-empty string/, TypeError],
  ];
  it.each(cases)('ensureSingleton: %s', async (_name, options, message, type) => {
    const error = await ensureSingleton(options as EnsureSingletonOptions).catch((e) => e);
    expect(error).toBeInstanceOf(type);
    expect(error.message).toMatch(message);
  });

  it.each([
    ['lockPath', () => acquireSpawnLock(42 as never), /lockPath must be a non-empty string, got 42/],
    ['options', () => acquireSpawnLock('/tmp/x', null as never), /options must be an object, got null/],
    ['staleMs', () => acquireSpawnLock('/tmp/x', { staleMs: -5 }), /staleMs .* got -5/],
    ['signal', () => acquireSpawnLock('/tmp/x', { signal: 1 as never }), /signal must be an AbortSignal/],
    ['events', () => acquireSpawnLock('/tmp/x', { events: new Map() as never }), /events must be a mitt emitter/],
    ['hostname', () => acquireSpawnLock('/tmp/x', { hostname: 7 as never }), /hostname must be a non-empty string/],
  ])('acquireSpawnLock: bad %s', async (_name, call, message) => {
    await expect(call()).rejects.toThrow(message);
  });

  it('validation happens before anything else: no health check, no lock', async () => {
    const isHealthy = vi.fn(() => true);
    const dir = tempDir();
    mkdirSync(join(dir, 'sub'));
    await expect(
      ensureSingleton({ lockPath: join(dir, 'sub', 'x'), isHealthy, spawn: () => {}, waitTimeoutMs: -1 }),
    ).rejects.toBeInstanceOf(RangeError);
    expect(isHealthy).not.toHaveBeenCalled();
    expect(readdirSync(join(dir, 'sub'))).toEqual([]);
  });
});
