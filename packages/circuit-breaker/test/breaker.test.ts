import { describe, expect, it } from 'vitest';
import { BrokenCircuitError, CircuitBreaker, circuitBreaker, memoryStore } from '../src/index.js';
import { boom, breakerWithClock, deferred, failTimes, fakeClock, outcome, record, settle, T0 } from './helpers.js';

describe('closed', () => {
  it('passes values and errors through, and starts closed', async () => {
    const { breaker } = breakerWithClock();
    expect(breaker.state).toBe('closed');
    await expect(breaker.execute(() => 42)).resolves.toBe(42);
    await expect(breaker.execute(async () => 'async')).resolves.toBe('async');
    const error = new Error('mine');
    await expect(
      breaker.execute(() => {
        throw error;
      }),
    ).rejects.toBe(error);
    await expect(breaker.execute(() => Promise.reject(error))).rejects.toBe(error);
    expect(breaker.toJSON()).toMatchObject({ state: 'closed', failures: 2 });
  });

  it('calls fn synchronously with a context holding the signal', async () => {
    const { breaker } = breakerWithClock();
    const controller = new AbortController();
    let seen: unknown = 'not called';
    const pending = breaker.execute(
      (context) => {
        seen = context.signal;
        return 1;
      },
      { signal: controller.signal },
    );
    expect(seen).toBe(controller.signal);
    await pending;
    await breaker.execute((context) => {
      seen = context.signal;
    });
    expect(seen).toBeUndefined();
  });

  it('opens only after failureThreshold consecutive failures; a success resets the count', async () => {
    const { breaker } = breakerWithClock();
    await failTimes(breaker, 2);
    expect(breaker.toJSON().failures).toBe(2);
    await breaker.execute(() => 'ok');
    expect(breaker.toJSON().failures).toBe(0);
    await failTimes(breaker, 2);
    expect(breaker.state).toBe('closed');
    await failTimes(breaker, 1);
    expect(breaker.state).toBe('open');
    expect(breaker.toJSON().failures).toBe(3);
  });

  it('honours a custom failureThreshold', async () => {
    const { breaker } = breakerWithClock({ failureThreshold: 1 });
    await failTimes(breaker, 1);
    expect(breaker.state).toBe('open');
    const five = breakerWithClock({ failureThreshold: 5 }).breaker;
    await failTimes(five, 4);
    expect(five.state).toBe('closed');
    await failTimes(five, 1);
    expect(five.state).toBe('open');
  });

  it('treats a synchronous throw from fn like a rejection', async () => {
    const { breaker } = breakerWithClock({ failureThreshold: 1 });
    await expect(breaker.execute(() => boom('sync'))).rejects.toThrow('sync');
    expect(breaker.state).toBe('open');
  });
});

