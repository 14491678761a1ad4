import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConnectTimeoutError, memoizeConnection } from '../src/index.js';
import { type Conn, flush, manualConnector, track } from './helpers.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('connectTimeoutMs', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("aborts the connect's signal and rejects every waiter with ConnectTimeoutError", async () => {
    const c = manualConnector({ honorAbort: true });
    const memo = memoizeConnection<Conn>({ connect: c.connect, close: c.close, connectTimeoutMs: 30 });
    const failed: unknown[] = [];
    memo.events.on('connectFailed', (e) => failed.push(e.error));
    const waiters = [memo.get(), memo.get({ signal: new AbortController().signal })];
    const results = await Promise.allSettled(waiters);
    for (const r of results) {
      expect(r.status).toBe('rejected');
      const error = (r as PromiseRejectedResult).reason as ConnectTimeoutError;
      expect(error).toBeInstanceOf(ConnectTimeoutError);
      expect(error.code).toBe('ECONNECTTIMEOUT');
      expect(error.timeoutMs).toBe(30);
      expect(error.message).toMatch(/30 ms/);
    }
    expect(c.call(1).signal.aborted).toBe(true);
    expect(c.call(1).signal.reason).toBe((results[0] as PromiseRejectedResult).reason);
    expect(failed).toHaveLength(1);
    expect(memo.state).toBe('idle');
    const next = memo.get();
    expect(c.connects).toBe(2);
    c.call(2).resolve();
    expect((await next).id).toBe(2);
  });

  it('a slow connect that ignores its signal and resolves after the timeout is closed, never handed out', async () => {
    const c = manualConnector({ honorAbort: false });
    const memo = memoizeConnection<Conn>({ connect: c.connect, close: c.close, connectTimeoutMs: 20 });
    const closing: Array<{ connection: Conn; reason: string }> = [];
    memo.events.on('closing', (e) => closing.push({ connection: e.connection, reason: e.reason }));
    await expect(memo.get()).rejects.toBeInstanceOf(ConnectTimeoutError);
    const late = c.call(1).resolve();
    await flush();
    expect(c.closeCounts.get(late.id)).toBe(1);
    expect(closing).toEqual([{ connection: late, reason: 'timeout' }]);
    expect(memo.state).toBe('idle');
    expect(memo.current).toBeUndefined();
  });

  it('a connect that succeeds in time clears its timer: no later failure, stays connected', async () => {
    const c = manualConnector();
    const memo = memoizeConnection<Conn>({ connect: c.connect, close: c.close, connectTimeoutMs: 20 });
    const failed: unknown[] = [];
    memo.events.on('connectFailed', (e) => failed.push(e.error));
    const p = memo.get();
    const conn = c.call(1).resolve();
    expect(await p).toBe(conn);
    await sleep(50);
    expect(failed).toEqual([]);
    expect(memo.state).toBe('connected');
    expect(c.call(1).signal.aborted).toBe(false);
  });

  it('the timeout timer is unref()ed so it never keeps the process alive', async () => {
    const spy = vi.spyOn(globalThis, 'setTimeout');
    const c = manualConnector({ honorAbort: true });
    const memo = memoizeConnection<Conn>({ connect: c.connect, close: c.close, connectTimeoutMs: 60_000 });
    const p = track(memo.get());
    const ours = spy.mock.calls.flatMap((call, i) =>
      call[1] === 60_000 ? [spy.mock.results[i]!.value as NodeJS.Timeout] : [],
    );
    expect(ours).toHaveLength(1);
    expect(ours[0]!.hasRef()).toBe(false);
    await memo.close();
    await flush();
    expect(p.status).toBe('rejected');
  });

  it('a reset waiting for an in-flight connect that ignores its signal stops waiting at the timeout', async () => {
    const c = manualConnector({ honorAbort: false });
    const memo = memoizeConnection<Conn>({ connect: c.connect, close: c.close, connectTimeoutMs: 300 });
    const order: string[] = [];
    const w = memo.get();
    const r = memo.reset().then(() => order.push('reset done'));
    // the reset aborted it, but it ignores its signal: only the timeout ends the reset's wait
    expect(c.call(1).signal.aborted).toBe(true);
    await flush();
    expect(c.connects).toBe(1);
    expect(order).toEqual([]);
    await r;
    expect(order).toEqual(['reset done']);
    expect(c.connects).toBe(2); // the waiter's new connect
    const fresh = c.call(2).resolve();
    expect(await w).toBe(fresh);
    const late = c.call(1).resolve(); // the old one finally arrives: closed, reason reset
    await flush();
    expect(c.closeCounts.get(late.id)).toBe(1);
    expect(memo.current).toBe(fresh);
  });

  it('a late connection after a timeout does not disturb the connection made since', async () => {
    const c = manualConnector({ honorAbort: false });
    const memo = memoizeConnection<Conn>({ connect: c.connect, close: c.close, connectTimeoutMs: 20 });
    await expect(memo.get()).rejects.toBeInstanceOf(ConnectTimeoutError);
    const next = memo.get();
    const fresh = c.call(2).resolve();
    expect(await next).toBe(fresh);
    const late = c.call(1).resolve();
    await flush();
    expect(c.closeCounts.get(late.id)).toBe(1);
    expect(c.closeCounts.has(fresh.id)).toBe(false);
    expect(memo.current).toBe(fresh);
  });

  it('a connect that rejects after the timeout is ignored (waiters already have the timeout error)', async () => {
    const c = manualConnector({ honorAbort: false });
    const memo = memoizeConnection<Conn>({ connect: c.connect, close: c.close, connectTimeoutMs: 20 });
    const failed: unknown[] = [];
    memo.events.on('connectFailed', (e) => failed.push(e.error));
    await expect(memo.get()).rejects.toBeInstanceOf(ConnectTimeoutError);
    c.call(1).reject(new Error('too late'));
    await flush();
    expect(failed).toHaveLength(1);
    expect(failed[0]).toBeInstanceOf(ConnectTimeoutError);
  });
});
