import mitt from 'mitt';
import { describe, expect, it } from 'vitest';
import { memoizeConnection } from '../src/index.js';

const connect = async () => ({});
const close = () => {};
// biome-ignore lint/suspicious/noExplicitAny: feeding wrong types on purpose
const build = (options: any) => () => memoizeConnection(options);

describe('options validation', () => {
  it('rejects options that are not an object', () => {
    for (const options of [undefined, null, 5, 'connect', []]) {
      expect(build(options)).toThrow(TypeError);
      expect(build(options)).toThrow(/memoizeConnection\(\) needs an options object \{ connect, close \}, got /);
    }
  });

  it.each([undefined, null, 5, 'fn', {}])('connect must be a function, not %j', (bad) => {
    expect(build({ connect: bad, close })).toThrow(TypeError);
    expect(build({ connect: bad, close })).toThrow(/^connect must be a function .*got /);
  });

  it.each([undefined, null, 5, 'fn', {}])('close must be a function, not %j', (bad) => {
    expect(build({ connect, close: bad })).toThrow(TypeError);
    expect(build({ connect, close: bad })).toThrow(/^close must be a function .*got /);
  });

  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 2 ** 31])(
    'connectTimeoutMs %s is a RangeError naming the value',
    (bad) => {
      expect(build({ connect, close, connectTimeoutMs: bad })).toThrow(RangeError);
      expect(build({ connect, close, connectTimeoutMs: bad })).toThrow(
        `connectTimeoutMs must be a finite number of milliseconds > 0 and <= 2147483647`,
      );
      expect(build({ connect, close, connectTimeoutMs: bad })).toThrow(`got ${bad}`);
    },
  );

  it.each(['5000', null, {}, true, 5n])('connectTimeoutMs %s of the wrong type is a TypeError', (bad) => {
    expect(build({ connect, close, connectTimeoutMs: bad })).toThrow(TypeError);
    expect(build({ connect, close, connectTimeoutMs: bad })).toThrow(
      /connectTimeoutMs must be a finite number of milliseconds/,
    );
  });

  it('accepts connectTimeoutMs undefined, fractional and the largest timer value', () => {
    expect(build({ connect, close, connectTimeoutMs: undefined })).not.toThrow();
    expect(build({ connect, close, connectTimeoutMs: 0.5 })).not.toThrow();
    expect(build({ connect, close, connectTimeoutMs: 2 ** 31 - 1 })).not.toThrow();
  });

  it.each([null, 5, 'breaker', {}, { execute: 'no' }, () => {}])(
    'breaker %j without execute() is a TypeError',
    (bad) => {
      expect(build({ connect, close, breaker: bad })).toThrow(TypeError);
      expect(build({ connect, close, breaker: bad })).toThrow(/breaker must be an object with an execute/);
    },
  );

  it('accepts any object with an execute function as breaker', () => {
    expect(build({ connect, close, breaker: { execute: (fn: () => unknown) => fn() } })).not.toThrow();
    expect(build({ connect, close, breaker: undefined })).not.toThrow();
  });

  it.each([null, 5, 'events', {}, { on() {}, emit() {} }])(
    'events %j that is not a mitt emitter is a TypeError',
    (bad) => {
      expect(build({ connect, close, events: bad })).toThrow(TypeError);
      expect(build({ connect, close, events: bad })).toThrow(/events must be a mitt emitter/);
    },
  );

  it('accepts a mitt emitter as events', () => {
    expect(build({ connect, close, events: mitt() })).not.toThrow();
  });

  it('an unknown option (a typo) is a TypeError naming it and the valid options', () => {
    expect(build({ connect, close, connectTimeout: 5000 })).toThrow(TypeError);
    expect(build({ connect, close, connectTimeout: 5000 })).toThrow(
      'options.connectTimeout is not an option (known: connect, close, breaker, connectTimeoutMs, events)',
    );
  });

  it('error messages show the bad value', () => {
    expect(build({ connect, close, connectTimeoutMs: -1 })).toThrow(/got -1$/);
    expect(build({ connect, close, connectTimeoutMs: '5s' })).toThrow(/got "5s"$/);
    expect(build({ connect: null, close })).toThrow(/got null$/);
  });
});

describe('call options validation', () => {
  const memo = memoizeConnection({ connect, close });
  // biome-ignore lint/suspicious/noExplicitAny: feeding wrong types on purpose
  const loose = memo as any;

  it.each(['get', 'reset', 'close'])(
    '%s() rejects non-object options and non-signal signals synchronously',
    (method) => {
      for (const bad of [null, 5, 'x']) {
        expect(() => loose[method](bad)).toThrow(TypeError);
        expect(() => loose[method](bad)).toThrow(`${method}() options must be an object, got `);
      }
      for (const bad of [null, 'abort', {}, { aborted: false }]) {
        expect(() => loose[method]({ signal: bad })).toThrow(TypeError);
        expect(() => loose[method]({ signal: bad })).toThrow(`${method}() options.signal must be an AbortSignal`);
      }
    },
  );

  it('get() with bad options while connected still validates (the fast path is only for no options)', async () => {
    await memo.get();
    expect(memo.state).toBe('connected');
    expect(() => loose.get({ signal: 'x' })).toThrow(TypeError);
    expect(() => loose.get(5)).toThrow(TypeError);
  });
});
