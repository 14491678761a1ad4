import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../../test-kit/processes.js';
import { createMcpHost, type McpHostEvents, type McpHostOptions } from '../src/index.js';
import { manualClock, recorded, recorder, textOf } from './helpers.js';
import { useWorld } from './setup.js';

const world = useWorld();

const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => null,
    (error: Error & { code?: number; data?: unknown }) => error,
  );

describe('requestTimeoutMs', () => {
  it('on the host clock: no answer in time is a -32001 naming the server and the timeout, and a cancellation to the backend', async () => {
    const clock = manualClock();
    const file = join(world.get().dir, 'r.jsonl');
    const received = () => recorded(file);
    const w = await world.start({
      clock,
      requestTimeoutMs: 5000, // host-wide default
      servers: {
        rec: recorder(world.get().marker, file),
        none: recorder(world.get().marker, join(world.get().dir, 'none.jsonl'), [], { requestTimeoutMs: 0 }),
      },
    });
    const timeouts: McpHostEvents['requestTimeout'][] = [];
    w.host.events.on('requestTimeout', (e) => timeouts.push(e));
    const a = await w.connect('rec');
    const inFlight = () => w.host.stats().find((s) => s.name === 'rec')!.inFlight;

    const call = failure(a.client.callTool({ name: 'slow', arguments: { ms: 120_000, tag: 'wedge' } }));
    const sent = await waitFor(() => received().find((m) => m.method === 'tools/call'), {
      what: 'call at the backend',
    });
    clock.advance(4999);
    expect(inFlight()).toBe(1); // not yet
    clock.advance(1);
    const error = await call;
    expect(error?.code).toBe(-32001);
    expect(error?.message).toMatch(/MCP server "rec" did not answer tools\/call within 5000 ms \(requestTimeoutMs\)/);
    expect(error?.data).toMatchObject({
      code: 'EREQUESTTIMEOUT',
      server: 'rec',
      method: 'tools/call',
      timeoutMs: 5000,
    });
    const cancel = await waitFor(() => received().find((m) => m.method === 'notifications/cancelled'), {
      what: 'the cancellation at the backend',
    });
    expect(cancel.params.requestId).toBe(sent.id);
    expect(cancel.params.reason).toMatch(/5000 ms/);
    expect(inFlight()).toBe(0);
    expect(timeouts).toEqual([
      expect.objectContaining({ server: 'rec', instance: 'mcp:rec', method: 'tools/call', timeoutMs: 5000, inARow: 1 }),
    ]);

    // The session goes on; an answer in time disarms its timer, and resets the count of timeouts in a row.
    expect(clock.armed(5000)).toBe(0);
    expect(textOf(await a.client.callTool({ name: 'echo', arguments: { text: 'alive' } }))).toBe('alive');
    expect(clock.armed(5000)).toBe(0);
    const second = failure(a.client.callTool({ name: 'slow', arguments: { ms: 120_000, tag: 'again' } }));
    await waitFor(() => received().filter((m) => m.method === 'tools/call').length === 3, { what: 'second slow call' });
    clock.advance(5000);
    expect((await second)?.code).toBe(-32001);
    expect(timeouts.map((t) => t.inARow)).toEqual([1, 1]);

    // Progress from the backend does not extend the deadline (requestTimeoutMs is a maximum).
    let progress = 0;
    const third = failure(
      a.client.callTool({ name: 'slow', arguments: { ms: 120_000, steps: 1200, tag: 'busy' } }, undefined, {
        onprogress: () => {
          progress++;
        },
      }),
    );
    await waitFor(() => progress >= 2, { what: 'progress from the slow call' });
    clock.advance(5000);
    expect((await third)?.code).toBe(-32001);
    // The second, third and fourth had no answer from the backend between them: 1, 2, 3 in a row.
    const fourth = failure(a.client.callTool({ name: 'slow', arguments: { ms: 120_000, tag: 'four' } }));
    await waitFor(() => received().filter((m) => m.method === 'tools/call').length === 5, { what: 'fourth slow call' });
    clock.advance(5000);
    expect((await fourth)?.code).toBe(-32001);
    expect(timeouts.map((t) => t.inARow)).toEqual([1, 1, 2, 3]);

    // requestTimeoutMs: 0 on a server: no timer at all.
    const b = await w.connect('none');
    const untimed = b.client.callTool({ name: 'slow', arguments: { ms: 400 } });
    await waitFor(() => w.host.stats().find((s) => s.name === 'none')!.inFlight === 1, { what: 'untimed call' });
    expect(clock.armed(5000)).toBe(0);
    clock.advance(10 * 60_000);
    expect(textOf(await untimed)).toMatch(/slow done/);
  });

  it('a timed-out request releases the serialize gate: the next session runs its request', async () => {
    const clock = manualClock();
    const file = join(world.get().dir, 'r.jsonl');
    const received = () => recorded(file);
    const w = await world.start({
      clock,
      servers: { rec: recorder(world.get().marker, file, [], { requestTimeoutMs: 5000, serialize: true }) },
    });
    const a = await w.connect('rec');
    const b = await w.connect('rec');
    const wedged = failure(a.client.callTool({ name: 'slow', arguments: { ms: 120_000, tag: 'a' } }));
    await waitFor(() => received().some((m) => m.method === 'tools/call'), { what: "A's call at the backend" });
    const next = b.client.callTool({ name: 'echo', arguments: { text: 'b ran' } });
    await waitFor(() => w.host.stats()[0]!.queued === 1, { what: "B's call waiting at the serialize gate" });
    clock.advance(5000);
    expect((await wedged)?.code).toBe(-32001);
    expect(textOf(await next)).toBe('b ran');
  });

  it('end to end with a real short timeout: the caller gets the error, the backend the cancellation', async () => {
    const file = join(world.get().dir, 'r.jsonl');
    const received = () => recorded(file);
    const w = await world.start({
      servers: { rec: recorder(world.get().marker, file, [], { requestTimeoutMs: 300 }) },
    });
    const timeouts: McpHostEvents['requestTimeout'][] = [];
    w.host.events.on('requestTimeout', (e) => timeouts.push(e));
    const a = await w.connect('rec');
    const error = await failure(a.client.callTool({ name: 'slow', arguments: { ms: 60_000 } }));
    expect(error?.code).toBe(-32001);
    expect(error?.message).toMatch(/MCP server "rec" did not answer tools\/call within 300 ms/);
    const cancel = await waitFor(() => received().find((m) => m.method === 'notifications/cancelled'), {
      what: 'the cancellation at the backend',
    });
    expect(cancel.params.requestId).toBe(received().find((m) => m.method === 'tools/call')!.id);
    expect(timeouts).toEqual([expect.objectContaining({ server: 'rec', method: 'tools/call', timeoutMs: 300 })]);
  });

  it('is validated at construction', () => {
    const make = (options: object) =>
      createMcpHost({ stateDir: '/tmp/mcp-host-validation', servers: {}, ...options } as McpHostOptions);
    expect(() => make({ requestTimeoutMs: -1 })).toThrow(
      /options\.requestTimeoutMs must be a finite number of milliseconds >= 0.*got -1/,
    );
    expect(() => make({ servers: { rec: { command: 'node', requestTimeoutMs: '5s' } } })).toThrow(
      /servers\.rec\.requestTimeoutMs must be a finite number of milliseconds >= 0.*got "5s"/,
    );
    expect(() => make({ servers: { rec: { command: 'node', requestTimeoutMs: 2 ** 31 } } })).toThrow(RangeError);
  });
});
