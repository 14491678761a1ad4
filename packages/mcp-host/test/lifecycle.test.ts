import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { describe, expect, it } from 'vitest';
import { alive, pidsCarrying, waitFor } from '../../../test-kit/processes.js';
import { createMcpHost, type McpHostEvents, ServerUnavailableError } from '../src/index.js';
import { FIXTURES, manualClock, recorder, textOf } from './helpers.js';
import { useWorld } from './setup.js';

const world = useWorld();

const pidOf = async (client: Client) =>
  JSON.parse(textOf(await client.callTool({ name: 'pid', arguments: {} }))).pid as number;

describe('backend lifecycle', () => {
  it('a backend killed by hand: in-flight requests fail at once; the next request starts one new process', async () => {
    const w = await world.start({ servers: { rec: recorder(world.get().marker, join(world.get().dir, 'r.jsonl')) } });
    const stopped: McpHostEvents['backendStopped'][] = [];
    w.host.events.on('backendStopped', (e) => stopped.push(e));
    const a = await w.connect('rec');
    const first = await pidOf(a.client);
    const inflight = a.client.callTool({ name: 'slow', arguments: { ms: 60_000 } }, undefined, { timeout: 60_000 });
    await waitFor(() => w.host.stats()[0]!.inFlight === 1, { what: 'slow call in flight' });
    const killedAt = Date.now();
    process.kill(first, 'SIGKILL');
    const error = await inflight.then(
      () => null,
      (e: Error & { code?: number }) => e,
    );
    expect(Date.now() - killedAt).toBeLessThan(10_000); // at once, not the call's 60 s
    expect(error?.code).toBe(-32000);
    expect(error?.message).toMatch(/MCP server "rec".*exited/);
    expect(stopped).toEqual([
      expect.objectContaining({ server: 'rec', pid: first, reason: 'exited', signal: 'SIGKILL' }),
    ]);
    const second = await pidOf(a.client); // the same session goes on
    expect(second).not.toBe(first);
    expect(pidsCarrying(w.marker)).toEqual([second]);
    expect(w.host.stats()[0]).toMatchObject({ starts: 2, restarts: 1, state: 'running', pid: second });
  });

  it('a server that always crashes opens the breaker: at most 3 starts per cooldown, errors name it and its stderr', async () => {
    const clock = manualClock();
    const marker = world.get().marker;
    const w = await world.start({
      clock,
      breaker: { failureThreshold: 3, cooldownMs: 60_000 },
      servers: { broken: recorder(marker, join(world.get().dir, 'r.jsonl'), ['--crash-at-start']) },
    });
    const failures: string[] = [];
    for (let i = 0; i < 6; i++) {
      const error = await w.connect('broken').then(
        () => null,
        (e: Error) => e,
      );
      failures.push(error?.message ?? 'connected');
    }
    expect(w.host.stats()[0]).toMatchObject({ starts: 3, state: 'open', breaker: 'open' });
    for (const message of failures) {
      expect(message).toContain('MCP server "broken"');
      expect(message).toContain(`recorder: cannot start (${marker}): boom`);
    }
    expect(failures.slice(0, 3).every((m) => m.includes('failed to start'))).toBe(true);
    expect(failures.slice(3).every((m) => m.includes('is not started again'))).toBe(true);
    clock.advance(60_001); // cooldown over: one probe start is admitted, and fails again
    await w.connect('broken').catch(() => {});
    expect(w.host.stats()[0]!.starts).toBe(4);
    expect(w.host.stats()[0]!.lastError?.stderr.join('\n')).toContain('boom');
    expect(pidsCarrying(marker)).toHaveLength(0);
  });

  it('ServerUnavailableError carries the server, retryAfterMs and stderr', () => {
    const error = new ServerUnavailableError('x', 1500, ['line 1'], 'failed');
    expect(error).toMatchObject({ code: 'ESERVERUNAVAILABLE', server: 'x', retryAfterMs: 1500, stderr: ['line 1'] });
  });

  it('idleMs stops a shared backend with no sessions (whole tree); the next session starts a new one', async () => {
    const clock = manualClock();
    const marker = world.get().marker;
    const w = await world.start({
      clock,
      servers: { rec: recorder(marker, join(world.get().dir, 'r.jsonl'), ['--grandchild'], { idleMs: 5000 }) },
    });
    const a = await w.connect('rec');
    const { pid, grandchild } = JSON.parse(textOf(await a.client.callTool({ name: 'pid', arguments: {} })));
    expect(pidsCarrying(marker).sort()).toEqual([pid, grandchild].sort());
    await a.close();
    await waitFor(() => w.host.stats()[0]!.sessions === 0, { what: 'session gone' });
    clock.advance(4999);
    expect(alive(pid)).toBe(true);
    clock.advance(2);
    // The tree is gone from /proc (zombies carry no argv) a moment before node reports the exit.
    await waitFor(() => pidsCarrying(marker).length === 0 && w.host.stats()[0]!.pid === null, {
      what: 'idle stop of the tree',
      timeoutMs: 10_000,
    });
    expect(w.host.stats()[0]).toMatchObject({ state: 'stopped', pid: null });
    const b = await w.connect('rec');
    expect(await pidOf(b.client)).not.toBe(pid);
    expect(w.host.stats()[0]).toMatchObject({ starts: 2, restarts: 0 });
  });

  it('a daemon passes its own process-registry (as a getter): backends are recorded there as mcp:<server>', async () => {
    const { openRegistry } = await import('@spawnguard/process-registry');
    const registry = await openRegistry(join(world.get().dir, 'daemon', 'children.json'));
    const w = await world.start({
      registry: () => registry,
      servers: { rec: recorder(world.get().marker, join(world.get().dir, 'r.jsonl')) },
    });
    const a = await w.connect('rec');
    const pid = await pidOf(a.client);
    expect(registry.entries()).toEqual([expect.objectContaining({ pid, session: 'mcp:rec', type: 'mcp-server' })]);
    expect(await w.host.reapLeftovers()).toEqual({ killed: 0, dropped: 0, skipped: 0 }); // the daemon's job
    await w.host.close();
    expect(alive(pid)).toBe(false);
    await waitFor(() => registry.entries().length === 0, { what: 'entry removed on exit' });
    await registry.shutdown();
  });

  it('closing the host leaves 0 descendants (backend with a grandchild)', async () => {
    const marker = world.get().marker;
    const w = await world.start({
      servers: { rec: recorder(marker, join(world.get().dir, 'r.jsonl'), ['--grandchild']) },
    });
    const a = await w.connect('rec');
    const { grandchild } = JSON.parse(textOf(await a.client.callTool({ name: 'pid', arguments: {} })));
    expect(grandchild).toBeGreaterThan(0);
    expect(pidsCarrying(marker)).toHaveLength(2);
    await w.host.close();
    expect(pidsCarrying(marker)).toHaveLength(0);
  });

  it('a host SIGKILLed with a backend and grandchild running: the next host process reaps them from its registry', async () => {
    const { marker, dir } = world.get();
    const start = () => {
      const child = spawn(
        process.execPath,
        [join(FIXTURES, 'host-process.mjs'), marker, dir, join(FIXTURES, 'recorder.mjs'), marker, '--grandchild'],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
      });
      const line = waitFor(() => (out.includes('\n') ? JSON.parse(out.split('\n')[0]!) : null), {
        timeoutMs: 20_000,
        what: 'host fixture ready',
      });
      return { child, line };
    };
    const first = start();
    const one = await first.line;
    expect(alive(one.pid) && alive(one.grandchild)).toBe(true);
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));
    expect(alive(one.pid) && alive(one.grandchild)).toBe(true); // detached: they outlive the host
    const second = start();
    const two = await second.line;
    expect(two.leftovers).toEqual({ killed: 1, dropped: 0, skipped: 0 });
    expect(alive(one.pid)).toBe(false);
    expect(alive(one.grandchild)).toBe(false);
    expect(
      pidsCarrying(marker)
        .filter((p) => p !== second.child.pid)
        .sort(),
    ).toEqual([two.pid, two.grandchild].sort());
    second.child.kill('SIGKILL');
    await new Promise((r) => second.child.once('exit', r));
    // a third host cleans up after the second, too
    const host = createMcpHost({ stateDir: dir, servers: {} });
    expect(await host.reapLeftovers()).toEqual({ killed: 1, dropped: 0, skipped: 0 });
    await host.close();
    expect(pidsCarrying(marker)).toHaveLength(0);
  });
});
