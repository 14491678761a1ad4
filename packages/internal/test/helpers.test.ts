import mitt from 'mitt';
import { afterEach, describe, expect, it } from 'vitest';
import {
  checkAbsolutePath,
  checkBoolean,
  checkEmitter,
  checkFunction,
  checkInteger,
  checkKnownKeys,
  checkMs,
  checkNumber,
  checkObject,
  checkOptions,
  checkPid,
  checkSignal,
  checkString,
  deferred,
  hasListeners,
  isPositiveInt,
  LISTENER_ERROR_CODE,
  ListenerErrorWarning,
  MAX_TIMER_MS,
  pause,
  pidExists,
  safeEmit,
  show,
  sleep,
  untilAborted,
} from '../src/index.js';
import { captureWarnings, listenerWarning } from '../src/testing.js';

describe('show', () => {
  it.each([
    ['x', '"x"'],
    ['', '""'],
    [5, '5'],
    [-0, '-0'],
    [Number.NaN, 'NaN'],
    [Number.POSITIVE_INFINITY, 'Infinity'],
    [10n, '10n'],
    [true, 'true'],
    [undefined, 'undefined'],
    [null, 'null'],
    [() => {}, 'a function'],
    [Symbol('s'), 'a symbol'],
    [[1, 2], 'an array'],
    [/a+b/i, '/a+b/i'],
    [{ secret: 'hunter2' }, 'an object'],
    [new Map(), 'an object'],
  ])('renders %s as %s', (value, text) => {
    expect(show(value)).toBe(text);
  });
});

describe('option checks: (name, value, ...) and a message naming both', () => {
  it('numbers: TypeError for the wrong type, RangeError out of range, the rule in the message', () => {
    expect(checkNumber('n', 2.5)).toBe(2.5);
    expect(() => checkNumber('n', '1')).toThrow(new TypeError('n must be a finite number, got "1"'));
    expect(() => checkNumber('n', Number.NaN)).toThrow(new RangeError('n must be a finite number, got NaN'));
    expect(() => checkInteger('count', 1.5, { min: 1 })).toThrow(
      new RangeError('count must be a positive integer, got 1.5'),
    );
    expect(() => checkInteger('count', 1, { min: 2 })).toThrow(new RangeError('count must be an integer >= 2, got 1'));
    expect(() => checkInteger('code', 256, { max: 255 })).toThrow(
      new RangeError('code must be an integer from 0 to 255, got 256'),
    );
    expect(() => checkMs('waitMs', -1, { max: MAX_TIMER_MS })).toThrow(
      new RangeError('waitMs must be a finite number of milliseconds >= 0 and <= 2147483647, got -1'),
    );
    expect(() => checkMs('pollMs', 0, { minExclusive: true })).toThrow(
      new RangeError('pollMs must be a finite number of milliseconds > 0, got 0'),
    );
    expect(checkMs('graceMs', undefined, { fallback: 3000 })).toBe(3000);
    expect(() => checkMs('graceMs', undefined)).toThrow(TypeError);
    expect(() => checkPid('pid', -1)).toThrow(new RangeError('pid must be a non-negative integer, got -1'));
    expect(checkPid('pid', 0)).toBe(0);
  });

  it('isPositiveInt: a safe integer > 0, nothing else', () => {
    expect([1, 42, Number.MAX_SAFE_INTEGER].every(isPositiveInt)).toBe(true);
    for (const value of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, '1', null, undefined]) {
      expect(isPositiveInt(value)).toBe(false);
    }
  });

  it('objects, strings, functions, signals, emitters, known keys', () => {
    expect(() => checkObject('options', null)).toThrow(new TypeError('options must be an object, got null'));
    expect(() => checkObject('options', [])).toThrow(new TypeError('options must be an object, got an array'));
    expect(checkOptions('options', undefined)).toEqual({});
    expect(() => checkString('path', '')).toThrow(new TypeError('path must be a non-empty string, got ""'));
    expect(() => checkString('path', 'a\0b')).toThrow(
      new TypeError('path must not contain NUL bytes, got "a\\u0000b"'),
    );
    expect(checkBoolean('dryRun', undefined, false)).toBe(false);
    expect(() => checkBoolean('dryRun', undefined)).toThrow(new TypeError('dryRun must be a boolean, got undefined'));
    expect(() => checkBoolean('dryRun', 1, false)).toThrow(new TypeError('dryRun must be a boolean, got 1'));
    expect(() => checkFunction('spawn', 1)).toThrow(new TypeError('spawn must be a function, got 1'));
    expect(checkSignal('signal', undefined)).toBeUndefined();
    expect(() => checkSignal('signal', {})).toThrow(new TypeError('signal must be an AbortSignal, got an object'));
    expect(checkEmitter('events', mitt())).toBeDefined();
    const own = { on() {}, off() {}, emit() {} };
    expect(() => checkEmitter('events', own)).toThrow(TypeError);
    expect(checkEmitter('events', own, { mittMap: false })).toBe(own);
    expect(() => checkEmitter('events', { all: new Map() }, { hint: ' (createEvents())' })).toThrow(
      new TypeError('events must be a mitt emitter (createEvents()), got an object'),
    );
    expect(() => checkKnownKeys('options', { conect: 1 }, ['connect', 'close'])).toThrow(
      new TypeError('options.conect is not an option (known: connect, close)'),
    );
    expect(checkAbsolutePath('stateDir', '/tmp/x')).toBe('/tmp/x');
    expect(() => checkAbsolutePath('stateDir', 'tmp/x')).toThrow(
      new TypeError('stateDir must be an absolute path, got "tmp/x"'),
    );
  });
});

