import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../../test-kit/processes.js';
import { createMcpHost, type McpHostEvents, type McpHostOptions, type ServerConfig } from '../src/index.js';
import { FIXTURES, manualClock } from './helpers.js';
import { useWorld } from './setup.js';

const world = useWorld();

/** Answers `initialize`, then reads nothing and answers nothing (alive, never answering). */
const wedged = (marker: string, extra: Partial<ServerConfig> = {}): ServerConfig => ({
  command: process.execPath,
  args: [join(FIXTURES, 'wedged.mjs'), marker],
  ...extra,
});

type RpcError = Error & { code?: number; data?: Record<string, unknown> };
const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => null,
    (error: RpcError) => error,
  );

describe('maxTimeoutsInARow: a backend that stops answering is restarted behind the breaker', () => {
  it('on the host clock: the Nth timeout in a row stops it as a crash, answers its other requests at once, and the next request starts a new one', async () => {
    const clock = manualClock();
    const { marker } = world.get();
    const w = await world.start({
      clock,
      breaker: { failureThreshold: 3 },
      servers: { stuck: wedged(marker, { requestTimeoutMs: 5000, maxTimeoutsInARow: 2 }) },
    });
    const stopped: McpHostEvents['backendStopped'][] = [];
    const started: McpHostEvents['backendStarted'][] = [];
    w.host.events.on('backendStopped', (e) => stopped.push(e));
    w.host.events.on('backendStarted', (e) => started.push(e));
    const stats = () => w.host.stats()[0]!;
    const a = await w.connect('stuck');
    const b = await w.connect('stuck');
    const first = stats().pid!;
    expect(first).toBeGreaterThan(0);

    const one = failure(a.client.callTool({ name: 'x', arguments: { n: 1 } }, undefined, { timeout: 60_000 }));
    const two = failure(b.client.callTool({ name: 'x', arguments: { n: 2 } }, undefined, { timeout: 60_000 }));
    await waitFor(() => stats().inFlight === 2, { what: 'two calls at the wedged backend' });
    clock.advance(1000);
    const three = failure(a.client.callTool({ name: 'x', arguments: { n: 3 } }, undefined, { timeout: 60_000 }));
    await waitFor(() => stats().inFlight === 3, { what: 'a third call at the wedged backend' });
    clock.advance(4000); // one and two expire: 2 in a row

    expect((await one)?.data).toMatchObject({ code: 'EREQUESTTIMEOUT', server: 'stuck' });
    expect((await two)?.data).toMatchObject({ code: 'EREQUESTTIMEOUT', server: 'stuck' });
    // Three still had 1000 ms to go on a clock that does not move: only the restart can answer it.
    const error = await three;
    expect(error?.code).toBe(-32000);
    expect(error?.data).toMatchObject({
      code: 'EBACKENDUNRESPONSIVE',
      server: 'stuck',
      pid: first,
      timeouts: 2,
      timeoutMs: 5000,
    });
    expect(error?.message).toMatch(
      /MCP server "stuck" \(pid \d+\) stopped answering: 2 requests in a row got no answer within 5000 ms/,
    );
    await waitFor(() => stopped.length === 1, { what: 'the wedged backend stopped' });
    expect(stopped[0]).toMatchObject({ server: 'stuck', pid: first, reason: 'unresponsive' });
    expect(stats().lastError?.message).toMatch(/stopped answering/);
    expect(stats().inFlight).toBe(0);

    // The next request starts a new backend (a restart: the old one failed).
    const four = failure(a.client.callTool({ name: 'x', arguments: { n: 4 } }, undefined, { timeout: 60_000 }));
    await waitFor(() => stats().pid !== null && stats().inFlight === 1, { what: 'a new backend with the call' });
    expect(stats().pid).not.toBe(first);
    expect(started.at(-1)).toMatchObject({ server: 'stuck', restart: true });
    expect(stats()).toMatchObject({ starts: 2, restarts: 1, breaker: 'closed' });
    clock.advance(5000);
    expect((await four)?.data).toMatchObject({ code: 'EREQUESTTIMEOUT' }); // one in a row: it keeps running
    expect(stopped).toHaveLength(1);
  });

  it('counts as a breaker failure: with failureThreshold 1 the circuit opens and the next request is refused', async () => {
    const clock = manualClock();
    const { marker } = world.get();
    const w = await world.start({
      clock,
      breaker: { failureThreshold: 1, cooldownMs: 60_000 },
      crashWindowMs: 0, // no crash window: only the unresponsive rule can record the failure
      servers: { stuck: wedged(marker, { requestTimeoutMs: 5000, maxTimeoutsInARow: 1 }) },
    });
    const stopped: McpHostEvents['backendStopped'][] = [];
    w.host.events.on('backendStopped', (e) => stopped.push(e));
    const a = await w.connect('stuck');
    const one = failure(a.client.callTool({ name: 'x', arguments: {} }, undefined, { timeout: 60_000 }));
    await waitFor(() => w.host.stats()[0]!.inFlight === 1, { what: 'the call at the wedged backend' });
    clock.advance(5000);
    expect((await one)?.data).toMatchObject({ code: 'EREQUESTTIMEOUT' });
    await waitFor(() => stopped.length === 1, { what: 'the wedged backend stopped' });
    expect(w.host.stats()[0]!.breaker).toBe('open');
    const refused = await failure(a.client.callTool({ name: 'x', arguments: {} }, undefined, { timeout: 60_000 }));
    expect(refused?.data).toMatchObject({ code: 'ESERVERUNAVAILABLE', server: 'stuck' });
    expect(refused?.message).toMatch(/stopped answering/);
  });

  it('maxTimeoutsInARow: 0 turns the rule off: the backend is only timed out', async () => {
    const clock = manualClock();
    const { marker } = world.get();
    const w = await world.start({
      clock,
      servers: { stuck: wedged(marker, { requestTimeoutMs: 5000, maxTimeoutsInARow: 0 }) },
    });
    const a = await w.connect('stuck');
    const pid = w.host.stats()[0]!.pid;
    for (let n = 0; n < 4; n++) {
      const call = failure(a.client.callTool({ name: 'x', arguments: { n } }, undefined, { timeout: 60_000 }));
      await waitFor(() => w.host.stats()[0]!.inFlight === 1, { what: `call ${n} at the wedged backend` });
      clock.advance(5000);
      expect((await call)?.data).toMatchObject({ code: 'EREQUESTTIMEOUT' });
    }
    expect(w.host.stats()[0]).toMatchObject({ pid, starts: 1 });
  });

  it('end to end with real short timeouts: restarted with a new pid, the request behind it answered at once', async () => {
    const { marker } = world.get();
    const w = await world.start({
      servers: { stuck: wedged(marker, { requestTimeoutMs: 300, maxTimeoutsInARow: 1 }) },
    });
    const stopped: McpHostEvents['backendStopped'][] = [];
    w.host.events.on('backendStopped', (e) => stopped.push(e));
    const a = await w.connect('stuck');
    const first = w.host.stats()[0]!.pid;
    const one = failure(a.client.callTool({ name: 'x', arguments: { n: 1 } }, undefined, { timeout: 60_000 }));
    await waitFor(() => w.host.stats()[0]!.inFlight === 1, { what: 'the first call at the wedged backend' });
    const two = failure(a.client.callTool({ name: 'x', arguments: { n: 2 } }, undefined, { timeout: 60_000 }));
    expect((await one)?.data).toMatchObject({ code: 'EREQUESTTIMEOUT', timeoutMs: 300 });
    // Written after the first, so its deadline is later: the restart answers it, not its own timeout.
    expect((await two)?.data).toMatchObject({ code: 'EBACKENDUNRESPONSIVE', server: 'stuck', timeouts: 1 });
    await waitFor(() => stopped.length === 1, { what: 'the wedged backend stopped' });
    expect(stopped[0]).toMatchObject({ pid: first, reason: 'unresponsive' });
    const three = failure(a.client.callTool({ name: 'x', arguments: { n: 3 } }, undefined, { timeout: 60_000 }));
    await waitFor(() => w.host.stats()[0]!.pid !== null, { what: 'a new backend', timeoutMs: 15_000 });
    expect(w.host.stats()[0]!.pid).not.toBe(first);
    expect((await three)?.data).toMatchObject({ code: 'EREQUESTTIMEOUT' });
  });

  it('is validated at construction', () => {
    const make = (config: object) =>
      createMcpHost({
        stateDir: '/tmp/mcp-host-validation',
        servers: { s: { command: 'node', ...config } },
      } as McpHostOptions);
    expect(() => make({ maxTimeoutsInARow: -1 })).toThrow(/servers\.s\.maxTimeoutsInARow.*got -1/);
    expect(() => make({ maxTimeoutsInARow: 1.5 })).toThrow(/servers\.s\.maxTimeoutsInARow.*got 1\.5/);
    expect(() => make({ maxTimeoutsInARow: '3' })).toThrow(TypeError);
  });
});
