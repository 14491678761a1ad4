import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { describe, expect, it } from 'vitest';
import { cmdlineOf, pidsCarrying, waitFor } from '../../../test-kit/processes.js';
import { manualClock, recorder, textOf } from './helpers.js';
import { useWorld } from './setup.js';

const world = useWorld();

/** The recorder's helpers (`--grandchild`): they carry the marker and the word 'grandchild' in their argv. */
const helpersOf = (marker: string) => pidsCarrying(marker).filter((pid) => cmdlineOf(pid).includes('grandchild'));

type RpcError = Error & { code?: number; data?: { code?: string; server?: string; retryAfterMs?: number } };
const crashCall = (client: Client) =>
  client.callTool({ name: 'crash', arguments: {} }, undefined, { timeout: 30_000 }).then(
    () => null,
    (error: RpcError) => error,
  );

describe('a backend that dies by itself', () => {
  it('its helpers are reaped: 6 calls that crash a backend with a helper leave no helper, before and after close()', async () => {
    const { marker, dir } = world.get();
    const w = await world.start({
      breaker: { failureThreshold: 100 }, // every call starts a backend: 6 crashes, 6 helpers
      servers: { rec: recorder(marker, join(dir, 'r.jsonl'), ['--grandchild']) },
    });
    const a = await w.connect('rec');
    const helpers = new Set<number>();
    for (let i = 0; i < 6; i++) {
      const { grandchild } = JSON.parse(textOf(await a.client.callTool({ name: 'pid', arguments: {} })));
      helpers.add(grandchild);
      const error = await crashCall(a.client);
      expect(error?.code).toBe(-32000);
    }
    expect(helpers.size).toBe(6);
    expect(w.host.stats()[0]).toMatchObject({ starts: 6, restarts: 5 });
    // Reaped when their backend died, not only when the host closes.
    await waitFor(() => helpersOf(marker).length === 0, {
      what: 'helpers of crashed backends reaped',
      timeoutMs: 15_000,
    });
    await w.host.close();
    await waitFor(() => pidsCarrying(marker).length === 0, { what: 'nothing left after close()', timeoutMs: 15_000 });
  });

  it("with a daemon's process-registry: the crashed backend's helper is stopped and its group record pruned", async () => {
    const { openRegistry } = await import('@spawnguard/process-registry');
    const { marker, dir } = world.get();
    const registry = await openRegistry(join(dir, 'daemon', 'registry.json'));
    const w = await world.start({
      registry: () => registry,
      servers: { rec: recorder(marker, join(dir, 'r.jsonl'), ['--grandchild']) },
    });
    const a = await w.connect('rec');
    const { grandchild } = JSON.parse(textOf(await a.client.callTool({ name: 'pid', arguments: {} })));
    expect((await crashCall(a.client))?.code).toBe(-32000);
    await waitFor(() => helpersOf(marker).length === 0, { what: 'helper stopped', timeoutMs: 15_000 });
    expect(helpersOf(marker)).not.toContain(grandchild);
    await waitFor(() => registry.entries().length === 0, { what: 'group record pruned' });
    await w.host.close();
    await registry.shutdown();
  });

  it('a server that crashes on tools/call after a good initialize opens its breaker: 10 calls, at most 3 starts', async () => {
    const clock = manualClock();
    const { marker, dir } = world.get();
    const w = await world.start({
      clock,
      breaker: { failureThreshold: 3, cooldownMs: 60_000 },
      servers: { rec: recorder(marker, join(dir, 'r.jsonl')) },
    });
    const a = await w.connect('rec');
    const errors: Array<RpcError | null> = [];
    for (let i = 0; i < 10; i++) errors.push(await crashCall(a.client));
    expect(w.host.stats()[0]).toMatchObject({ starts: 3, restarts: 2, breaker: 'open', state: 'open' });
    for (const error of errors.slice(0, 3)) {
      expect(error).toMatchObject({ code: -32000, data: { code: 'EBACKENDEXITED', server: 'rec' } });
    }
    for (const error of errors.slice(3)) {
      expect(error).toMatchObject({ code: -32000, data: { code: 'ESERVERUNAVAILABLE', server: 'rec' } });
      expect(error!.data!.retryAfterMs).toBeGreaterThan(0);
      expect(error!.data!.retryAfterMs).toBeLessThanOrEqual(60_000);
      expect(error!.message).toMatch(/MCP server "rec" is not started again/);
    }
    clock.advance(60_001); // cooldown over: one probe start, which crashes on its call and opens the circuit again
    expect(await crashCall(a.client)).toMatchObject({ code: -32000, data: { code: 'EBACKENDEXITED' } });
    expect(await crashCall(a.client)).toMatchObject({ code: -32000, data: { code: 'ESERVERUNAVAILABLE' } });
    expect(w.host.stats()[0]).toMatchObject({ starts: 4, breaker: 'open' });
    await waitFor(() => pidsCarrying(marker).length === 0, { what: 'no backend left running' });
  });

  it('an exit with a request in flight counts as a failure even after crashWindowMs', async () => {
    const clock = manualClock();
    const { marker, dir } = world.get();
    const w = await world.start({
      clock,
      crashWindowMs: 1000,
      breaker: { failureThreshold: 1, cooldownMs: 60_000 },
      servers: { rec: recorder(marker, join(dir, 'r.jsonl')) },
    });
    const a = await w.connect('rec');
    clock.advance(1001); // the backend outlived its crash window: a good start
    expect(await crashCall(a.client)).toMatchObject({ code: -32000, data: { code: 'EBACKENDEXITED' } });
    expect(await crashCall(a.client)).toMatchObject({ code: -32000, data: { code: 'ESERVERUNAVAILABLE' } });
    expect(w.host.stats()[0]).toMatchObject({ starts: 1, breaker: 'open' });
  });

  it('an exit after crashWindowMs with nothing in flight does not count', async () => {
    const clock = manualClock();
    const { marker, dir } = world.get();
    const w = await world.start({
      clock,
      crashWindowMs: 1000,
      breaker: { failureThreshold: 1, cooldownMs: 60_000 },
      servers: { rec: recorder(marker, join(dir, 'r.jsonl')) },
    });
    const a = await w.connect('rec');
    const first = JSON.parse(textOf(await a.client.callTool({ name: 'pid', arguments: {} }))).pid as number;
    clock.advance(1001);
    process.kill(first, 'SIGKILL');
    await waitFor(() => w.host.stats()[0]!.pid === null, { what: 'exit noticed' });
    const second = JSON.parse(textOf(await a.client.callTool({ name: 'pid', arguments: {} }))).pid as number;
    expect(second).not.toBe(first);
    expect(w.host.stats()[0]).toMatchObject({ starts: 2, breaker: 'closed' });
  });
});