describe('safeEmit: the listener-error policy', () => {
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  afterEach(() => {
    process.off('warning', onWarning);
    warnings.length = 0;
  });

  it('a throwing listener breaks neither the caller nor the others; it becomes a coded warning naming the event', async () => {
    process.on('warning', onWarning);
    type Events = { ping: { n: number } };
    const events = mitt<Events>();
    const seen: string[] = [];
    const bug = new Error('listener bug');
    events.on('ping', () => {
      throw bug;
    });
    events.on('ping', (e) => seen.push(`ping ${e.n}`));
    events.on('*', (type) => seen.push(`* ${type}`));
    events.on('*', () => {
      throw 'a string';
    });
    expect(() => safeEmit('@spawnguard/test', events, 'ping', { n: 1 })).not.toThrow();
    expect(seen).toEqual(['ping 1', '* ping']);
    await new Promise((resolve) => setImmediate(resolve));
    expect(warnings).toHaveLength(2);
    const [first, second] = warnings as [ListenerErrorWarning, ListenerErrorWarning];
    expect(first).toBeInstanceOf(ListenerErrorWarning);
    expect(first.name).toBe('SpawnguardWarning');
    expect(first.code).toBe(LISTENER_ERROR_CODE);
    expect(first.code).toBe('SPAWNGUARD_LISTENER_ERROR');
    expect(first.event).toBe('ping');
    expect(first.package).toBe('@spawnguard/test');
    expect(first.cause).toBe(bug);
    expect(first.message).toBe("@spawnguard/test: a listener for 'ping' threw (the operation went on): listener bug");
    expect(first.detail).toContain('listener bug');
    expect(second.cause).toBe('a string');
    expect(second.message).toContain(': a string');
  });

  it('tells onListenerError too, and a listener added or removed during the emit does not change this one', () => {
    const events = mitt<{ a: number }>();
    const told: unknown[] = [];
    const late = () => told.push('late');
    events.on('a', () => {
      events.on('a', late);
      throw new Error('x');
    });
    process.on('warning', onWarning);
    safeEmit('@spawnguard/test', events, 'a', 1, (error, type) => told.push([type, (error as Error).message]));
    expect(told).toEqual([['a', 'x']]);
  });

  it("an emitter without mitt's map is called through its emit(), guarded", () => {
    process.on('warning', onWarning);
    const calls: unknown[] = [];
    const own = {
      all: undefined as unknown as Map<unknown, unknown>,
      on() {},
      off() {},
      emit(type: string, payload: unknown) {
        calls.push([type, payload]);
        throw new Error('own emitter');
      },
    };
    const told: unknown[] = [];
    expect(() =>
      safeEmit('@spawnguard/test', own as never, 'a' as never, 1 as never, (e) => told.push((e as Error).message)),
    ).not.toThrow();
    expect(calls).toEqual([['a', 1]]);
    expect(told).toEqual(['own emitter']);
  });

  it('with no listener or no emitter it does nothing; hasListeners sees direct and wildcard listeners', () => {
    const events = mitt<{ a: number; b: number }>();
    safeEmit('@spawnguard/test', undefined, 'a', 1);
    safeEmit('@spawnguard/test', events, 'a', 1);
    expect(hasListeners(events, 'a')).toBe(false);
    expect(hasListeners(undefined, 'a')).toBe(false);
    const h = () => {};
    events.on('a', h);
    expect(hasListeners(events, 'a')).toBe(true);
    expect(hasListeners(events, 'b')).toBe(false);
    events.off('a', h);
    expect(hasListeners(events, 'a')).toBe(false);
    events.on('*', h);
    expect(hasListeners(events, 'b')).toBe(true);
  });
});

