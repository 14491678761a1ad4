import { describe, expect, it } from 'vitest';
import { MemoClosedError, memoizeConnection } from '../src/index.js';
import { type Conn, flush, manualConnector, track } from './helpers.js';

describe('close', () => {
  it('closes the current connection; later get() rejects with MemoClosedError', async () => {
    const c = manualConnector();
    const memo = memoizeConnection<Conn>({ connect: c.connect, close: c.close });
    const reasons: string[] = [];
    memo.events.on('closed', (e) => reasons.push(e.reason));
    const p = memo.get();
    const conn = c.call(1).resolve();
    await p;
    await memo.close();
    expect(c.closeCounts.get(conn.id)).toBe(1);
    expect(reasons).toEqual(['close']);
    expect(memo.state).toBe('closed');
    expect(memo.current).toBeUndefined();
    const error = await memo.get().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MemoClosedError);
    expect((error as MemoClosedError).code).toBe('EMEMOCLOSED');
    expect((error as Error).message).toMatch(/close\(\) is final/);
    await expect(memo.get({ signal: new AbortController().signal })).rejects.toBeInstanceOf(MemoClosedError);
    expect(c.connects).toBe(1);
  });

  it('rejects pending waiters, aborts the in-flight connect, and closes a connection that still arrives', async () => {
    const c = manualConnector({ honorAbort: false });
    const memo = memoizeConnection<Conn>({ connect: c.connect, close: c.close });
    const waiters = [track(memo.get()), track(memo.get({ signal: new AbortController().signal }))];
    const closing = track(memo.close());
    await flush();
    for (const w of waiters) {
      expect(w.status).toBe('rejected');
      expect(w.reason).toBeInstanceOf(MemoClosedError);
    }
    expect(c.call(1).signal.aborted).toBe(true);
    expect(c.call(1).signal.reason).toBeInstanceOf(MemoClosedError);
    expect(closing.status).toBe('pending'); // waits until that connect can no longer leak
    const late = c.call(1).resolve();
    await flush();
    expect(closing.status).toBe('fulfilled');
    expect(c.closeCounts.get(late.id)).toBe(1);
    expect(c.connects).toBe(1);
  });

  it('close() twice closes the connection once and returns the same settled promise', async () => {
    const c = manualConnector({ closeDelayMs: 5 });
    const memo = memoizeConnection<Conn>({ connect: c.connect, close: c.close });
    const p = memo.get();
    const conn = c.call(1).resolve();
    await p;
    const a = memo.close();
    const b = memo.close();
    expect(a).toBe(b);
    await Promise.all([a, b]);
    await memo.close();
    expect(c.closeCounts.get(conn.id)).toBe(1);
  });

  it('close() during a reset waits for the reset to close; waiters for the new connection are rejected', async () => {
    const c = manualConnector({ closeDelayMs: 20 });
    const memo = memoizeConnection<Conn>({ connect: c.connect, close: c.close });
    const p = memo.get();
    const conn = c.call(1).resolve();
    await p;
    const r = memo.reset();
    const w = track(memo.get());
    const closing = track(memo.close());
    await flush();
    expect(w.status).toBe('rejected');
    expect(w.reason).toBeInstanceOf(MemoClosedError);
    expect(closing.status).toBe('pending');
    await r;
    await flush();
    expect(closing.status).toBe('fulfilled');
    expect(c.closeCounts.get(conn.id)).toBe(1);
    expect(c.connects).toBe(1); // no new connect after close
    expect(memo.state).toBe('closed');
  });

  it('reset() and invalidate() after close() are no-ops', async () => {
    const c = manualConnector();
    const memo = memoizeConnection<Conn>({ connect: c.connect, close: c.close });
    const p = memo.get();
    const conn = c.call(1).resolve();
    await p;
    await memo.close();
    await memo.reset();
    expect(await memo.invalidate(conn)).toBe(false);
    expect(c.closeCounts.get(conn.id)).toBe(1);
    expect(memo.state).toBe('closed');
  });

  it('close() with an already aborted signal rejects and leaves the memo open', async () => {
    const c = manualConnector();
    const memo = memoizeConnection<Conn>({ connect: c.connect, close: c.close });
    const reason = new Error('no');
    await expect(memo.close({ signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(memo.state).toBe('idle');
  });

  it("aborting close()'s signal stops that caller waiting; the close still completes", async () => {
    const c = manualConnector({ closeDelayMs: 30 });
    const memo = memoizeConnection<Conn>({ connect: c.connect, close: c.close });
    const p = memo.get();
    const conn = c.call(1).resolve();
    await p;
    const ac = new AbortController();
    const closing = memo.close({ signal: ac.signal });
    ac.abort(new Error('enough'));
    await expect(closing).rejects.toThrow('enough');
    await memo.close();
    expect(c.log).toContain('close:1:end');
    expect(c.closeCounts.get(conn.id)).toBe(1);
  });

  it('close() when idle resolves at once and makes the memo final', async () => {
    const c = manualConnector();
    const memo = memoizeConnection<Conn>({ connect: c.connect, close: c.close });
    await memo.close();
    await expect(memo.get()).rejects.toBeInstanceOf(MemoClosedError);
    expect(c.connects).toBe(0);
  });
});
