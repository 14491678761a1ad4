import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../../test-kit/processes.js';
import { FIXTURES } from './helpers.js';
import { useWorld } from './setup.js';

const world = useWorld();
const BOUND = 256 * 1024;

type RpcError = Error & { code?: number; data?: Record<string, unknown> };

describe('backpressure toward a backend (stdin queue)', () => {
  it('a backend that stops reading stdin: what the host queues for it stays under maxBackendQueueBytes; the rest fails fast', async () => {
    const { marker } = world.get();
    const w = await world.start({
      maxBackendQueueBytes: BOUND,
      servers: { wedged: { command: process.execPath, args: [join(FIXTURES, 'wedged.mjs'), marker] } },
    });
    const a = await w.connect('wedged');
    const calls = 40;
    const payload = 'x'.repeat(32 * 1024); // 40 x 32 KiB = 1.25 MiB, five times the bound
    const refused: RpcError[] = [];
    for (let i = 0; i < calls; i++) {
      a.client
        .callTool({ name: 'anything', arguments: { payload, i } }, undefined, { timeout: 120_000 })
        .catch((error: RpcError) => {
          if (error.data?.code === 'EBACKENDQUEUEFULL') refused.push(error);
        });
    }
    // Every call is either refused at once or queued (in flight): none waits for the backend to read.
    await waitFor(() => refused.length > 0 && refused.length + w.host.stats()[0]!.inFlight === calls, {
      what: 'each call refused or queued',
      timeoutMs: 20_000,
    });
    const stats = w.host.stats()[0]!;
    expect(stats.queuedBytes).toBeGreaterThan(0);
    expect(stats.queuedBytes).toBeLessThanOrEqual(BOUND);
    expect(stats.instances[0]!.queuedBytes).toBe(stats.queuedBytes);
    expect(refused.length).toBeGreaterThanOrEqual(calls / 2); // the pipe and the bound hold about 10 of 40
    expect(refused[0]).toMatchObject({ code: -32000, data: { code: 'EBACKENDQUEUEFULL', server: 'wedged' } });
    expect(refused[0]!.message).toMatch(/MCP server "wedged".*maxBackendQueueBytes=262144/);
    expect(stats.state).toBe('running'); // the host and the backend go on; only what did not fit failed
  });
});
