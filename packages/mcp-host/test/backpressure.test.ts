import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../../test-kit/processes.js';
import type { ServerConfig } from '../src/index.js';
import { FIXTURES, textOf } from './helpers.js';
import { post, rawSession, stalled, watchResponses } from './raw-http.js';
import { useWorld } from './setup.js';

const world = useWorld();

const flood = (marker: string, extra: Partial<ServerConfig> = {}): ServerConfig => ({
  command: process.execPath,
  args: [join(FIXTURES, 'flood.mjs'), marker],
  ...extra,
});

const BOUND = 256 * 1024;
// 20 MB: far more than the kernel's socket buffers take on the loopback (about 4 MB here), so
// without a bound most of it would sit in the host's memory.
const COUNT = 4000;
const BYTES = 5000;

describe('backpressure: a client that never reads its stream', () => {
  it('a stalled GET stream: the host queues at most maxStreamBufferBytes for it, then closes it; other sessions go on', async () => {
    const w = await world.start({ maxStreamBufferBytes: BOUND, servers: { flood: flood(world.get().marker) } });
    const url = w.front.url('flood');
    const stalledId = await rawSession(url);
    const watched = watchResponses(
      w.front.server,
      (req) => req.method === 'GET' && req.headers['mcp-session-id'] === stalledId,
    );
    const stall = await stalled(url, stalledId);
    expect(watched.responses).toHaveLength(1);
    const b = await w.connect('flood');
    const result = await b.client.callTool({ name: 'flood', arguments: { count: COUNT, bytes: BYTES } }, undefined, {
      timeout: 120_000,
    });
    expect(textOf(result)).toBe(`flooded ${COUNT}`);
    const seen = watched.responses[0]!;
    expect(seen.maxQueued).toBeGreaterThan(0);
    expect(seen.maxQueued).toBeLessThanOrEqual(BOUND);
    await waitFor(() => seen.closed, { what: 'the stalled stream closed by the host', timeoutMs: 20_000 });
    // The client sees its stream end once it reads again (what reached its kernel buffers, no more).
    const read = await stall.drain();
    expect(read).toBeLessThan(COUNT * BYTES);
    // The flooding session, and a new one, still work.
    expect(textOf(await b.client.callTool({ name: 'echo', arguments: { text: 'still here' } }))).toBe('still here');
    const c = await w.connect('flood');
    expect(textOf(await c.client.callTool({ name: 'echo', arguments: { text: 'new' } }))).toBe('new');
  }, 90_000);

  it("a stalled request stream: closed at the bound, its request cancelled at the backend, the session's next request answered", async () => {
    const w = await world.start({
      maxStreamBufferBytes: BOUND,
      servers: { flood: flood(world.get().marker, { serialize: true }) },
    });
    const stderr: string[] = [];
    w.host.events.on('output', (e) => {
      if (e.stream === 'stderr') stderr.push(e.line);
    });
    const url = w.front.url('flood');
    const sessionId = await rawSession(url);
    const watched = watchResponses(
      w.front.server,
      (req) => req.method === 'POST' && req.headers['mcp-session-id'] === sessionId,
    );
    const call = {
      jsonrpc: '2.0',
      id: 7,
      method: 'tools/call',
      // 100 MB if nothing stopped it: the cancellation does, long before its end.
      params: {
        name: 'flood',
        arguments: { count: 5 * COUNT, bytes: BYTES, progress: true },
        _meta: { progressToken: 'p' },
      },
    };
    const stall = await stalled(url, sessionId, call);
    const seen = await waitFor(() => watched.responses[0], { what: 'the POST seen' });
    await waitFor(() => seen.closed || seen.maxQueued > BOUND, {
      what: 'the stalled request stream closed by the host (or past the bound)',
      timeoutMs: 30_000,
    });
    expect(seen.maxQueued).toBeGreaterThan(0);
    expect(seen.maxQueued).toBeLessThanOrEqual(BOUND);
    expect(seen.closed).toBe(true);
    // Not wedged: the request is no longer in flight (it was cancelled at the backend), so with
    // serialize another session is not held behind it, and the same session is answered again.
    await waitFor(() => w.host.stats()[0]!.inFlight === 0, { what: 'the stalled request settled', timeoutMs: 30_000 });
    await waitFor(() => stderr.some((line) => /^flood: cancelled request \d+$/.test(line)), {
      what: 'the backend told to cancel it',
      timeoutMs: 30_000,
    });
    const other = await w.connect('flood');
    expect(textOf(await other.client.callTool({ name: 'echo', arguments: { text: 'other' } }))).toBe('other');
    const again = await post(
      url,
      { jsonrpc: '2.0', id: 8, method: 'tools/call', params: { name: 'echo', arguments: { text: 'again' } } },
      sessionId,
    );
    expect(await again.text()).toContain('"again"');
    stall.destroy();
  }, 90_000);
});
