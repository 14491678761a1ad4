import * as fs from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CircuitBreaker, type CircuitBreakerOptions, fileStore } from '../src/index.js';

type Case = [option: string, value: unknown, error: typeof TypeError | typeof RangeError, message: string];

const cases: Case[] = [
  ['failureThreshold', 0, RangeError, 'failureThreshold must be a positive integer, got 0'],
  ['failureThreshold', -1, RangeError, 'failureThreshold must be a positive integer, got -1'],
  ['failureThreshold', 1.5, RangeError, 'failureThreshold must be a positive integer, got 1.5'],
  ['failureThreshold', Number.NaN, RangeError, 'failureThreshold must be a positive integer, got NaN'],
  ['failureThreshold', Number.POSITIVE_INFINITY, RangeError, 'got Infinity'],
  ['failureThreshold', '3', TypeError, 'failureThreshold must be a positive integer, got "3"'],
  ['failureThreshold', null, TypeError, 'failureThreshold must be a positive integer, got null'],
  ['cooldownMs', -1, RangeError, 'cooldownMs must be a finite number of milliseconds >= 0, got -1'],
  ['cooldownMs', Number.NaN, RangeError, 'cooldownMs must be a finite number of milliseconds >= 0, got NaN'],
  [
    'cooldownMs',
    Number.POSITIVE_INFINITY,
    RangeError,
    'cooldownMs must be a finite number of milliseconds >= 0, got Infinity',
  ],
  ['cooldownMs', '60s', TypeError, 'cooldownMs must be a finite number of milliseconds >= 0, got "60s"'],
  ['cooldownMs', 10n, TypeError, 'cooldownMs must be a finite number of milliseconds >= 0, got 10n'],
  ['halfOpenMaxConcurrent', 0, RangeError, 'halfOpenMaxConcurrent must be a positive integer, got 0'],
  ['halfOpenMaxConcurrent', -2, RangeError, 'got -2'],
  ['halfOpenMaxConcurrent', 2.5, RangeError, 'got 2.5'],
  ['halfOpenMaxConcurrent', Number.NaN, RangeError, 'got NaN'],
  ['halfOpenMaxConcurrent', Number.POSITIVE_INFINITY, RangeError, 'got Infinity'],
  ['halfOpenMaxConcurrent', true, TypeError, 'halfOpenMaxConcurrent must be a positive integer, got true'],
  ['cooldownGrowth', 0.5, RangeError, 'cooldownGrowth must be a finite number >= 1, got 0.5'],
  ['cooldownGrowth', 0, RangeError, 'got 0'],
  ['cooldownGrowth', -2, RangeError, 'got -2'],
  ['cooldownGrowth', Number.NaN, RangeError, 'got NaN'],
  ['cooldownGrowth', Number.POSITIVE_INFINITY, RangeError, 'got Infinity'],
  ['cooldownGrowth', [2], TypeError, 'cooldownGrowth must be a finite number >= 1, got an array'],
  ['maxCooldownMs', 59_999, RangeError, 'maxCooldownMs must be >= cooldownMs (60000), got 59999'],
  ['maxCooldownMs', -1, RangeError, 'maxCooldownMs must be a finite number of milliseconds >= 0, got -1'],
  ['maxCooldownMs', Number.NaN, RangeError, 'got NaN'],
  ['maxCooldownMs', Number.POSITIVE_INFINITY, RangeError, 'got Infinity'],
  ['maxCooldownMs', {}, TypeError, 'maxCooldownMs must be a finite number of milliseconds >= 0, got an object'],
  ['isFailure', true, TypeError, 'isFailure must be a function, got true'],
  ['isFailure', 'all', TypeError, 'isFailure must be a function, got "all"'],
  ['now', 1_700_000_000_000, TypeError, 'now must be a function, got 1700000000000'],
  ['store', {}, TypeError, 'store must be an object with load() and save() methods, got an object'],
  ['store', { load() {} }, TypeError, 'store must be an object with load() and save() methods'],
  ['store', '/tmp/state.json', TypeError, 'got "/tmp/state.json"'],
  ['store', null, TypeError, 'store must be an object with load() and save() methods, got null'],
  ['name', 42, TypeError, 'name must be a string, got 42'],
];

