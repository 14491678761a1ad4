import { describe, expect, it } from 'vitest';
import { CircuitBreaker, memoryStore } from '../src/index.js';
import { breakerWithClock, failTimes, record } from './helpers.js';

describe('recordFailure(): a failure seen outside execute()', () => {
  it('counts like a failed call while closed, and opens the circuit at failureThreshold', () => {
    const { breaker } = breakerWithClock({ failureThreshold: 3 });
    const crash = new Error('the dependency died after its call succeeded');
    breaker.recordFailure(crash);
    breaker.recordFailure(crash);
    expect(breaker.toJSON()).toMatchObject({ state: 'closed', failures: 2 });
    breaker.recordFailure(crash);
    expect(breaker.toJSON()).toMatchObject({ state: 'open', failures: 3, retryAfterMs: 60_000 });
  });

  it('adds to the failures of execute() calls, and a success still resets the count', async () => {
    const { breaker } = breakerWithClock({ failureThreshold: 3 });
    await failTimes(breaker, 2);
    breaker.recordFailure(new Error('late'));
    expect(breaker.state).toBe('open');
    breaker.reset();
    breaker.recordFailure(new Error('late'));
    await breaker.execute(() => 'ok');
    expect(breaker.toJSON().failures).toBe(0);
  });

  it('emits failure (probe: false) with the counted flag, and the open transition', () => {
    const { breaker } = breakerWithClock({ failureThreshold: 1, name: 'dep' });
    const seen = record(breaker);
    const error = new Error('late');
    breaker.recordFailure(error);
    expect(seen.map(([type]) => type)).toEqual(['failure', 'stateChange', 'open']);
    expect(seen[0]![1]).toEqual({ circuit: 'dep', error, probe: false, counted: true, failures: 1 });
  });

  it('changes nothing while the circuit is open or half-open (the next probe decides)', () => {
    const { breaker, clock } = breakerWithClock({ failureThreshold: 1, cooldownMs: 1000 });
    breaker.recordFailure(new Error('first'));
    const opened = breaker.toJSON();
    const seen = record(breaker);
    breaker.recordFailure(new Error('while open'));
    expect(breaker.toJSON()).toEqual(opened);
    expect(seen).toEqual([['failure', expect.objectContaining({ counted: false, failures: 1 })]]);
    clock.advance(1000);
    expect(breaker.state).toBe('halfOpen');
    breaker.recordFailure(new Error('while half-open'));
    expect(breaker.state).toBe('halfOpen');
  });

  it('is not filtered by isFailure: the caller says it is a failure', () => {
    const { breaker } = breakerWithClock({ failureThreshold: 1, isFailure: () => false });
    breaker.recordFailure(new Error('counted anyway'));
    expect(breaker.state).toBe('open');
  });

  it('is shared through the store like any other failure', () => {
    const store = memoryStore();
    const a = new CircuitBreaker({ failureThreshold: 2, store });
    const b = new CircuitBreaker({ failureThreshold: 2, store });
    a.recordFailure(new Error('x'));
    b.recordFailure(new Error('y'));
    expect(a.state).toBe('open');
    expect(b.state).toBe('open');
  });
});
