import { join } from 'node:path';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../../test-kit/processes.js';
import type { McpHost } from '../src/index.js';
import { recorded, recorder } from './helpers.js';
import { useWorld } from './setup.js';

const world = useWorld();

// biome-ignore lint/suspicious/noExplicitAny: raw JSON-RPC replies, read by the tests
type Reply = { who: string; id: unknown; result?: any; error?: any };

/**
 * Raw sessions over the in-memory transport (it delivers synchronously), all writing their replies
 * to one log in the order they arrive, so the order of answers across sessions can be asserted.
 */
function rawSessions(host: McpHost, server: string) {
  const log: Reply[] = [];
  const open = async (who: string) => {
    const [mine, theirs] = InMemoryTransport.createLinkedPair();
    mine.onmessage = (m) => {
      if ('id' in m && ('result' in m || 'error' in m)) log.push({ who, ...(m as object) } as Reply);
    };
    await mine.start();
    host.connect(server, theirs);
    const send = (m: unknown) => mine.send(m as JSONRPCMessage);
    await send({
      jsonrpc: '2.0',
      id: `init-${who}`,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: who, version: '1' } },
    });
    await waitFor(() => log.some((r) => r.who === who && r.id === `init-${who}` && r.result), {
      what: `${who} initialized`,
      timeoutMs: 15_000,
    });
    await send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    return send;
  };
  return { log, open };
}

const call = (id: unknown, name: string, args: Record<string, unknown>) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name, arguments: args },
});
const textOfReply = (r: Reply | undefined): string => r?.result?.content?.[0]?.text ?? '';

describe('request ids: a session id is refused while a request with the same id is queued or in flight', () => {
  it('serialize: an id queued behind another session is refused when sent again; the gate stays held until all of the owner’s requests are answered', async () => {
    const file = join(world.get().dir, 'r.jsonl');
    const w = await world.start({ servers: { rec: recorder(world.get().marker, file, [], { serialize: true }) } });
    const { log, open } = rawSessions(w.host, 'rec');
    const a = await open('A');
    const b = await open('B');
    const c = await open('C');
    // B holds the gate with a slow call; once the backend has it, A's and C's requests wait behind it.
    await b(call(1, 'slow', { ms: 800, tag: 'B1' }));
    await waitFor(() => recorded(file).some((m) => m.params?.arguments?.tag === 'B1'), { what: 'B1 at the backend' });
    await a(call(1, 'slow', { ms: 1500, tag: 'A1' }));
    await a(call(1, 'echo', { text: 'A1-dup' })); // same id while the first is still queued
    await a(call(2, 'echo', { text: 'A2' }));
    await c(call(1, 'echo', { text: 'C1' }));
    const aSlow = () => log.find((r) => r.who === 'A' && r.id === 1 && textOfReply(r) === 'slow done A1');
    const cEcho = () => log.find((r) => r.who === 'C' && r.id === 1 && r.result);
    await waitFor(() => aSlow() && cEcho(), { what: "A's slow call and C's echo answered", timeoutMs: 20_000 });
    // The duplicate was refused (-32600) and never reached the backend; the first id 1 was still answered.
    const aOnes = log.filter((r) => r.who === 'A' && r.id === 1);
    expect(aOnes.map((r) => (r.error ? r.error.code : textOfReply(r)))).toEqual([-32600, 'slow done A1']);
    expect(recorded(file).some((m) => m.params?.arguments?.text === 'A1-dup')).toBe(false);
    expect(textOfReply(log.find((r) => r.who === 'A' && r.id === 2))).toBe('A2');
    // C's request was forwarded only after every request of A (the gate's owner) had its answer.
    expect(log.indexOf(cEcho()!)).toBeGreaterThan(log.indexOf(aSlow()!));
    const order = recorded(file)
      .filter((m) => m.method === 'tools/call')
      .map((m) => m.params.arguments.tag ?? m.params.arguments.text);
    expect(order).toEqual(['B1', 'A1', 'A2', 'C1']);
  });

  it('an id waiting for the backend to restart is refused when sent again', async () => {
    const file = join(world.get().dir, 'r.jsonl');
    const w = await world.start({ servers: { rec: recorder(world.get().marker, file) } });
    const { log, open } = rawSessions(w.host, 'rec');
    const a = await open('A');
    await a(call('boom', 'crash', {}));
    await waitFor(() => log.some((r) => r.id === 'boom' && r.error), { what: 'the crash answered' });
    expect(w.host.stats()[0]!.state).not.toBe('running');
    // Both are sent before the new backend is there: the first waits for it, the second is refused.
    void a(call(5, 'echo', { text: 'first' }));
    void a(call(5, 'echo', { text: 'second' }));
    await waitFor(() => log.filter((r) => r.id === 5).length === 2, {
      what: 'both answers for id 5',
      timeoutMs: 15_000,
    });
    const fives = log.filter((r) => r.id === 5);
    expect(fives.map((r) => (r.error ? r.error.code : textOfReply(r)))).toEqual([-32600, 'first']);
    expect(recorded(file).some((m) => m.params?.arguments?.text === 'second')).toBe(false);
  });
});