describe('open', () => {
  it('rejects without calling fn, with code, retryAfterMs, state and circuit name', async () => {
    const { breaker, clock } = breakerWithClock({ name: 'daemon' });
    await failTimes(breaker, 3);
    clock.advance(1_000);
    let calls = 0;
    const error = await breaker
      .execute(() => {
        calls++;
      })
      .catch((e: unknown) => e);
    expect(calls).toBe(0);
    expect(error).toBeInstanceOf(BrokenCircuitError);
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({
      name: 'BrokenCircuitError',
      code: 'EBROKENCIRCUIT',
      state: 'open',
      retryAfterMs: 59_000,
      circuit: 'daemon',
      isolated: false,
    });
    expect((error as Error).message).toBe('Circuit "daemon" is open; retry after 59000 ms');
  });

  it('builds refusals without stack frames and leaves Error.stackTraceLimit as it was', async () => {
    const { breaker } = breakerWithClock({ failureThreshold: 1 });
    await failTimes(breaker, 1);
    const limit = Error.stackTraceLimit;
    const error = (await breaker.execute(() => 1).catch((e: unknown) => e)) as Error;
    expect(error.stack).toBe(`BrokenCircuitError: ${error.message}`);
    expect(Error.stackTraceLimit).toBe(limit);
    // Built directly, the class is an ordinary error with a stack.
    expect(new BrokenCircuitError({ state: 'open', retryAfterMs: 5 }).stack).toMatch(/\n\s+at /);
  });

  it('stays open for the whole 60 s default cooldown, then admits one probe that closes it', async () => {
    const { breaker, clock } = breakerWithClock();
    await failTimes(breaker, 3);
    const openedAt = breaker.toJSON().openedAt;
    expect(openedAt).toBe(T0);
    clock.advance(59_999);
    expect(breaker.state).toBe('open');
    await expect(breaker.execute(() => 1)).rejects.toMatchObject({ retryAfterMs: 1 });
    clock.advance(1);
    expect(breaker.state).toBe('halfOpen');
    expect(breaker.toJSON().retryAfterMs).toBe(0);
    await expect(breaker.execute(() => 'probe ok')).resolves.toBe('probe ok');
    expect(breaker.toJSON()).toMatchObject({ state: 'closed', failures: 0, openedAt: null, cooldownMs: 60_000 });
  });

  it('uses a custom cooldownMs', async () => {
    const { breaker, clock } = breakerWithClock({ cooldownMs: 5_000 });
    await failTimes(breaker, 3);
    await expect(breaker.execute(() => 1)).rejects.toMatchObject({ retryAfterMs: 5_000 });
    clock.advance(5_000);
    expect(breaker.state).toBe('halfOpen');
  });

  it('goes half-open at once with cooldownMs 0', async () => {
    const { breaker } = breakerWithClock({ cooldownMs: 0 });
    await failTimes(breaker, 3);
    expect(breaker.state).toBe('halfOpen');
  });

  it('admits a probe at once when the clock moves back before openedAt (open never outlasts its cooldown)', async () => {
    const { breaker, clock } = breakerWithClock();
    await failTimes(breaker, 3);
    clock.set(T0 - 3_600_000);
    expect(breaker.state).toBe('halfOpen');
  });
});

describe('half-open', () => {
  it('a failed probe opens the circuit again for another cooldown', async () => {
    const { breaker, clock } = breakerWithClock();
    await failTimes(breaker, 3);
    clock.advance(60_000);
    await expect(breaker.execute(() => boom('probe'))).rejects.toThrow('probe');
    expect(breaker.toJSON()).toMatchObject({ state: 'open', openedAt: T0 + 60_000, cooldownMs: 60_000, failures: 4 });
    clock.advance(59_999);
    expect(breaker.state).toBe('open');
    clock.advance(1);
    expect(breaker.state).toBe('halfOpen');
  });

  it('rejects calls that arrive while the probe runs, at once, without queueing them', async () => {
    const { breaker, clock } = breakerWithClock({ name: 'db' });
    await failTimes(breaker, 3);
    clock.advance(60_000);
    const probe = deferred<string>();
    const first = outcome(breaker.execute(() => probe.promise));
    clock.advance(10_000);
    let calls = 0;
    const error = await breaker
      .execute(() => {
        calls++;
      })
      .catch((e: unknown) => e);
    expect(calls).toBe(0);
    expect(error).toBeInstanceOf(BrokenCircuitError);
    // The probe's lease runs one cooldown from when it started.
    expect(error).toMatchObject({ code: 'EBROKENCIRCUIT', state: 'halfOpen', retryAfterMs: 50_000, circuit: 'db' });
    expect((error as Error).message).toMatch(/half-open and its probe is still running/);
    expect(breaker.toJSON()).toMatchObject({ state: 'halfOpen', halfOpenInFlight: 1, retryAfterMs: 50_000 });
    probe.resolve('done');
    await settle();
    expect(first).toMatchObject({ done: true, value: 'done' });
    expect(breaker.state).toBe('closed');
  });

  it('admits up to halfOpenMaxConcurrent probes; the first verdict wins and later ones are stale', async () => {
    const { breaker, clock } = breakerWithClock({ halfOpenMaxConcurrent: 2 });
    const events = record(breaker);
    await failTimes(breaker, 3);
    clock.advance(60_000);
    const a = deferred();
    const b = deferred();
    let calls = 0;
    const pa = outcome(breaker.execute(() => a.promise));
    const pb = outcome(breaker.execute(() => b.promise));
    const pc = outcome(breaker.execute(() => calls++));
    await settle();
    expect(calls).toBe(0);
    expect(pc.error).toMatchObject({ state: 'halfOpen' });
    expect(breaker.toJSON().halfOpenInFlight).toBe(2);
    a.resolve('a');
    await settle();
    expect(breaker.state).toBe('closed');
    b.reject(new Error('late probe failure'));
    await settle();
    expect(pa.value).toBe('a');
    expect((pb.error as Error).message).toBe('late probe failure');
    expect(breaker.toJSON()).toMatchObject({ state: 'closed', failures: 0 });
    const late = events.filter(([type]) => type === 'failure').at(-1)?.[1];
    expect(late).toMatchObject({ probe: true, counted: false });
  });

  it('grows the cooldown by cooldownGrowth per failed probe up to maxCooldownMs; a success resets it', async () => {
    const { breaker, clock } = breakerWithClock({ cooldownMs: 1_000, cooldownGrowth: 2, maxCooldownMs: 5_000 });
    await failTimes(breaker, 3);
    const cooldowns = [breaker.toJSON().cooldownMs];
    for (let i = 0; i < 4; i++) {
      clock.advance(breaker.toJSON().cooldownMs);
      expect(breaker.state).toBe('halfOpen');
      await failTimes(breaker, 1);
      cooldowns.push(breaker.toJSON().cooldownMs);
      await expect(breaker.execute(() => 1)).rejects.toMatchObject({ retryAfterMs: cooldowns.at(-1) });
    }
    expect(cooldowns).toEqual([1_000, 2_000, 4_000, 5_000, 5_000]);
    clock.advance(5_000);
    await breaker.execute(() => 'recovered');
    expect(breaker.toJSON()).toMatchObject({ state: 'closed', cooldownMs: 1_000 });
    await failTimes(breaker, 3);
    expect(breaker.toJSON().cooldownMs).toBe(1_000);
  });

  it('defaults maxCooldownMs to 10 minutes when growth is on', async () => {
    const { breaker, clock } = breakerWithClock({ cooldownGrowth: 10 });
    await failTimes(breaker, 3);
    for (let i = 0; i < 3; i++) {
      clock.advance(breaker.toJSON().cooldownMs);
      await failTimes(breaker, 1);
    }
    expect(breaker.toJSON().cooldownMs).toBe(600_000);
  });
});