describe('every option is checked at construction, naming the option and the value', () => {
  it.each(cases)('%s = %s throws %o', (option, value, ErrorClass, message) => {
    let thrown: unknown;
    try {
      new CircuitBreaker({ [option]: value } as CircuitBreakerOptions);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ErrorClass);
    expect((thrown as Error).message).toContain(message);
  });

  it('checks maxCooldownMs against a custom cooldownMs', () => {
    expect(() => new CircuitBreaker({ cooldownMs: 1_000, maxCooldownMs: 999 })).toThrow(
      new RangeError('maxCooldownMs must be >= cooldownMs (1000), got 999'),
    );
    expect(() => new CircuitBreaker({ cooldownMs: 1_000, maxCooldownMs: 1_000 })).not.toThrow();
  });

  it('rejects options that are not an object, and unknown (misspelt) options', () => {
    expect(() => new CircuitBreaker(5 as never)).toThrow(
      new TypeError('CircuitBreaker options must be an object, got 5'),
    );
    expect(() => new CircuitBreaker(null as never)).toThrow(TypeError);
    expect(() => new CircuitBreaker([] as never)).toThrow(/got an array/);
    expect(() => new CircuitBreaker({ cooldown: 1_000 } as never)).toThrow(
      /CircuitBreaker options.cooldown is not an option \(known: failureThreshold, cooldownMs/,
    );
  });

  it('accepts the edges: undefined options, explicit undefined values, cooldownMs 0, growth 1', () => {
    expect(() => new CircuitBreaker()).not.toThrow();
    expect(() => new CircuitBreaker({ cooldownMs: undefined, name: undefined })).not.toThrow();
    expect(() => new CircuitBreaker({ cooldownMs: 0, cooldownGrowth: 1, failureThreshold: 1 })).not.toThrow();
  });
});

describe('execute() input', () => {
  const breaker = new CircuitBreaker();

  it('rejects (does not throw synchronously) when fn is not a function', async () => {
    const pending = breaker.execute('run' as never);
    await expect(pending).rejects.toThrow(new TypeError('execute(fn): fn must be a function, got "run"'));
  });

  it('rejects bad options and a signal that is not an AbortSignal', async () => {
    await expect(breaker.execute(() => 1, 3 as never)).rejects.toThrow(
      new TypeError('execute options must be an object, got 3'),
    );
    await expect(breaker.execute(() => 1, { signal: { aborted: false } as never })).rejects.toThrow(
      new TypeError('execute options.signal must be an AbortSignal, got an object'),
    );
    await expect(breaker.execute(() => 1, {})).resolves.toBe(1);
  });

  it('a clock returning garbage is a TypeError naming now()', async () => {
    const broken = new CircuitBreaker({ failureThreshold: 1, now: () => Number.NaN });
    await expect(
      broken.execute(() => {
        throw new Error('x');
      }),
    ).rejects.toThrow(new TypeError('now() must return a finite number of ms, got NaN'));
  });
});

describe('fileStore() input', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spawnguard-cb-options-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('checks the path', () => {
    expect(() => fileStore('')).toThrow(
      new TypeError('fileStore(path): path must be a non-empty string without NUL bytes, got ""'),
    );
    expect(() => fileStore(42 as never)).toThrow(/got 42/);
    expect(() => fileStore('a\0b')).toThrow(TypeError);
  });

  it('checks options and the injected fs', () => {
    const path = join(dir, 'state.json');
    expect(() => fileStore(path, null as never)).toThrow(
      new TypeError('fileStore options must be an object, got null'),
    );
    expect(() => fileStore(path, { fs: 'fs' as never })).toThrow(/fileStore fs must be an object, got "fs"/);
    expect(() => fileStore(path, { fs: { renameSync: 5 } as never })).toThrow(
      new TypeError('fileStore fs.renameSync must be a function, got 5'),
    );
    // Reads are never injectable: a replaced open could block or follow a link.
    expect(() => fileStore(path, { fs: { openSync() {} } as never })).toThrow(
      /fileStore fs.openSync cannot be replaced: state files are always read without blocking or following links/,
    );
    // The whole fs module (or a spread of it with one function replaced) is fine.
    expect(() => fileStore(path, { fs: { ...fs, renameSync() {} } })).not.toThrow();
  });

  it('resolves a relative path to an absolute one', () => {
    expect(fileStore('state.json').path).toBe(join(process.cwd(), 'state.json'));
  });
});
