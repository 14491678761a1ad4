import { describe, expect, it } from 'vitest';
import { memoizeConnection } from '../src/index.js';
import { type Conn, flush, manualConnector, track } from './helpers.js';

async function connected(options: Parameters<typeof manualConnector>[0] = {}) {
  const c = manualConnector(options);
  const memo = memoizeConnection<Conn>({ connect: c.connect, close: c.close });
  const p = memo.get();
  const old = c.call(1).resolve();
  await p;
  return { c, memo, old };
}

describe('reset', () => {
  it('with 100 pending get(): closes the old connection once, strictly before the new connect, and all get the new one', async () => {
    const { c, memo, old } = await connected({ closeDelayMs: 30 });
    const resetting = memo.reset();
    expect(memo.state).toBe('resetting');
    expect(memo.current).toBeUndefined();
    const waiters = Array.from({ length: 100 }, (_, i) =>
      i % 2 === 0 ? memo.get() : memo.get({ signal: new AbortController().signal }),
    );
    await resetting;
    expect(c.connects).toBe(2);
    const fresh = c.call(2).resolve();
    const results = await Promise.all(waiters);
    expect(results.every((r) => r === fresh)).toBe(true);
    expect(results.includes(old)).toBe(false);
    expect(c.closeCounts.get(old.id)).toBe(1);
    expect(c.log).toEqual(['connect:1', 'close:1:start', 'close:1:end', 'connect:2']);
    expect(c.log.indexOf('close:1:end')).toBeLessThan(c.log.indexOf('connect:2'));
  });

  it('a get() made right after reset() never joins or receives the old connection (unlike p-memoize after clear)', async () => {
    const { c, memo, old } = await connected();
    void memo.reset();
    const next = memo.get();
    await flush();
    const fresh = c.call(2).resolve();
    const got = await next;
    expect(got).toBe(fresh);
    expect(got).not.toBe(old);
  });

  it('100 get() pending on an in-flight connect: reset closes that connection when it arrives; all get the new one', async () => {
    const c = manualConnector({ honorAbort: false });
    const memo = memoizeConnection<Conn>({ connect: c.connect, close: c.close });
    const reasons: string[] = [];
    memo.events.on('closing', (e) => reasons.push(`${e.connection.id}:${e.reason}`));
    const waiters = Array.from({ length: 100 }, () => track(memo.get()));
    const resetting = track(memo.reset());
    expect(c.call(1).signal.aborted).toBe(true);
    expect(memo.state).toBe('resetting');
    await flush();
    // reset waits for the old attempt to settle: no second connect while the first is in flight
    expect(resetting.status).toBe('pending');
    expect(c.connects).toBe(1);
    const stale = c.call(1).resolve(); // ignored its signal
    await flush();
    expect(resetting.status).toBe('fulfilled');
    expect(c.closeCounts.get(stale.id)).toBe(1);
    expect(reasons).toEqual(['1:reset']);
    expect(c.log).toEqual(['connect:1', 'close:1:start', 'close:1:end', 'connect:2']);
    expect(waiters.every((w) => w.status === 'pending')).toBe(true);
    const fresh = c.call(2).resolve();
    await flush();
    expect(waiters.every((w) => w.status === 'fulfilled' && w.value === fresh)).toBe(true);
  });

  it('an in-flight connect that honours the abort on reset: its rejection does not reach the waiters', async () => {
    const c = manualConnector({ honorAbort: true });
    const memo = memoizeConnection<Conn>({ connect: c.connect, close: c.close });
    const failed: unknown[] = [];
    memo.events.on('connectFailed', (e) => failed.push(e.error));
    const w = track(memo.get());
    await memo.reset();
    expect(c.call(1).signal.aborted).toBe(true);
    expect(c.connects).toBe(2);
    await flush();
    expect(w.status).toBe('pending');
    const fresh = c.call(2).resolve();
    await flush();
    expect(w.value).toBe(fresh);
    expect(failed).toEqual([]);
  });

  it('two concurrent resets close once', async () => {
    const { c, memo, old } = await connected({ closeDelayMs: 10 });
    const first = memo.reset().then(() => c.log.push('first reset resolved'));
    const second = memo.reset().then(() => c.log.push('second reset resolved'));
    await Promise.all([first, second]);
    expect(c.closeCounts.get(old.id)).toBe(1);
    // the second reset joins the first: it too resolves only once the old connection is closed
    expect(c.log).toEqual([
      'connect:1',
      'close:1:start',
      'close:1:end',
      'first reset resolved',
      'second reset resolved',
    ]);
    expect(c.closeCounts.size).toBe(1);
    expect(memo.state).toBe('idle');
  });

  it('many concurrent resets with pending get() close once and connect once', async () => {
    const { c, memo, old } = await connected({ closeDelayMs: 5 });
    const resets = Array.from({ length: 20 }, () => memo.reset());
    const waiters = Array.from({ length: 20 }, () => memo.get());
    await Promise.all(resets);
    const fresh = c.call(2).resolve();
    expect(new Set(await Promise.all(waiters))).toEqual(new Set([fresh]));
    expect(c.closeCounts.get(old.id)).toBe(1);
    expect(c.connects).toBe(2);
  });

  it('reset when idle does nothing and does not connect; reset is lazy about reconnecting', async () => {
    const c = manualConnector();
    const memo = memoizeConnection<Conn>({ connect: c.connect, close: c.close });
    await memo.reset();
    expect(c.connects).toBe(0);
    expect(memo.state).toBe('idle');
    const p = memo.get();
    c.call(1).resolve();
    await p;
    await memo.reset();
    await flush();
    expect(c.connects).toBe(1); // nobody asked for a new connection yet
    expect(memo.state).toBe('idle');
  });

  it('a failing close(conn) is reported by the closed event, never thrown into reset() or get()', async () => {
    const boom = new Error('close failed');
    let n = 0;
    const memo = memoizeConnection<Conn>({
      connect: async () => ({ id: ++n }),
      close: () => {
        throw boom;
      },
    });
    const closed: unknown[] = [];
    memo.events.on('closed', (e) => closed.push(e.error));
    await memo.get();
    const next = memo.get();
    await memo.reset();
    expect((await memo.get()).id).toBe(2);
    expect(await next).toEqual({ id: 1 });
    expect(closed).toEqual([boom]);
  });

  it('a rejecting close(conn) is contained the same way', async () => {
    const boom = new Error('async close failed');
    let n = 0;
    const memo = memoizeConnection<Conn>({ connect: async () => ({ id: ++n }), close: () => Promise.reject(boom) });
    const closed: unknown[] = [];
    memo.events.on('closed', (e) => closed.push(e.error));
    await memo.get();
    await memo.reset();
    expect((await memo.get()).id).toBe(2);
    expect(closed).toEqual([boom]);
  });

  it("aborting a reset's signal rejects that caller only; the reset still completes", async () => {
    const { c, memo, old } = await connected({ closeDelayMs: 30 });
    const ac = new AbortController();
    const r = memo.reset({ signal: ac.signal });
    const reason = new Error('stop waiting');
    ac.abort(reason);
    await expect(r).rejects.toBe(reason);
    const next = memo.get();
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(c.closeCounts.get(old.id)).toBe(1);
    c.call(2).resolve();
    expect((await next).id).toBe(2);
  });

  it('reset with an already aborted signal rejects and does not reset', async () => {
    const { c, memo, old } = await connected();
    const reason = new Error('no');
    await expect(memo.reset({ signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(memo.current).toBe(old);
    expect(c.closeCounts.size).toBe(0);
  });

  it('walks connected → resetting → idle → connecting → connected', async () => {
    const { c, memo } = await connected({ closeDelayMs: 5 });
    const states: string[] = [memo.state];
    const r = memo.reset();
    states.push(memo.state);
    await r;
    states.push(memo.state);
    const p = memo.get();
    states.push(memo.state);
    c.call(2).resolve();
    await p;
    states.push(memo.state);
    expect(states).toEqual(['connected', 'resetting', 'idle', 'connecting', 'connected']);
  });
});

describe('invalidate', () => {
  it('drops and closes the current connection; the next get() connects again', async () => {
    const { c, memo, old } = await connected();
    const events: string[] = [];
    memo.events.on('*', (type, e) => events.push(`${String(type)}:${(e as { reason?: string }).reason ?? ''}`));
    const dropped = memo.invalidate(old);
    expect(memo.state).toBe('resetting');
    expect(memo.current).toBeUndefined();
    expect(await dropped).toBe(true);
    expect(c.closeCounts.get(old.id)).toBe(1);
    expect(events).toEqual(['invalidated:', 'closing:invalidate', 'closed:invalidate']);
    const next = memo.get();
    const fresh = c.call(2).resolve();
    expect(await next).toBe(fresh);
  });

  it('invalidate(oldConn) after a new connection exists does not drop the new one', async () => {
    const { c, memo, old } = await connected();
    await memo.reset();
    const next = memo.get();
    const fresh = c.call(2).resolve();
    await next;
    expect(await memo.invalidate(old)).toBe(false); // e.g. the old socket's late 'close' event
    expect(memo.state).toBe('connected');
    expect(memo.current).toBe(fresh);
    expect(c.closeCounts.get(old.id)).toBe(1); // not closed a second time
    expect(c.closeCounts.has(fresh.id)).toBe(false);
    expect(await memo.get()).toBe(fresh);
    expect(c.connects).toBe(2);
  });

  it('invalidate of the same connection twice closes it once', async () => {
    const { c, memo, old } = await connected({ closeDelayMs: 5 });
    const [a, b] = await Promise.all([memo.invalidate(old), memo.invalidate(old)]);
    expect([a, b]).toEqual([true, false]);
    expect(c.closeCounts.get(old.id)).toBe(1);
  });

  it('invalidate during a reset of that connection is a no-op (the reset closes it once)', async () => {
    const { c, memo, old } = await connected({ closeDelayMs: 5 });
    const r = memo.reset();
    expect(await memo.invalidate(old)).toBe(false);
    await r;
    expect(c.closeCounts.get(old.id)).toBe(1);
  });

  it('invalidate of something that was never a connection, or while idle or connecting, is a no-op', async () => {
    const c = manualConnector();
    const memo = memoizeConnection<Conn>({ connect: c.connect, close: c.close });
    expect(await memo.invalidate({ id: 1 })).toBe(false);
    const p = memo.get();
    expect(await memo.invalidate({ id: 1 })).toBe(false);
    expect(memo.state).toBe('connecting');
    const conn = c.call(1).resolve();
    await p;
    expect(await memo.invalidate({ id: conn.id })).toBe(false); // equal but not the same object
    expect(memo.current).toBe(conn);
  });

  it('get() during an invalidate waits for the close, then gets a new connection', async () => {
    const { c, memo, old } = await connected({ closeDelayMs: 20 });
    void memo.invalidate(old);
    const next = memo.get();
    await new Promise((resolve) => setTimeout(resolve, 40));
    const fresh = c.call(2).resolve();
    expect(await next).toBe(fresh);
    expect(c.log).toEqual(['connect:1', 'close:1:start', 'close:1:end', 'connect:2']);
  });
});
