import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { describe, expect, it } from 'vitest';
import { alive, pidsCarrying, waitFor } from '../../../test-kit/processes.js';
import { createMcpHost, MaxSessionsError, type McpHostEvents } from '../src/index.js';
import { connectClient, FIXTURES, manualClock, recorder, textOf } from './helpers.js';
import { INIT, post, rawSession } from './raw-http.js';
import { useWorld } from './setup.js';

const world = useWorld();

type Closed = McpHostEvents['sessionClosed'];

/** GET streams the front received, by session id. */
function watchGets(server: import('node:http').Server) {
  const gets: Array<{ sessionId: string; socket: import('node:net').Socket }> = [];
  server.on('request', (req) => {
    if (req.method === 'GET') gets.push({ sessionId: String(req.headers['mcp-session-id']), socket: req.socket });
  });
  return gets;
}

describe('sessions whose client left without a word (issue 20, 8)', () => {
  it('an SDK client SIGKILLed with its GET stream open: its session closes within streamReconnectGraceMs ("disconnected")', async () => {
    const marker = world.get().marker;
    const w = await world.start({
      streamReconnectGraceMs: 1000,
      servers: { rec: recorder(marker, join(world.get().dir, 'r.jsonl'), [], { share: 'per-session' }) },
    });
    const closed: Closed[] = [];
    w.host.events.on('sessionClosed', (e) => closed.push(e));
    const gets = watchGets(w.front.server);
    const child = spawn(process.execPath, [join(FIXTURES, 'http-client.mjs'), marker, w.front.url('rec').href], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout!.on('data', (d: Buffer) => {
          out += d;
          if (out.includes('\n')) resolve(out.slice(0, out.indexOf('\n')));
        });
        child.once('exit', (code) => reject(new Error(`the client exited (${code}) before connecting`)));
      });
      const { sessionId } = JSON.parse(line) as { sessionId: string };
      await waitFor(() => gets.some((g) => g.sessionId === sessionId), { what: "the client's GET stream" });
      const backend = w.host.stats()[0]!.pids[0]!;
      expect(alive(backend)).toBe(true);
      process.kill(child.pid!, 'SIGKILL');
      // Bounded: far under sessionIdleMs (30 min by default), a few times the grace on a busy machine.
      await waitFor(() => closed.length > 0, { what: 'the session closed', timeoutMs: 20_000 });
      expect(closed).toEqual([{ server: 'rec', sessionId, reason: 'disconnected' }]);
      // Its per-session backend goes with it: it holds no instance any more.
      await waitFor(() => !alive(backend), { what: 'its backend stopped', timeoutMs: 10_000 });
      expect(w.host.stats()[0]!.sessions).toBe(0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  }, 60_000);

  it('a live SDK client whose GET stream breaks reconnects it within the grace: its session stays', async () => {
    const clock = manualClock(Date.now);
    const w = await world.start({
      clock,
      streamReconnectGraceMs: 5000,
      servers: { rec: recorder(world.get().marker, join(world.get().dir, 'r.jsonl')) },
    });
    const closed: Closed[] = [];
    w.host.events.on('sessionClosed', (e) => closed.push(e));
    const gets = watchGets(w.front.server);
    const a = await w.connect('rec');
    const sessionId = a.transport.sessionId!;
    await waitFor(() => gets.length === 1, { what: 'the first GET stream' });
    gets[0]!.socket.destroy(); // the network drops it; the client is fine
    await waitFor(() => gets.length === 2, { what: 'the SDK reconnecting its GET stream', timeoutMs: 15_000 });
    expect(gets[1]!.sessionId).toBe(sessionId);
    clock.advance(60_000); // past the grace: the timer armed when the stream broke was cleared
    expect(closed).toEqual([]);
    expect(textOf(await a.client.callTool({ name: 'echo', arguments: { text: 'alive' } }))).toBe('alive');
  });

  it('a client that had a GET stream and is gone: the grace timer ends it; one that never opened one waits for sessionIdleMs', async () => {
    const clock = manualClock(Date.now);
    const w = await world.start({
      clock,
      streamReconnectGraceMs: 5000,
      sessionIdleMs: 600_000,
      servers: { rec: recorder(world.get().marker, join(world.get().dir, 'r.jsonl')) },
    });
    const closed: Closed[] = [];
    w.host.events.on('sessionClosed', (e) => closed.push(e));
    const gets = watchGets(w.front.server);
    const url = w.front.url('rec');
    const streamless = await rawSession(url); // curl-like: POSTs only
    const a = await connectClient(url);
    const sessionId = a.transport.sessionId!;
    await waitFor(() => gets.length === 1, { what: 'the GET stream' });
    // The client dies without DELETE: the SDK is stopped from reconnecting, the socket goes.
    await a.client.close();
    await waitFor(() => w.host.stats()[0]!.sessions === 2 && gets[0]!.socket.destroyed, { what: 'stream closed' });
    clock.advance(5001);
    await waitFor(() => closed.length === 1, { what: 'the disconnected session closed' });
    expect(closed[0]).toEqual({ server: 'rec', sessionId, reason: 'disconnected' });
    clock.advance(600_000);
    await waitFor(() => closed.length === 2, { what: 'the stream-less session expired' });
    expect(closed[1]).toEqual({ server: 'rec', sessionId: streamless, reason: 'expired' });
  });
});

