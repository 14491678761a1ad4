import { describe, expect, it } from 'vitest';
import { memoizeConnection } from '../src/index.js';
import { type Conn, flush, manualConnector, track } from './helpers.js';

describe('single flight', () => {
  it('10 000 concurrent get() make exactly one connect() and all receive the same connection', async () => {
    const c = manualConnector();
    const memo = memoizeConnection<Conn>({ connect: c.connect, close: c.close });
    expect(memo.state).toBe('idle');
    const waiters = Array.from({ length: 10_000 }, () => memo.get());
    expect(c.connects).toBe(1);
    expect(memo.state).toBe('connecting');
    const conn = c.call(1).resolve();
    const results = await Promise.all(waiters);
    expect(c.connects).toBe(1);
    expect(new Set(results).size).toBe(1);
    expect(results[0]).toBe(conn);
    expect(memo.state).toBe('connected');
    expect(memo.current).toBe(conn);
  });

  it('10 000 concurrent get() with their own signals also make one connect()', async () => {
    const c = manualConnector();
    const memo = memoizeConnection<Conn>({ connect: c.connect, close: c.close });
    const controllers = Array.from({ length: 10_000 }, () => new AbortController());
    const waiters = controllers.map((ac) => memo.get({ signal: ac.signal }));
    const conn = c.call(1).resolve();
    const results = await Promise.all(waiters);
    expect(c.connects).toBe(1);
    expect(results.every((r) => r === conn)).toBe(true);
  });

  it('a cached get() returns the very same settled promise (no allocation, no connect)', async () => {
    const c = manualConnector();
    const memo = memoizeConnection<Conn>({ connect: c.connect, close: c.close });
    const first = memo.get();
    c.call(1).resolve();
    const conn = await first;
    const a = memo.get();
    const b = memo.get();
    expect(a).toBe(b);
    expect(await a).toBe(conn);
    const signal = new AbortController().signal;
    expect(memo.get({ signal })).toBe(a);
    expect(memo.get({})).toBe(a);
    expect(c.connects).toBe(1);
  });

  it('a cached get() emits no event', async () => {
    const c = manualConnector();
    const memo = memoizeConnection<Conn>({ connect: c.connect, close: c.close });
    const p = memo.get();
    c.call(1).resolve();
    await p;
    const seen: string[] = [];
    memo.events.on('*', (type) => seen.push(String(type)));
    for (let i = 0; i < 100; i++) await memo.get();
    expect(seen).toEqual([]);
  });

  it('a rejected connect reaches every concurrent waiter, is forgotten, and the next get() connects again', async () => {
    const c = manualConnector();
    const memo = memoizeConnection<Conn>({ connect: c.connect, close: c.close });
    const failures: unknown[] = [];
    memo.events.on('connectFailed', (e) => failures.push(e.error));
    const plain = Array.from({ length: 50 }, () => track(memo.get()));
    const withSignal = Array.from({ length: 50 }, () => track(memo.get({ signal: new AbortController().signal })));
    const boom = new Error('ECONNREFUSED 127.0.0.1:1');
    c.call(1).reject(boom);
    await flush();
    for (const w of [...plain, ...withSignal]) {
      expect(w.status).toBe('rejected');
      expect(w.reason).toBe(boom);
    }
    expect(failures).toEqual([boom]);
    expect(memo.state).toBe('idle');
    expect(memo.current).toBeUndefined();

    const next = memo.get();
    expect(c.connects).toBe(2);
    const conn = c.call(2).resolve();
    expect(await next).toBe(conn);
    expect(memo.state).toBe('connected');
  });

  it('a get() made after a failure does not receive the old failure', async () => {
    const c = manualConnector();
    const memo = memoizeConnection<Conn>({ connect: c.connect, close: c.close });
    const first = track(memo.get());
    c.call(1).reject(new Error('first'));
    await flush();
    expect(first.status).toBe('rejected');
    const second = track(memo.get());
    await flush();
    expect(second.status).toBe('pending');
    c.call(2).resolve();
    await flush();
    expect(second.status).toBe('fulfilled');
  });

  it('connect() that throws synchronously rejects get() instead of throwing from it', async () => {
    const boom = new Error('sync throw');
    let calls = 0;
    const memo = memoizeConnection<Conn>({
      connect: () => {
        calls++;
        throw boom;
      },
      close: () => {},
    });
    const p = memo.get();
    await expect(p).rejects.toBe(boom);
    await expect(memo.get()).rejects.toBe(boom);
    expect(calls).toBe(2);
  });

  it('a connection is not closed while it is cached', async () => {
    const c = manualConnector();
    const memo = memoizeConnection<Conn>({ connect: c.connect, close: c.close });
    const p = memo.get();
    c.call(1).resolve();
    await p;
    await flush();
    expect(c.closeCounts.size).toBe(0);
  });
});
