import { captureWarnings, listenerWarning } from '@spawnguard/internal/testing';
import { describe, expect, it } from 'vitest';
import { BrokenCircuitError } from '../src/index.js';
import { boom, breakerWithClock, deferred, failTimes, outcome, record, settle } from './helpers.js';

describe('events', () => {
  it('a full cycle emits, in order and after the state is updated, every transition and outcome', async () => {
    const { breaker, clock } = breakerWithClock({ name: 'svc', cooldownMs: 1_000 });
    const events = record(breaker);
    const stateWhenEmitted: string[] = [];
    breaker.events.on('stateChange', () => stateWhenEmitted.push(breaker.state));
    await breaker.execute(() => 1);
    await failTimes(breaker, 3);
    await breaker.execute(() => 1).catch(() => {});
    clock.advance(1_000);
    await breaker.execute(() => 'probe');
    expect(events.map(([type]) => type)).toEqual([
      'success',
      'failure',
      'failure',
      'failure',
      'stateChange',
      'open',
      'rejected',
      'stateChange', // open -> halfOpen, seen when the probe call looks
      'halfOpen',
      'success',
      'stateChange',
      'close',
    ]);
    const payload = (type: string, nth = 0) => events.filter(([t]) => t === type)[nth]?.[1];
    expect(payload('failure', 2)).toMatchObject({
      circuit: 'svc',
      probe: false,
      counted: true,
      failures: 3,
      error: expect.any(Error),
    });
    expect(payload('open')).toEqual({ circuit: 'svc', retryAfterMs: 1_000, cooldownMs: 1_000, isolated: false });
    expect(payload('rejected')).toMatchObject({ circuit: 'svc', error: expect.any(BrokenCircuitError) });
    expect(payload('success', 1)).toEqual({ circuit: 'svc', probe: true, counted: true });
    expect(events.filter(([t]) => t === 'stateChange').map(([, p]) => p)).toEqual([
      { circuit: 'svc', from: 'closed', to: 'open' },
      { circuit: 'svc', from: 'open', to: 'halfOpen' },
      { circuit: 'svc', from: 'halfOpen', to: 'closed' },
    ]);
    expect(stateWhenEmitted).toEqual(['open', 'halfOpen', 'closed']);
  });

  it('reading state reports the lazy open -> halfOpen transition', async () => {
    const { breaker, clock } = breakerWithClock();
    await failTimes(breaker, 3);
    const events = record(breaker);
    clock.advance(60_000);
    expect(events).toEqual([]); // no timer fired anything
    expect(breaker.state).toBe('halfOpen');
    expect(events.map(([t]) => t)).toEqual(['stateChange', 'halfOpen']);
  });

  it('ignored errors and aborted calls emit neither success nor failure', async () => {
    const { breaker } = breakerWithClock({ isFailure: () => false });
    const events = record(breaker);
    await breaker.execute(() => boom()).catch(() => {});
    const controller = new AbortController();
    const work = deferred();
    outcome(breaker.execute(() => work.promise, { signal: controller.signal }));
    controller.abort();
    work.resolve(1);
    await settle();
    expect(events).toEqual([]);
  });
});

