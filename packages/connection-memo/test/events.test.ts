import mitt from 'mitt';
import { afterEach, describe, expect, it } from 'vitest';
import { type ConnectionMemoEvents, memoizeConnection } from '../src/index.js';
import { type Conn, flush, manualConnector } from './helpers.js';

const warnings: Error[] = [];
const onWarning = (w: Error) => warnings.push(w);

describe('events', () => {
  afterEach(() => {
    process.off('warning', onWarning);
    warnings.length = 0;
  });

  it('emits the lifecycle in order with generations', async () => {
    const c = manualConnector();
    const memo = memoizeConnection<Conn>({ connect: c.connect, close: c.close });
    const log: string[] = [];
    memo.events.on('*', (type, e) => {
      const ev = e as { generation: number; reason?: string; connection?: Conn };
      log.push(
        `${String(type)} g${ev.generation}${ev.reason ? ` ${ev.reason}` : ''}${ev.connection ? ` #${ev.connection.id}` : ''}`,
      );
    });
    const p = memo.get();
    const first = c.call(1).resolve();
    await p;
    await memo.reset();
    const q = memo.get();
    const second = c.call(2).resolve();
    await q;
    await memo.invalidate(second);
    const r = memo.get();
    c.call(3).reject(new Error('down'));
    await r.catch(() => {});
    expect(first.id).toBe(1);
    expect(log).toEqual([
      'connecting g0',
      'connected g0 #1',
      'closing g0 reset #1',
      'closed g0 reset #1',
      'connecting g1',
      'connected g1 #2',
      'invalidated g1 #2',
      'closing g1 invalidate #2',
      'closed g1 invalidate #2',
      'connecting g2',
      'connectFailed g2',
    ]);
  });

  it('connected and connectFailed carry durationMs; connectFailed carries the error', async () => {
    const c = manualConnector();
    const memo = memoizeConnection<Conn>({ connect: c.connect, close: c.close });
    const seen: Array<ConnectionMemoEvents<Conn>['connected'] | ConnectionMemoEvents<Conn>['connectFailed']> = [];
    memo.events.on('connected', (e) => seen.push(e));
    memo.events.on('connectFailed', (e) => seen.push(e));
    const boom = new Error('x');
    const a = memo.get();
    c.call(1).reject(boom);
    await a.catch(() => {});
    const b = memo.get();
    c.call(2).resolve();
    await b;
    expect(seen).toHaveLength(2);
    expect((seen[0] as ConnectionMemoEvents<Conn>['connectFailed']).error).toBe(boom);
    for (const e of seen) expect(e.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('is emitted after the state is updated', async () => {
    const c = manualConnector();
    const memo = memoizeConnection<Conn>({ connect: c.connect, close: c.close });
    const seen: string[] = [];
    memo.events.on('connecting', () => seen.push(`connecting:${memo.state}`));
    memo.events.on('connected', (e) => seen.push(`connected:${memo.state}:${memo.current === e.connection}`));
    memo.events.on('invalidated', () => seen.push(`invalidated:${memo.state}:${memo.current}`));
    memo.events.on('connectFailed', () => seen.push(`connectFailed:${memo.state}`));
    const p = memo.get();
    const conn = c.call(1).resolve();
    await p;
    await memo.invalidate(conn);
    const q = memo.get();
    c.call(2).reject(new Error('no'));
    await q.catch(() => {});
    expect(seen).toEqual([
      'connecting:connecting',
      'connected:connected:true',
      'invalidated:resetting:undefined',
      'connecting:connecting',
      'connectFailed:idle',
    ]);
  });

  it('a throwing listener reaches neither get() nor the other listeners, and is reported as a warning', async () => {
    process.on('warning', onWarning);
    const c = manualConnector();
    const memo = memoizeConnection<Conn>({ connect: c.connect, close: c.close });
    const after: string[] = [];
    memo.events.on('connecting', () => {
      throw new Error('listener bug');
    });
    memo.events.on('connecting', () => after.push('second listener ran'));
    memo.events.on('connected', () => {
      throw new Error('listener bug 2');
    });
    const p = memo.get();
    const conn = c.call(1).resolve();
    expect(await p).toBe(conn);
    await flush();
    expect(after).toEqual(['second listener ran']);
    const listenerWarnings = warnings.filter((w) => (w as { code?: string }).code === 'SPAWNGUARD_LISTENER_ERROR');
    expect(listenerWarnings.map((w) => [(w as { event?: string }).event, (w.cause as Error).message])).toEqual([
      ['connecting', 'listener bug'],
      ['connected', 'listener bug 2'],
    ]);
    expect(listenerWarnings[0]).toMatchObject({ name: 'SpawnguardWarning', package: '@spawnguard/connection-memo' });
    expect(listenerWarnings[0]!.message).toMatch(/listener for 'connecting' threw.*listener bug/s);
  });

  it('a failing close with nobody listening for closed is still reported, as a warning', async () => {
    process.on('warning', onWarning);
    let n = 0;
    const memo = memoizeConnection<Conn>({
      connect: async () => ({ id: ++n }),
      close: () => {
        throw new Error('EPIPE on close');
      },
    });
    await memo.get();
    await memo.reset();
    await flush();
    expect(warnings.map((w) => w.message).join('\n')).toMatch(/close\(connection\) failed \(reason: reset\).*EPIPE/s);
  });

  it('uses an emitter passed in the events option', async () => {
    const events = mitt<ConnectionMemoEvents<Conn>>();
    const c = manualConnector();
    const memo = memoizeConnection<Conn>({ connect: c.connect, close: c.close, events });
    expect(memo.events).toBe(events);
    const seen: number[] = [];
    events.on('connecting', (e) => seen.push(e.generation));
    void memo.get();
    expect(seen).toEqual([0]);
    c.call(1).resolve();
  });

  it('a listener may re-enter the memo (reset from within connected)', async () => {
    const c = manualConnector();
    const memo = memoizeConnection<Conn>({ connect: c.connect, close: c.close });
    let once = true;
    memo.events.on('connected', () => {
      if (once) {
        once = false;
        void memo.reset();
      }
    });
    const p = memo.get();
    const first = c.call(1).resolve();
    expect(await p).toBe(first); // it was delivered before the listener reset it
    await flush();
    expect(c.closeCounts.get(first.id)).toBe(1);
    expect(memo.state).toBe('idle');
    const q = memo.get();
    const second = c.call(2).resolve();
    expect(await q).toBe(second);
  });

  it('a connecting listener that closes the memo stops connect() from being called', async () => {
    const c = manualConnector();
    const memo = memoizeConnection<Conn>({ connect: c.connect, close: c.close });
    memo.events.on('connecting', () => void memo.close());
    await expect(memo.get()).rejects.toMatchObject({ code: 'EMEMOCLOSED' });
    await memo.close();
    expect(c.connects).toBe(0);
  });
});