describe('per-session servers at maxInstances evict the longest-idle session (issue 20, 8)', () => {
  it('an idle session without a connection is evicted (its backend stopped first); one with a request in flight never; all busy: refused', async () => {
    const marker = world.get().marker;
    const w = await world.start({
      servers: {
        rec: recorder(marker, join(world.get().dir, 'r.jsonl'), [], { share: 'per-session', maxInstances: 2 }),
      },
    });
    const closed: Closed[] = [];
    w.host.events.on('sessionClosed', (e) => closed.push(e));
    const url = w.front.url('rec');
    const call = (id: number, name: string, args: object) => ({
      jsonrpc: '2.0',
      id,
      method: 'tools/call',
      params: { name, arguments: args },
    });
    // Two clients that left without DELETE (no stream, nothing open): `first` idle the longest.
    const first = await rawSession(url);
    await (await post(url, call(2, 'echo', { text: 'one' }), first)).text();
    const second = await rawSession(url);
    await (await post(url, call(2, 'echo', { text: 'two' }), second)).text();
    expect(pidsCarrying(marker)).toHaveLength(2);
    const firstPid = w.host.stats()[0]!.instances.find((i) => i.instance.endsWith(first))!.pid!;

    const c = await w.connect('rec');
    expect(closed).toEqual([{ server: 'rec', sessionId: first, reason: 'evicted' }]);
    expect(alive(firstPid)).toBe(false); // stopped before the new backend started: never 3 at once
    expect(pidsCarrying(marker)).toHaveLength(2);
    expect(textOf(await c.client.callTool({ name: 'echo', arguments: { text: 'c' } }))).toBe('c');
    expect((await post(url, call(3, 'echo', { text: 'gone' }), first)).status).toBe(404);

    // `second` has a request in flight (its client dropped the connection; the call still runs):
    // never evicted. `c` holds its GET stream: a connected client is not evicted either. Refused.
    void post(url, call(4, 'slow', { ms: 3000 }), second)
      .then((res) => res.body?.cancel())
      .catch(() => {});
    await waitFor(() => w.host.stats()[0]!.inFlight === 1, { what: 'slow call in flight' });
    await expect(w.connect('rec')).rejects.toThrow(/MCP server "rec" already runs maxInstances=2/);
    expect(closed).toHaveLength(1);
    // Once its call is answered, `second` is idle and unconnected again: the next session evicts it.
    await waitFor(() => w.host.stats()[0]!.inFlight === 0, { what: 'slow call done', timeoutMs: 20_000 });
    const d = await w.connect('rec');
    expect(closed[1]).toEqual({ server: 'rec', sessionId: second, reason: 'evicted' });
    expect(textOf(await d.client.callTool({ name: 'echo', arguments: { text: 'd' } }))).toBe('d');
    expect(pidsCarrying(marker)).toHaveLength(2);
  }, 60_000);
});

describe('maxSessions caps the sessions of one server (issue 20, 15)', () => {
  it('past the cap initialize gets 503 naming the server and the cap (connect(): MaxSessionsError); closing frees a slot', async () => {
    const w = await world.start({
      maxSessions: 2,
      servers: { rec: recorder(world.get().marker, join(world.get().dir, 'r.jsonl')) },
    });
    const url = w.front.url('rec');
    const a = await w.connect('rec');
    await rawSession(url);
    const refused = await post(url, INIT);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('mcp-session-id')).toBeNull();
    const body = (await refused.json()) as { id: unknown; error: { code: number; message: string; data: unknown } };
    expect(body.id).toBe(1);
    expect(body.error.code).toBe(-32000);
    expect(body.error.message).toMatch(/MCP server "rec" already has maxSessions=2 sessions/);
    expect(body.error.data).toEqual({ code: 'EMAXSESSIONS', server: 'rec', maxSessions: 2 });
    await expect(connectClient(url)).rejects.toMatchObject({
      code: 503,
      message: expect.stringMatching(/MCP server \\"rec\\" already has maxSessions=2/),
    });
    const [, serverSide] = InMemoryTransport.createLinkedPair();
    let thrown: unknown;
    try {
      w.host.connect('rec', serverSide);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(MaxSessionsError);
    expect(thrown).toMatchObject({ code: 'EMAXSESSIONS', server: 'rec', maxSessions: 2 });
    expect(w.host.stats()[0]!.sessions).toBe(2);
    // A DELETE frees its slot.
    await a.close();
    await waitFor(() => w.host.stats()[0]!.sessions === 1, { what: 'session closed' });
    const b = await w.connect('rec');
    expect(textOf(await b.client.callTool({ name: 'echo', arguments: { text: 'b' } }))).toBe('b');
  });

  it('maxSessions, streamReconnectGraceMs and maxStreamBufferBytes are checked at construction', () => {
    const base = { stateDir: world.get().dir, servers: {} };
    expect(() => createMcpHost({ ...base, maxSessions: 0 })).toThrow(
      new RangeError('options.maxSessions must be a positive integer, got 0'),
    );
    expect(() => createMcpHost({ ...base, maxSessions: '5' as unknown as number })).toThrow(TypeError);
    expect(() => createMcpHost({ ...base, streamReconnectGraceMs: -1 })).toThrow(
      /options\.streamReconnectGraceMs must be a finite number of milliseconds >= 0 and <= 2147483647, got -1/,
    );
    expect(() => createMcpHost({ ...base, maxStreamBufferBytes: 0.5 })).toThrow(
      /options\.maxStreamBufferBytes must be a positive integer, got 0\.5/,
    );
  });
});
