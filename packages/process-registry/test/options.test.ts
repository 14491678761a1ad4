import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import mitt from 'mitt';
import { afterEach, describe, expect, it } from 'vitest';
import { openRegistry, planSpawnOptions, RegistryClosedError, type RegistrySpawnOptions } from '../src/index.js';
import { processGroupOf } from '../src/spawn-options.js';
import { cleanup, tempDir } from './helpers.js';

afterEach(() => cleanup());

const base: RegistrySpawnOptions = { session: 's', type: 't' };

describe('openRegistry validates its arguments', () => {
  it.each([
    [undefined, /path must be a non-empty string, got undefined/],
    ['', /path must be a non-empty string, got ""/],
    [42, /path must be a non-empty string, got 42/],
    ['relative/registry.json', /path must be an absolute path, got "relative\/registry.json"/],
    ['/tmp/a\0b', /path must not contain NUL bytes/],
  ])('path %j', async (path, message) => {
    await expect(openRegistry(path as string)).rejects.toThrow(message);
    await expect(openRegistry(path as string)).rejects.toBeInstanceOf(TypeError);
  });

  it('rejects bad options, naming each', async () => {
    const path = join(tempDir(), 'r.json');
    await expect(openRegistry(path, null as never)).rejects.toThrow(/options must be an object, got null/);
    await expect(openRegistry(path, { now: 5 as never })).rejects.toThrow(/options.now must be a function, got 5/);
    await expect(openRegistry(path, { events: {} as never })).rejects.toThrow(/options.events must be a mitt emitter/);
    await expect(openRegistry(path, { signal: 'x' as never })).rejects.toThrow(/options.signal must be an AbortSignal/);
    await expect(openRegistry(path, { owner: { pid: -1, startToken: 'x' } })).rejects.toThrow(
      /options.owner.pid must be a positive integer, got -1/,
    );
    await expect(openRegistry(path, { owner: { pid: 1.5, startToken: 'x' } })).rejects.toThrow(/got 1.5/);
    await expect(openRegistry(path, { owner: { pid: 10, startToken: '' } })).rejects.toThrow(
      /options.owner.startToken must be a non-empty string, got ""/,
    );
    await expect(openRegistry(path, { owner: { pid: 10, startToken: 'x', hostname: 3 as never } })).rejects.toThrow(
      /options.owner.hostname must be a non-empty string, got 3/,
    );
  });

  it.each([
    [{ takeover: 5 }, TypeError, /options.takeover must be an object, got 5/],
    [
      { takeover: { waitMs: -1 } },
      RangeError,
      /options.takeover.waitMs must be a finite number of milliseconds >= 0, got -1/,
    ],
    [
      { takeover: { waitMs: '10s' } },
      TypeError,
      /options.takeover.waitMs must be a finite number of milliseconds >= 0, got "10s"/,
    ],
    [
      { takeover: { pollMs: 0 } },
      RangeError,
      /options.takeover.pollMs must be a finite number of milliseconds > 0, got 0/,
    ],
    [
      { takeover: { retryMs: Number.NaN } },
      RangeError,
      /options.takeover.retryMs must be a finite number of milliseconds >= 0, got NaN/,
    ],
    [
      { takeover: { graceMs: -2 } },
      RangeError,
      /options.takeover.graceMs must be a finite number of milliseconds >= 0, got -2/,
    ],
    [
      { takeover: { totalTimeoutMs: null } },
      TypeError,
      /options.takeover.totalTimeoutMs must be a finite number of milliseconds/,
    ],
  ])('rejects a bad takeover %j before touching the file', async (options, type, message) => {
    const dir = tempDir();
    const error = await openRegistry(join(dir, 'r.json'), options as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(type);
    expect((error as Error).message).toMatch(message);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('takeover: true and false are accepted', async () => {
    expect((await openRegistry(join(tempDir(), 'r.json'), { takeover: true })).ownership.state).toBe('owned');
    expect((await openRegistry(join(tempDir(), 'r.json'), { takeover: false })).ownership.state).toBe('owned');
  });

  it('rejects an aborted signal with its reason', async () => {
    const reason = new Error('stop');
    await expect(openRegistry(join(tempDir(), 'r.json'), { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
  });

  it('accepts a caller-supplied mitt emitter and clock', async () => {
    const events = mitt<never>();
    const registry = await openRegistry(join(tempDir(), 'r.json'), { events: events as never, now: () => 1234 });
    expect(registry.events).toBe(events);
  });
});

describe('registry methods validate their arguments', () => {
  it('spawn', async () => {
    const registry = await openRegistry(join(tempDir(), 'r.json'));
    await expect(registry.spawn('', [], base)).rejects.toThrow(/command must be a non-empty string, got ""/);
    await expect(registry.spawn(7 as never, [], base)).rejects.toThrow(/command must be a non-empty string, got 7/);
    await expect(registry.spawn('node', 'x' as never, base)).rejects.toThrow(
      /args must be an array of strings, got "x"/,
    );
    await expect(registry.spawn('node', [1] as never, base)).rejects.toThrow(
      /args must be an array of strings, got an array/,
    );
    await expect(registry.spawn('node', [], undefined as never)).rejects.toThrow(
      /options must be an object with session and type/,
    );
    await expect(registry.spawn('node', [], { type: 't' } as never)).rejects.toThrow(
      /options.session must be a non-empty string, got undefined/,
    );
    await expect(registry.spawn('node', [], { session: 's', type: '' })).rejects.toThrow(
      /options.type must be a non-empty string, got ""/,
    );
    await expect(registry.spawn('node', [], { ...base, signal: {} as never })).rejects.toThrow(
      /options.signal must be an AbortSignal/,
    );
    await expect(registry.spawn('node', [], { ...base, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] })).rejects.toThrow(
      /options.stdio must have at most 3 entries/,
    );
    await expect(registry.spawn('node', [], { ...base, stdio: ['ignore', 'ipc', 'pipe'] })).rejects.toThrow(/'ipc'/);
    await expect(registry.spawn('node', [], { ...base, detached: false })).rejects.toThrow(
      /options.detached cannot be false/,
    );
    expect(registry.entries()).toEqual([]);
  });

  it.each([
    [{ graceMs: -1 }, RangeError, /options.graceMs must be a finite number of milliseconds >= 0, got -1/],
    [{ graceMs: Number.NaN }, RangeError, /options.graceMs must be a finite number of milliseconds >= 0, got NaN/],
    [{ graceMs: Number.POSITIVE_INFINITY }, RangeError, /got Infinity/],
    [{ graceMs: '5' }, TypeError, /options.graceMs must be a finite number of milliseconds >= 0, got "5"/],
    [{ totalTimeoutMs: -5 }, RangeError, /options.totalTimeoutMs must be a finite number of milliseconds >= 0, got -5/],
    [{ signal: 1 }, TypeError, /options.signal must be an AbortSignal, got 1/],
  ])('stop options %j', async (options, type, message) => {
    const registry = await openRegistry(join(tempDir(), 'r.json'));
    for (const call of [
      () => registry.shutdown(options as never),
      () => registry.reapSession('s', options as never),
      () => registry.reapLeftovers(options as never),
    ]) {
      const error = await call().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(type);
      expect((error as Error).message).toMatch(message);
    }
    expect(registry.state).toBe('owned'); // a rejected shutdown() call did not close the registry
  });

  it('reapSession, list and pruneDead', async () => {
    const registry = await openRegistry(join(tempDir(), 'r.json'));
    await expect(registry.reapSession('')).rejects.toThrow(/session must be a non-empty string, got ""/);
    expect(() => registry.list({ session: 3 as never })).toThrow(/filter.session must be a non-empty string, got 3/);
    expect(() => registry.list({ type: '' })).toThrow(/filter.type must be a non-empty string/);
    await expect(registry.pruneDead({ signal: 'no' as never })).rejects.toThrow(
      /options.signal must be an AbortSignal/,
    );
  });

  it.each([
    [{ waitMs: -1 }, RangeError, /options.waitMs must be a finite number of milliseconds >= 0, got -1/],
    [{ pollMs: 0 }, RangeError, /options.pollMs must be a finite number of milliseconds > 0, got 0/],
    [{ graceMs: 'x' }, TypeError, /options.graceMs must be a finite number of milliseconds >= 0, got "x"/],
    [{ signal: 1 }, TypeError, /options.signal must be an AbortSignal, got 1/],
    ['now', TypeError, /options must be an object, got "now"/],
  ])('claim(%j)', async (options, type, message) => {
    const registry = await openRegistry(join(tempDir(), 'r.json'));
    const error = await registry.claim(options as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(type);
    expect((error as Error).message).toMatch(message);
  });

  it('claim() of an owned registry resolves at once; after shutdown it is a RegistryClosedError', async () => {
    const registry = await openRegistry(join(tempDir(), 'r.json'));
    expect(await registry.claim()).toMatchObject({ state: 'owned' });
    await registry.shutdown();
    await expect(registry.claim()).rejects.toBeInstanceOf(RegistryClosedError);
  });

  it('ownership is a copy: changing it changes nothing', async () => {
    const registry = await openRegistry(join(tempDir(), 'r.json'));
    const o = registry.ownership as { state: string };
    o.state = 'closed';
    expect(registry.ownership.state).toBe('owned');
  });

  it('spawn after shutdown is refused with a RegistryClosedError', async () => {
    const registry = await openRegistry(join(tempDir(), 'r.json'));
    await registry.shutdown();
    const error = await registry.spawn(process.execPath, ['-e', ''], base).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RegistryClosedError);
    expect(error).toMatchObject({ code: 'EREGISTRYCLOSED' });
    await expect(registry.reapLeftovers()).rejects.toBeInstanceOf(RegistryClosedError);
  });
});

describe('planSpawnOptions (per platform, no process started)', () => {
  it('POSIX: own process group, hidden window, stdin ignored, stdout/stderr piped', () => {
    for (const platform of ['linux', 'darwin', 'freebsd'] as const) {
      expect(planSpawnOptions(platform, { ...base, env: { A: '1' } })).toEqual({
        env: { A: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
        windowsHide: true,
        detached: true,
      });
    }
  });

  it('Windows: no process groups, so detached is left to the caller (default false)', () => {
    expect(planSpawnOptions('win32', base)).toEqual({
      stdio: ['ignore', 'pipe', 'pipe'],
      windowsHide: true,
      detached: false,
    });
    expect(planSpawnOptions('win32', { ...base, detached: true, windowsHide: false })).toMatchObject({
      detached: true,
      windowsHide: false,
    });
  });

  it('records the process group: the pid on POSIX, null on Windows', () => {
    expect(processGroupOf('linux', 4242)).toBe(4242);
    expect(processGroupOf('darwin', 4242)).toBe(4242);
    expect(processGroupOf('win32', 4242)).toBeNull();
  });

  it('keeps what the caller sets for stdio, and strips the registry-only options', () => {
    const planned = planSpawnOptions('linux', {
      ...base,
      stdio: 'inherit',
      signal: new AbortController().signal,
      cwd: '/',
    });
    expect(planned).toEqual({ stdio: 'inherit', windowsHide: true, detached: true, cwd: '/' });
    expect(() => planSpawnOptions('linux', { ...base, stdio: 'bogus' as never })).toThrow(/options.stdio must be/);
  });
});