describe('isFailure', () => {
  it('errors it rejects pass through and count as nothing: no failure, no reset of the count', async () => {
    class NotFound extends Error {}
    const { breaker } = breakerWithClock({ isFailure: (e) => !(e instanceof NotFound) });
    const seen: unknown[] = [];
    breaker.events.on('failure', (e) => seen.push(e));
    breaker.events.on('success', (e) => seen.push(e));
    await failTimes(breaker, 2);
    const notFound = new NotFound('404');
    await expect(breaker.execute(() => Promise.reject(notFound))).rejects.toBe(notFound);
    expect(breaker.toJSON().failures).toBe(2);
    expect(seen).toHaveLength(2);
    await failTimes(breaker, 1);
    expect(breaker.state).toBe('open');
  });

  it('a probe that ends with such an error frees its slot; the circuit stays half-open', async () => {
    const { breaker, clock } = breakerWithClock({ isFailure: (e) => (e as Error).message !== 'ignored' });
    await failTimes(breaker, 3);
    clock.advance(60_000);
    await expect(breaker.execute(() => boom('ignored'))).rejects.toThrow('ignored');
    expect(breaker.toJSON()).toMatchObject({ state: 'halfOpen', halfOpenInFlight: 0, retryAfterMs: 0 });
    await expect(breaker.execute(() => 'next probe')).resolves.toBe('next probe');
    expect(breaker.state).toBe('closed');
  });

  it('an isFailure that throws counts the error as a failure and the caller still gets the original error', async () => {
    const { breaker } = breakerWithClock({
      failureThreshold: 1,
      isFailure: () => {
        throw new Error('filter bug');
      },
    });
    await expect(breaker.execute(() => boom('original'))).rejects.toThrow('original');
    expect(breaker.state).toBe('open');
  });
});