describe('captureWarnings, for the policy test of each package', () => {
  it('sees only the listener-error warnings emitted after it started, as plain entries', async () => {
    process.emitWarning('not ours', { code: 'OTHER' });
    const warnings = await captureWarnings();
    try {
      const events = mitt<{ a: number }>();
      const bug = new Error('x');
      events.on('a', () => {
        throw bug;
      });
      process.emitWarning('still not ours', { code: 'OTHER' });
      safeEmit('@spawnguard/test', events, 'a', 1);
      await warnings.settled();
      expect(warnings.entries()).toEqual([listenerWarning('@spawnguard/test', 'a', bug)]);
      expect(listenerWarning('p', 'e', bug)).toEqual({
        name: 'SpawnguardWarning',
        code: 'SPAWNGUARD_LISTENER_ERROR',
        event: 'e',
        package: 'p',
        cause: bug,
      });
    } finally {
      warnings.stop();
    }
  });
});

describe('pidExists', () => {
  it('is true for this process and pid 1 (EPERM counts), false for a pid that is gone', async () => {
    expect(pidExists(process.pid)).toBe(true);
    expect(pidExists(1)).toBe(true);
    const { spawnSync } = await import('node:child_process');
    const gone = spawnSync(process.execPath, ['-e', '']).pid!;
    expect(pidExists(gone)).toBe(false);
  });
});

describe('sleep, pause, deferred, untilAborted', () => {
  it('sleep resolves after the time and rejects with the reason on abort (at once when already aborted)', async () => {
    const start = Date.now();
    await sleep(20);
    expect(Date.now() - start).toBeGreaterThanOrEqual(15);
    const reason = new Error('stop');
    await expect(sleep(10_000, AbortSignal.abort(reason))).rejects.toBe(reason);
    const controller = new AbortController();
    const pending = sleep(10_000, controller.signal, { unref: true });
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
  });

  it('pause ends early on abort without rejecting', async () => {
    const controller = new AbortController();
    const pending = pause(10_000, controller.signal);
    controller.abort();
    await expect(pending).resolves.toBeUndefined();
  });

  it('deferred hands out resolve and reject; untilAborted races a signal', async () => {
    const d = deferred<number>();
    d.resolve(3);
    expect(await d.promise).toBe(3);
    const never = deferred<number>();
    const controller = new AbortController();
    const raced = untilAborted(never.promise, controller.signal);
    controller.abort(new Error('gone'));
    await expect(raced).rejects.toThrow('gone');
    const ok = deferred<number>();
    const passed = untilAborted(ok.promise, new AbortController().signal);
    ok.resolve(7);
    expect(await passed).toBe(7);
    const same = deferred<number>();
    expect(untilAborted(same.promise, undefined)).toBe(same.promise);
  });
});
