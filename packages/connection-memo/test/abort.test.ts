import { describe, expect, it } from 'vitest';
import { memoizeConnection } from '../src/index.js';
import { type Conn, flush, manualConnector, track } from './helpers.js';

describe('abort', () => {
  it('one of two waiters aborts: it rejects at once with its reason; the connect goes on for the other', async () => {
    const c = manualConnector({ honorAbort: true });
    const memo = memoizeConnection<Conn>({ connect: c.connect, close: c.close });
    const a = new AbortController();
    const b = new AbortController();
    const pa = track(memo.get({ signal: a.signal }));
    const pb = track(memo.get({ signal: b.signal }));
    const reason = { why: 'caller gave up' };
    a.abort(reason);
    await flush();
    expect(pa.status).toBe('rejected');
    expect(pa.reason).toBe(reason);
    expect(c.call(1).signal.aborted).toBe(false);
    expect(pb.status).toBe('pending');
    const conn = c.call(1).resolve();
    await flush();
    expect(pb.status).toBe('fulfilled');
    expect(pb.value).toBe(conn);
    expect(c.connects).toBe(1);
  });

  it('a waiter without a signal keeps the connect alive when every signalled waiter aborts', async () => {
    const c = manualConnector({ honorAbort: true });
    const memo = memoizeConnection<Conn>({ connect: c.connect, close: c.close });
    const a = new AbortController();
    const pa = track(memo.get({ signal: a.signal }));
    const plain = track(memo.get());
    a.abort();
    await flush();
    expect(pa.status).toBe('rejected');
    expect(c.call(1).signal.aborted).toBe(false);
    c.call(1).resolve();
    await flush();
    expect(plain.status).toBe('fulfilled');
  });

  it("every waiter aborts: the connect's signal is aborted and the next get() connects again", async () => {
    const c = manualConnector({ honorAbort: true });
    const memo = memoizeConnection<Conn>({ connect: c.connect, close: c.close });
    const controllers = [new AbortController(), new AbortController(), new AbortController()];
    const waiters = controllers.map((ac) => track(memo.get({ signal: ac.signal })));
    controllers[0]!.abort();
    controllers[1]!.abort();
    expect(c.call(1).signal.aborted).toBe(false);
    controllers[2]!.abort();
    expect(c.call(1).signal.aborted).toBe(true);
    expect(c.call(1).signal.reason).toBeInstanceOf(DOMException);
    expect((c.call(1).signal.reason as DOMException).name).toBe('AbortError');
    await flush();
    expect(waiters.map((w) => w.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(memo.state).toBe('idle');
    const next = memo.get();
    expect(c.connects).toBe(2);
    const conn = c.call(2).resolve();
    expect(await next).toBe(conn);
  });

  it('every waiter aborts and connect() ignores its signal: the late connection is closed, not leaked', async () => {
    const c = manualConnector({ honorAbort: false });
    const memo = memoizeConnection<Conn>({ connect: c.connect, close: c.close });
    const reasons: string[] = [];
    memo.events.on('closing', (e) => reasons.push(e.reason));
    const ac = new AbortController();
    const w = track(memo.get({ signal: ac.signal }));
    ac.abort();
    const late = c.call(1).resolve();
    await flush();
    expect(w.status).toBe('rejected');
    expect(c.closeCounts.get(late.id)).toBe(1);
    expect(reasons).toEqual(['abandoned']);
    expect(memo.state).toBe('idle');
    expect(memo.current).toBeUndefined();
    const next = memo.get();
    expect(c.connects).toBe(2);
    c.call(2).resolve();
    expect((await next).id).toBe(2);
  });

  it('a get() that arrives after every waiter aborted keeps a connection that still arrives', async () => {
    const c = manualConnector({ honorAbort: false });
    const memo = memoizeConnection<Conn>({ connect: c.connect, close: c.close });
    const ac = new AbortController();
    const gone = track(memo.get({ signal: ac.signal }));
    ac.abort();
    expect(c.call(1).signal.aborted).toBe(true);
    const newcomer = memo.get(); // joins the in-flight connect: no second connect() while one runs
    expect(c.connects).toBe(1);
    const conn = c.call(1).resolve();
    expect(await newcomer).toBe(conn);
    expect(gone.status).toBe('rejected');
    expect(c.closeCounts.size).toBe(0);
    expect(memo.state).toBe('connected');
  });

  it('a get() that arrives after every waiter aborted is not failed by that abort: it connects again', async () => {
    const c = manualConnector({ honorAbort: false });
    const memo = memoizeConnection<Conn>({ connect: c.connect, close: c.close });
    const ac = new AbortController();
    track(memo.get({ signal: ac.signal }));
    ac.abort();
    const newcomer = track(memo.get());
    c.call(1).reject(c.call(1).signal.reason); // connect honoured the abort
    await flush();
    expect(newcomer.status).toBe('pending');
    expect(c.connects).toBe(2);
    expect(c.call(2).signal.aborted).toBe(false);
    const conn = c.call(2).resolve();
    await flush();
    expect(newcomer.status).toBe('fulfilled');
    expect(newcomer.value).toBe(conn);
  });

  it('an already aborted signal rejects at once and starts no connect', async () => {
    const c = manualConnector();
    const memo = memoizeConnection<Conn>({ connect: c.connect, close: c.close });
    const reason = new Error('already gone');
    await expect(memo.get({ signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(c.connects).toBe(0);
    expect(memo.state).toBe('idle');
  });

  it('an already aborted signal rejects even when a connection is cached', async () => {
    const c = manualConnector();
    const memo = memoizeConnection<Conn>({ connect: c.connect, close: c.close });
    const p = memo.get();
    c.call(1).resolve();
    await p;
    const reason = new Error('late');
    await expect(memo.get({ signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(memo.state).toBe('connected');
  });

  it('a waiter that already received its connection is unaffected by a later abort of its signal', async () => {
    const c = manualConnector({ honorAbort: true });
    const memo = memoizeConnection<Conn>({ connect: c.connect, close: c.close });
    const ac = new AbortController();
    const p = memo.get({ signal: ac.signal });
    const conn = c.call(1).resolve();
    expect(await p).toBe(conn);
    ac.abort();
    await flush();
    expect(memo.state).toBe('connected');
    expect(memo.current).toBe(conn);
    expect(c.closeCounts.size).toBe(0);
  });

  it('a waiter aborting during a reset rejects at once; with nobody left, no new connect starts', async () => {
    const c = manualConnector({ closeDelayMs: 20 });
    const memo = memoizeConnection<Conn>({ connect: c.connect, close: c.close });
    const p = memo.get();
    c.call(1).resolve();
    await p;
    const resetting = memo.reset();
    const ac = new AbortController();
    const w = track(memo.get({ signal: ac.signal }));
    ac.abort();
    await flush(1);
    expect(w.status).toBe('rejected');
    await resetting;
    await flush();
    expect(c.connects).toBe(1);
    expect(memo.state).toBe('idle');
  });
});