describe('signal', () => {
  it('an already-aborted signal rejects with its reason, skips fn and counts as nothing', async () => {
    const { breaker } = breakerWithClock({ failureThreshold: 1 });
    const reason = new Error('caller gave up');
    let calls = 0;
    await expect(breaker.execute(() => calls++, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(calls).toBe(0);
    expect(breaker.toJSON()).toMatchObject({ state: 'closed', failures: 0 });
    await failTimes(breaker, 1);
    // Even while open, the abort reason wins: the caller asked for nothing.
    await expect(breaker.execute(() => calls++, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
  });

  it('aborting mid-call rejects at once with the reason; the late outcome counts as nothing', async () => {
    const { breaker } = breakerWithClock({ failureThreshold: 1 });
    const controller = new AbortController();
    const work = deferred();
    const call = outcome(breaker.execute(() => work.promise, { signal: controller.signal }));
    const reason = new Error('timeout');
    controller.abort(reason);
    await settle();
    expect(call).toMatchObject({ done: true, rejected: true, error: reason });
    work.reject(new Error('late failure'));
    await settle();
    expect(breaker.toJSON()).toMatchObject({ state: 'closed', failures: 0 });
  });

  it('an aborted probe keeps its slot until fn settles (no second probe against a sick dependency)', async () => {
    const { breaker, clock } = breakerWithClock();
    await failTimes(breaker, 3);
    clock.advance(60_000);
    const controller = new AbortController();
    const work = deferred();
    const probe = outcome(breaker.execute(() => work.promise, { signal: controller.signal }));
    controller.abort();
    await settle();
    expect(probe.rejected).toBe(true);
    await expect(breaker.execute(() => 1)).rejects.toMatchObject({ state: 'halfOpen' });
    work.resolve('finished anyway');
    await settle();
    expect(breaker.toJSON()).toMatchObject({ state: 'halfOpen', halfOpenInFlight: 0 });
    await expect(breaker.execute(() => 'probe')).resolves.toBe('probe');
    expect(breaker.state).toBe('closed');
  });

  it('a signal that aborts after fn settled changes nothing', async () => {
    const { breaker } = breakerWithClock({ failureThreshold: 1 });
    const controller = new AbortController();
    await expect(breaker.execute(() => boom('real'), { signal: controller.signal })).rejects.toThrow('real');
    controller.abort();
    expect(breaker.state).toBe('open');
  });
});

describe('generations: results from before the last state change are ignored', () => {
  it('a slow call started while closed that fails after others opened the circuit does not count', async () => {
    const { breaker, clock } = breakerWithClock();
    const events = record(breaker);
    const slow = deferred();
    const slowCall = outcome(breaker.execute(() => slow.promise));
    await failTimes(breaker, 3);
    clock.advance(60_000);
    await breaker.execute(() => 'probe closes it');
    expect(breaker.state).toBe('closed');
    slow.reject(new Error('slow failure'));
    await settle();
    expect(slowCall.rejected).toBe(true);
    expect(breaker.toJSON()).toMatchObject({ state: 'closed', failures: 0 });
    expect(events.filter(([t]) => t === 'failure').at(-1)?.[1]).toMatchObject({ counted: false, probe: false });
  });

  it('a slow call that fails after reset() does not count; one that succeeds does not reset a newer count', async () => {
    const { breaker } = breakerWithClock({ failureThreshold: 2 });
    const slowFail = deferred();
    const slowOk = deferred();
    outcome(breaker.execute(() => slowFail.promise));
    outcome(breaker.execute(() => slowOk.promise));
    breaker.reset();
    await failTimes(breaker, 1);
    slowFail.reject(new Error('stale'));
    slowOk.resolve('stale');
    await settle();
    expect(breaker.toJSON()).toMatchObject({ state: 'closed', failures: 1 });
  });

  it('a slow call from the closed era cannot close an open circuit by succeeding', async () => {
    const { breaker } = breakerWithClock();
    const slow = deferred();
    outcome(breaker.execute(() => slow.promise));
    await failTimes(breaker, 3);
    slow.resolve('too late');
    await settle();
    expect(breaker.state).toBe('open');
  });
});

describe('reset() and isolate()', () => {
  it('reset() closes an open circuit and clears failures and the grown cooldown', async () => {
    const { breaker, clock } = breakerWithClock({ cooldownGrowth: 2 });
    await failTimes(breaker, 3);
    clock.advance(60_000);
    await failTimes(breaker, 1);
    expect(breaker.toJSON().cooldownMs).toBe(120_000);
    breaker.reset();
    expect(breaker.toJSON()).toMatchObject({ state: 'closed', failures: 0, cooldownMs: 60_000, openedAt: null });
    await expect(breaker.execute(() => 1)).resolves.toBe(1);
  });

  it('isolate() forces open until the handle is disposed; rejections say isolated, retryAfterMs Infinity', async () => {
    const { breaker } = breakerWithClock({ name: 'api' });
    const events = record(breaker);
    const handle = breaker.isolate();
    expect(breaker.state).toBe('open');
    let calls = 0;
    const error = await breaker.execute(() => calls++).catch((e: unknown) => e);
    expect(calls).toBe(0);
    expect(error).toMatchObject({ code: 'EBROKENCIRCUIT', state: 'open', isolated: true, circuit: 'api' });
    expect((error as BrokenCircuitError).retryAfterMs).toBe(Number.POSITIVE_INFINITY);
    expect((error as Error).message).toMatch(/isolated/);
    expect(breaker.toJSON()).toMatchObject({ state: 'open', isolated: true, retryAfterMs: null });
    handle.dispose();
    expect(breaker.state).toBe('closed');
    handle.dispose(); // idempotent
    expect(breaker.state).toBe('closed');
    const changes = events.filter(([t]) => t === 'stateChange').map(([, p]) => p);
    expect(changes).toEqual([
      { circuit: 'api', from: 'closed', to: 'open' },
      { circuit: 'api', from: 'open', to: 'closed' },
    ]);
    expect(events.find(([t]) => t === 'open')?.[1]).toMatchObject({ isolated: true });
  });

  it('stays open until every handle is disposed; reset() ends all isolations and old handles stay inert', async () => {
    const { breaker } = breakerWithClock();
    const a = breaker.isolate();
    const b = breaker.isolate();
    a.dispose();
    expect(breaker.state).toBe('open');
    b.dispose();
    expect(breaker.state).toBe('closed');
    const c = breaker.isolate();
    breaker.reset();
    expect(breaker.state).toBe('closed');
    const d = breaker.isolate();
    c.dispose(); // from before reset(): must not end d's isolation
    expect(breaker.state).toBe('open');
    d.dispose();
    expect(breaker.state).toBe('closed');
  });

  it('calls running when isolate() was called still report to the underlying circuit', async () => {
    const { breaker } = breakerWithClock({ failureThreshold: 1 });
    const work = deferred();
    outcome(breaker.execute(() => work.promise));
    const handle = breaker.isolate();
    work.reject(new Error('fails while isolated'));
    await settle();
    handle.dispose();
    expect(breaker.state).toBe('open');
  });

  it('isolating an open circuit and disposing returns to the underlying state', async () => {
    const { breaker, clock } = breakerWithClock();
    await failTimes(breaker, 3);
    const handle = breaker.isolate();
    clock.advance(60_000);
    expect(breaker.state).toBe('open');
    handle.dispose();
    expect(breaker.state).toBe('halfOpen');
  });
});

describe('toJSON()', () => {
  it('reports state, failures, openedAt, current cooldown, retryAfterMs and probes in flight', async () => {
    const { breaker, clock } = breakerWithClock({ name: 'x', cooldownMs: 10_000 });
    expect(breaker.toJSON()).toEqual({
      name: 'x',
      state: 'closed',
      failures: 0,
      openedAt: null,
      cooldownMs: 10_000,
      retryAfterMs: 0,
      halfOpenInFlight: 0,
      isolated: false,
      generation: 0,
    });
    await failTimes(breaker, 3);
    clock.advance(2_500);
    expect(breaker.toJSON()).toEqual({
      name: 'x',
      state: 'open',
      failures: 3,
      openedAt: T0,
      cooldownMs: 10_000,
      retryAfterMs: 7_500,
      halfOpenInFlight: 0,
      isolated: false,
      generation: 1,
    });
    clock.advance(7_500);
    const probe = deferred();
    outcome(breaker.execute(() => probe.promise));
    expect(breaker.toJSON()).toMatchObject({ state: 'halfOpen', halfOpenInFlight: 1, retryAfterMs: 10_000 });
    expect(JSON.parse(JSON.stringify(breaker))).toMatchObject({ state: 'halfOpen' });
    probe.resolve(1);
    await settle();
    expect(breaker.toJSON()).toMatchObject({ state: 'closed', generation: 2, halfOpenInFlight: 0 });
  });
});

describe('sharing one store between breakers (the same protocol the file store uses across processes)', () => {
  it('one breaker opening is seen by the other, which rejects without running fn', async () => {
    const clock = fakeClock();
    const store = memoryStore();
    const a = new CircuitBreaker({ now: clock.now, store });
    const b = new CircuitBreaker({ now: clock.now, store });
    const seenByB = record(b);
    await failTimes(a, 2);
    await failTimes(b, 1); // the count is shared: three consecutive failures in all
    expect(a.state).toBe('open');
    let calls = 0;
    await expect(b.execute(() => calls++)).rejects.toBeInstanceOf(BrokenCircuitError);
    expect(calls).toBe(0);
    expect(seenByB.map(([t]) => t)).toContain('open');
  });

  it('the probe lease lets only one breaker probe; others are rejected until it reports', async () => {
    const clock = fakeClock();
    const store = memoryStore();
    const a = new CircuitBreaker({ now: clock.now, store });
    const b = new CircuitBreaker({ now: clock.now, store });
    await failTimes(a, 3);
    clock.advance(60_000);
    const probe = deferred();
    outcome(a.execute(() => probe.promise));
    clock.advance(1_000);
    await expect(b.execute(() => 1)).rejects.toMatchObject({ state: 'halfOpen', retryAfterMs: 59_000 });
    expect(b.toJSON()).toMatchObject({ state: 'halfOpen', retryAfterMs: 59_000, halfOpenInFlight: 0 });
    probe.resolve('ok');
    await settle();
    expect(b.state).toBe('closed');
    await expect(b.execute(() => 2)).resolves.toBe(2);
  });

  it('a probe that ends without a verdict hands the lease back at once', async () => {
    const clock = fakeClock();
    const store = memoryStore();
    const a = new CircuitBreaker({ now: clock.now, store, isFailure: () => false });
    const b = new CircuitBreaker({ now: clock.now, store });
    await failTimes(b, 3);
    clock.advance(60_000);
    await expect(a.execute(() => boom('not a failure'))).rejects.toThrow('not a failure');
    await expect(b.execute(() => 'b probes')).resolves.toBe('b probes');
    expect(a.state).toBe('closed');
  });

  it('a lease whose holder vanished expires after one cooldown; the circuit is never stuck', async () => {
    const clock = fakeClock();
    const store = memoryStore();
    const a = new CircuitBreaker({ now: clock.now, store });
    const b = new CircuitBreaker({ now: clock.now, store });
    await failTimes(a, 3);
    clock.advance(60_000);
    outcome(a.execute(() => new Promise(() => {}))); // a probe that never ends
    clock.advance(59_999);
    await expect(b.execute(() => 1)).rejects.toMatchObject({ state: 'halfOpen', retryAfterMs: 1 });
    clock.advance(1);
    await expect(b.execute(() => 'b probes')).resolves.toBe('b probes');
    expect(b.state).toBe('closed');
  });
});

describe('no timers', () => {
  it('creates no timer or handle while opening, rejecting, probing and closing', async () => {
    const before = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap');
    const { breaker, clock } = breakerWithClock();
    await failTimes(breaker, 3);
    await breaker.execute(() => 1).catch(() => {});
    clock.advance(60_000);
    await breaker.execute(() => 1);
    const after = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap');
    expect(after).toEqual(before);
  });
});

describe('factory', () => {
  it('circuitBreaker(options) builds a CircuitBreaker', async () => {
    const breaker = circuitBreaker({ failureThreshold: 1, name: 'f' });
    expect(breaker).toBeInstanceOf(CircuitBreaker);
    expect(breaker.name).toBe('f');
    await failTimes(breaker, 1);
    expect(breaker.state).toBe('open');
  });

  it('uses Date.now by default', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1, cooldownMs: 1_000 });
    const before = Date.now();
    await failTimes(breaker, 1);
    const { openedAt } = breaker.toJSON();
    expect(openedAt).toBeGreaterThanOrEqual(before);
    expect(openedAt).toBeLessThanOrEqual(Date.now());
  });
});
