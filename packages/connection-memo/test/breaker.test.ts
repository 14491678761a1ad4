import { describe, expect, it } from 'vitest';
import { type ConnectionBreaker, memoizeConnection } from '../src/index.js';
import { type Conn, flush, manualConnector, track } from './helpers.js';

class OpenCircuitError extends Error {
  readonly code = 'EBROKENCIRCUIT';
}

/** The smallest real breaker: opens after `threshold` consecutive failures, counts its calls. */
class CountingBreaker implements ConnectionBreaker {
  executions = 0;
  failures = 0;
  state: 'closed' | 'open' = 'closed';
  lastSignal: AbortSignal | undefined;
  constructor(
    readonly threshold: number,
    readonly ownSignal?: AbortSignal,
  ) {}

  async execute<T>(fn: (context: { signal: AbortSignal }) => Promise<T>, options?: { signal?: AbortSignal }) {
    this.executions++;
    this.lastSignal = options?.signal;
    if (this.state === 'open') throw new OpenCircuitError('circuit open');
    try {
      const result = await fn({ signal: this.ownSignal ?? options?.signal ?? new AbortController().signal });
      this.failures = 0;
      return result;
    } catch (error) {
      if (++this.failures >= this.threshold) this.state = 'open';
      throw error;
    }
  }
}

describe('breaker', () => {
  it('every connect goes through breaker.execute with the connect signal', async () => {
    const c = manualConnector();
    const breaker = new CountingBreaker(3);
    const memo = memoizeConnection<Conn>({ connect: c.connect, close: c.close, breaker });
    const p = memo.get();
    await flush(1);
    expect(breaker.executions).toBe(1);
    expect(breaker.lastSignal).toBe(c.call(1).signal);
    const conn = c.call(1).resolve();
    expect(await p).toBe(conn);
    await memo.get();
    expect(breaker.executions).toBe(1); // cached: the breaker is not consulted
  });

  it('a rejected connect is retried by the next get() through the breaker; an open circuit rejects without connecting', async () => {
    let connects = 0;
    const refused = new Error('ECONNREFUSED');
    const breaker = new CountingBreaker(3);
    const memo = memoizeConnection<Conn>({
      connect: async () => {
        connects++;
        throw refused;
      },
      close: () => {},
      breaker,
    });
    for (let i = 0; i < 3; i++) await expect(memo.get()).rejects.toBe(refused);
    expect(connects).toBe(3);
    expect(breaker.state).toBe('open');
    const waiters = Array.from({ length: 100 }, () => track(memo.get()));
    await flush();
    for (const w of waiters) {
      expect(w.status).toBe('rejected');
      expect(w.reason).toBeInstanceOf(OpenCircuitError);
    }
    expect(breaker.executions).toBe(4); // 100 concurrent callers: one execute
    expect(connects).toBe(3); // open: connect() was not called
    expect(memo.state).toBe('idle');
  });

  it('recovers when the breaker closes again', async () => {
    const c = manualConnector();
    const breaker = new CountingBreaker(1);
    breaker.state = 'open';
    const memo = memoizeConnection<Conn>({ connect: c.connect, close: c.close, breaker });
    await expect(memo.get()).rejects.toBeInstanceOf(OpenCircuitError);
    breaker.state = 'closed';
    const p = memo.get();
    await flush(1);
    const conn = c.call(1).resolve();
    expect(await p).toBe(conn);
  });

  it("connect hears both the memo's abort and the breaker's own signal", async () => {
    const c = manualConnector({ honorAbort: true });
    const breakerSide = new AbortController();
    const breaker = new CountingBreaker(5, breakerSide.signal);
    const memo = memoizeConnection<Conn>({ connect: c.connect, close: c.close, breaker });
    const ac = new AbortController();
    const w = track(memo.get({ signal: ac.signal }));
    await flush(1);
    const seen = c.call(1).signal;
    expect(seen).not.toBe(breakerSide.signal);
    ac.abort(); // every waiter left: the memo aborts
    expect(seen.aborted).toBe(true);
    await flush();
    expect(w.status).toBe('rejected');

    const second = track(memo.get());
    await flush(1);
    const reason = new Error('breaker isolated');
    breakerSide.abort(reason);
    await flush();
    expect(second.status).toBe('rejected');
    expect(second.reason).toBe(reason);
  });

  it('a breaker.execute that throws synchronously rejects get()', async () => {
    const boom = new Error('sync breaker');
    const memo = memoizeConnection<Conn>({
      connect: async () => ({ id: 1 }),
      close: () => {},
      breaker: {
        execute: () => {
          throw boom;
        },
      },
    });
    await expect(memo.get()).rejects.toBe(boom);
  });
});