describe('a throwing listener', () => {
  it('breaks neither the state, nor the other listeners, nor the caller; it is also reported as listenerError', async () => {
    const { breaker } = breakerWithClock({ failureThreshold: 2 });
    const calls: string[] = [];
    const reported: unknown[] = [];
    breaker.events.on('failure', () => {
      calls.push('first failure listener');
      throw new Error('listener bug');
    });
    breaker.events.on('failure', () => calls.push('second failure listener'));
    breaker.events.on('open', () => {
      throw new Error('open listener bug');
    });
    breaker.events.on('open', () => calls.push('second open listener'));
    breaker.events.on('success', () => {
      throw new Error('success listener bug');
    });
    breaker.events.on('*', () => {
      throw new Error('wildcard bug');
    });
    breaker.events.on('listenerError', (e) => reported.push(e));

    await expect(breaker.execute(() => 'value')).resolves.toBe('value');
    const original = new Error('fn error');
    await expect(breaker.execute(() => Promise.reject(original))).rejects.toBe(original);
    await expect(breaker.execute(() => Promise.reject(original))).rejects.toBe(original);
    expect(breaker.state).toBe('open');
    expect(calls).toEqual([
      'first failure listener',
      'second failure listener',
      'first failure listener',
      'second failure listener',
      'second open listener',
    ]);
    expect(reported).toContainEqual({ circuit: undefined, event: 'failure', error: new Error('listener bug') });
    expect(reported).toContainEqual({ circuit: undefined, event: 'open', error: new Error('open listener bug') });
    expect(reported).toContainEqual({ circuit: undefined, event: 'success', error: new Error('success listener bug') });
    expect(reported).toContainEqual({ circuit: undefined, event: 'stateChange', error: new Error('wildcard bug') });
  });

  it('is a process warning with code SPAWNGUARD_LISTENER_ERROR naming the event (like every package), listenerError or not', async () => {
    const warnings = await captureWarnings();
    try {
      const { breaker } = breakerWithClock({ failureThreshold: 1 });
      const bug = new Error('bug');
      breaker.events.on('failure', () => {
        throw bug;
      });
      const others: string[] = [];
      breaker.events.on('failure', () => others.push('second failure listener'));
      await expect(breaker.execute(() => boom('fn'))).rejects.toThrow('fn');
      expect(breaker.state).toBe('open');
      expect(others).toEqual(['second failure listener']);
      await warnings.settled();
      expect(warnings.entries()).toEqual([listenerWarning('@spawnguard/circuit-breaker', 'failure', bug)]);
    } finally {
      warnings.stop();
    }
  });

  it('a throwing listenerError listener cannot loop: it is only a warning', async () => {
    const warnings = await captureWarnings();
    try {
      const { breaker } = breakerWithClock({ failureThreshold: 1 });
      breaker.events.on('failure', () => {
        throw new Error('bug');
      });
      let reports = 0;
      breaker.events.on('listenerError', () => {
        reports++;
        throw new Error('listenerError listener bug');
      });
      await expect(breaker.execute(() => boom('fn again'))).rejects.toThrow('fn again');
      expect(reports).toBe(1);
      expect(breaker.state).toBe('open');
      await warnings.settled();
      expect(warnings.list.map((w) => [w.event, (w.cause as Error).message])).toEqual([
        ['failure', 'bug'],
        ['listenerError', 'listenerError listener bug'],
      ]);
    } finally {
      warnings.stop();
    }
  });

  it('a rejected call still rejects with BrokenCircuitError when its listener throws', async () => {
    const { breaker } = breakerWithClock();
    breaker.events.on('rejected', () => {
      throw new Error('bug');
    });
    breaker.isolate();
    await expect(breaker.execute(() => 1)).rejects.toBeInstanceOf(BrokenCircuitError);
  });
});

describe('listeners calling back into the breaker', () => {
  it('reset() from an open listener leaves the circuit closed and the caller still gets its error', async () => {
    const { breaker } = breakerWithClock({ failureThreshold: 1 });
    breaker.events.on('open', () => breaker.reset());
    await expect(breaker.execute(() => boom('fn'))).rejects.toThrow('fn');
    expect(breaker.state).toBe('closed');
    await expect(breaker.execute(() => 'works')).resolves.toBe('works');
  });

  it('execute() from a listener runs against the updated state', async () => {
    const { breaker } = breakerWithClock({ failureThreshold: 1 });
    const nested: unknown[] = [];
    breaker.events.on('open', () => {
      breaker
        .execute(() => 'nested')
        .then(
          (v) => nested.push(v),
          (e) => nested.push(e),
        );
    });
    await breaker.execute(() => boom()).catch(() => {});
    await settle();
    expect(nested).toHaveLength(1);
    expect(nested[0]).toBeInstanceOf(BrokenCircuitError);
  });
});
