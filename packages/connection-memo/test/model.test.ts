import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoClosedError, memoizeConnection } from '../src/index.js';
import { type Conn, flush, manualConnector } from './helpers.js';

type Op =
  | { t: 'get' }
  | { t: 'getSignal' }
  | { t: 'abort'; i: number }
  | { t: 'resolve' }
  | { t: 'reject' }
  | { t: 'reset' }
  | { t: 'invalidateCurrent' }
  | { t: 'invalidateOld'; i: number }
  | { t: 'microtask' }
  | { t: 'tick' }
  | { t: 'close' };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ t: 'get' } as const) },
  { weight: 3, arbitrary: fc.constant({ t: 'getSignal' } as const) },
  { weight: 2, arbitrary: fc.nat(50).map((i) => ({ t: 'abort', i }) as const) },
  { weight: 3, arbitrary: fc.constant({ t: 'resolve' } as const) },
  { weight: 1, arbitrary: fc.constant({ t: 'reject' } as const) },
  { weight: 2, arbitrary: fc.constant({ t: 'reset' } as const) },
  { weight: 1, arbitrary: fc.constant({ t: 'invalidateCurrent' } as const) },
  { weight: 1, arbitrary: fc.nat(20).map((i) => ({ t: 'invalidateOld', i }) as const) },
  { weight: 3, arbitrary: fc.constant({ t: 'microtask' } as const) },
  { weight: 3, arbitrary: fc.constant({ t: 'tick' } as const) },
  { weight: 1, arbitrary: fc.constant({ t: 'close' } as const) },
);

interface GetRecord {
  readonly minId: number;
  status: 'pending' | 'fulfilled' | 'rejected';
  value?: Conn;
  reason?: unknown;
}

describe('model: random interleavings keep the invariants', () => {
  it('one connect at a time, close before connect, close once per connection, nothing stale after a drop, nothing leaked', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 60 }), fc.boolean(), async (ops, honorAbort) => {
        const c = manualConnector({ honorAbort });
        const violations: string[] = [];
        const closeStarted = new Set<number>();
        const closeEnded = new Set<number>();
        const connect = (ctx: { signal: AbortSignal }) => {
          const earlier = c.pending.filter((p) => !p.settled).map((p) => p.id);
          if (earlier.length > 0) violations.push(`connect ${c.connects + 1} started while ${earlier} in flight`);
          for (let id = 1; id <= c.connects; id++) {
            const made = c.pending[id - 1]!;
            if (made.settled && resolvedIds.has(id) && !closeEnded.has(id)) {
              violations.push(`connect ${c.connects + 1} started before connection ${id} was closed`);
            }
          }
          return c.connect(ctx);
        };
        const resolvedIds = new Set<number>();
        const close = async (conn: Conn) => {
          if (closeStarted.has(conn.id)) violations.push(`close called twice for ${conn.id}`);
          closeStarted.add(conn.id);
          await c.close(conn);
          closeEnded.add(conn.id);
        };
        const memo = memoizeConnection<Conn>({ connect, close });
        const gets: GetRecord[] = [];
        const controllers: AbortController[] = [];
        const abortReasons = new Set<unknown>();
        const connectErrors = new Set<unknown>();
        const conns: Conn[] = [];
        let mark = 0; // connect() calls made when the latest reset/invalidate happened

        const track = (promise: Promise<Conn>) => {
          const record: GetRecord = { minId: mark + 1, status: 'pending' };
          gets.push(record);
          promise.then(
            (value) => {
              record.status = 'fulfilled';
              record.value = value;
            },
            (reason: unknown) => {
              record.status = 'rejected';
              record.reason = reason;
            },
          );
        };
        const settleOldest = (ok: boolean) => {
          const next = c.pending.find((p) => !p.settled);
          if (next === undefined) return;
          if (ok) {
            conns.push(next.resolve());
            resolvedIds.add(next.id);
          } else {
            const error = new Error(`connect ${next.id} refused`);
            connectErrors.add(error);
            next.reject(error);
          }
        };

        for (const o of ops) {
          switch (o.t) {
            case 'get':
              track(memo.get());
              break;
            case 'getSignal': {
              const ac = new AbortController();
              controllers.push(ac);
              track(memo.get({ signal: ac.signal }));
              break;
            }
            case 'abort': {
              const ac = controllers[o.i % Math.max(1, controllers.length)];
              if (ac !== undefined && !ac.signal.aborted) {
                const reason = new Error('waiter aborted');
                abortReasons.add(reason);
                ac.abort(reason);
              }
              break;
            }
            case 'resolve':
              settleOldest(true);
              break;
            case 'reject':
              settleOldest(false);
              break;
            case 'reset':
              mark = c.connects;
              void memo.reset();
              break;
            case 'invalidateCurrent': {
              const current = memo.current;
              if (current !== undefined) {
                mark = c.connects;
                void memo.invalidate(current);
              }
              break;
            }
            case 'invalidateOld': {
              const old = conns[o.i % Math.max(1, conns.length)];
              if (old !== undefined && old !== memo.current) {
                expect(await memo.invalidate(old)).toBe(false);
              }
              break;
            }
            case 'microtask':
              await Promise.resolve();
              break;
            case 'tick':
              await flush(1);
              break;
            case 'close':
              void memo.close();
              break;
          }
        }

        // Wind down: close the memo, let every connect still in flight finish (it ignored its abort).
        const closing = memo.close();
        for (let round = 0; round < 5; round++) {
          await flush(2);
          for (const p of c.pending) {
            if (!p.settled) {
              conns.push(p.resolve());
              resolvedIds.add(p.id);
            }
          }
        }
        await closing;
        await flush(3);

        expect(violations).toEqual([]);
        expect(memo.state).toBe('closed');
        for (const conn of conns) {
          expect(c.closeCounts.get(conn.id), `connection ${conn.id} closed once`).toBe(1);
        }
        for (const g of gets) {
          expect(g.status).not.toBe('pending');
          if (g.status === 'fulfilled') {
            expect(g.value!.id, 'a get() after a drop received an older connection').toBeGreaterThanOrEqual(g.minId);
          } else {
            const ok = g.reason instanceof MemoClosedError || abortReasons.has(g.reason) || connectErrors.has(g.reason);
            expect(ok, `unexpected rejection ${String(g.reason)}`).toBe(true);
          }
        }
      }),
      { numRuns: 400 },
    );
  });
});
