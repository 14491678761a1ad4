import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../../test-kit/processes.js';
import type { McpHostEvents } from '../src/index.js';
import { recorder, textOf } from './helpers.js';
import { useWorld } from './setup.js';

const world = useWorld();
const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
const init = (id: unknown = 1) => ({
  jsonrpc: '2.0',
  id,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
});

async function startRec(extra: Record<string, unknown> = {}) {
  const w = await world.start({
    servers: {
      rec: recorder(world.get().marker, join(world.get().dir, 'r.jsonl')),
      other: recorder(world.get().marker, join(world.get().dir, 'other.jsonl')),
    },
    ...extra,
  });
  return w;
}

/** A raw session over HTTP: returns its id after initialize (reading the SSE answer). */
async function rawSession(url: URL): Promise<string> {
  const res = await fetch(url, { method: 'POST', headers: HEADERS, body: JSON.stringify(init()) });
  expect(res.status).toBe(200);
  await res.text();
  return res.headers.get('mcp-session-id')!;
}

describe('bad input from sessions: errors, never a crash', () => {
  it('HTTP: garbage, non-JSON-RPC, no session, unknown session, unknown server, huge bodies', async () => {
    const w = await startRec({ maxBodyBytes: 64 * 1024 });
    const url = w.front.url('rec');
    const post = (body: string, headers: Record<string, string> = {}) =>
      fetch(url, { method: 'POST', headers: { ...HEADERS, ...headers }, body });
    expect((await post('{not json')).status).toBe(400);
    expect((await post(JSON.stringify({ hello: 'world' }))).status).toBe(400);
    expect((await post(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }))).status).toBe(400); // never initialized
    expect((await fetch(url, { method: 'GET', headers: { accept: 'text/event-stream' } })).status).toBe(400);
    const unknownSession = await post(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }), {
      'mcp-session-id': 'no-such-session',
    });
    expect(unknownSession.status).toBe(404);
    expect(
      (await fetch(w.front.url('nope'), { method: 'POST', headers: HEADERS, body: JSON.stringify(init()) })).status,
    ).toBe(404);
    expect((await post(JSON.stringify({ ...init(), pad: 'x'.repeat(128 * 1024) }))).status).toBe(413);
    // A session of another server is not found under this one.
    const session = await rawSession(url);
    const ping = (server: string) =>
      fetch(w.front.url(server), {
        method: 'POST',
        headers: { ...HEADERS, 'mcp-session-id': session, 'mcp-protocol-version': '2025-06-18' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping' }),
      });
    expect((await ping('other')).status).toBe(404);
    const own = await ping('rec');
    expect(own.status).toBe(200);
    expect(await own.text()).toContain('"result":{}');
    // The host still serves a well-behaved client.
    const client = await w.connect('rec');
    expect(textOf(await client.client.callTool({ name: 'echo', arguments: { text: 'ok' } }))).toBe('ok');
    expect(w.host.stats().map((s) => s.starts)).toEqual([1, 0]);
  });

  it('any transport: a session that never initializes, unknown methods, bad params, duplicate ids, stray responses', async () => {
    const w = await startRec();
    const errors: McpHostEvents['routingError'][] = [];
    w.host.events.on('routingError', (e) => errors.push(e));
    const [mine, theirs] = InMemoryTransport.createLinkedPair();
    const replies: JSONRPCMessage[] = [];
    mine.onmessage = (m) => replies.push(m);
    await mine.start();
    w.host.connect('rec', theirs);
    const send = (m: unknown) => mine.send(m as JSONRPCMessage);
    const reply = (id: unknown) =>
      // biome-ignore lint/suspicious/noExplicitAny: a raw JSON-RPC reply
      waitFor(() => replies.find((r) => 'id' in r && r.id === id) as any, {
        what: `reply ${id}`,
      });
    await send({ jsonrpc: '2.0', id: 'early', method: 'tools/list' });
    expect((await reply('early')).error.code).toBe(-32002);
    await send({ jsonrpc: '2.0', id: 'bad-init', method: 'initialize', params: { nope: true } });
    expect((await reply('bad-init')).error.code).toBe(-32602);
    expect(w.host.stats()[0]!.starts).toBe(0); // nothing started for a session that never initialized
    await send(init('init'));
    expect((await reply('init')).result.serverInfo.name).toBe('recorder');
    await send({ jsonrpc: '2.0', id: 'init2', method: 'initialize', params: init().params });
    expect((await reply('init2')).error.code).toBe(-32600);
    await send({ jsonrpc: '2.0', id: 7, method: 'no/such/method' });
    expect((await reply(7)).error.code).toBe(-32601); // the backend's own answer, routed back
    await send({ jsonrpc: '2.0', id: 8, method: 'logging/setLevel', params: { level: 'loud' } });
    expect((await reply(8)).error.code).toBe(-32602);
    await send({ jsonrpc: '2.0', id: 9, method: 'resources/subscribe', params: {} });
    expect((await reply(9)).error.code).toBe(-32602);
    await send({ jsonrpc: '2.0', id: 10, method: 'tools/call', params: { name: 'slow', arguments: { ms: 500 } } });
    await send({ jsonrpc: '2.0', id: 10, method: 'tools/call', params: { name: 'echo', arguments: { text: 'dup' } } });
    expect((await reply(10)).error.code).toBe(-32600); // the duplicate is refused...
    await waitFor(() => replies.filter((r) => 'id' in r && r.id === 10).length === 2, { what: 'the first 10' });
    expect(replies.filter((r) => 'id' in r && r.id === 10).some((r) => 'result' in r)).toBe(true); // ...the first still answered
    await send({ jsonrpc: '2.0', id: 999, result: {} }); // a response to nothing
    await waitFor(() => errors.some((e) => e.reason === 'unknown-id'), { what: 'stray response reported' });
    await send({ jsonrpc: '2.0' });
    await waitFor(() => errors.some((e) => e.reason === 'invalid'), { what: 'invalid message reported' });
    await send({ jsonrpc: '2.0', id: 11, method: 'ping' });
    expect((await reply(11)).result).toEqual({});
    await mine.close();
  });

  it('a server removed while an initialize body is still arriving: 404, no crash, no session', async () => {
    const w = await startRec();
    const { request } = await import('node:http');
    const url = w.front.url('other');
    const body = JSON.stringify(init());
    const status = new Promise<number>((resolve, reject) => {
      const req = request(
        url,
        { method: 'POST', headers: { ...HEADERS, 'content-length': Buffer.byteLength(body) } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      // Once the front has the request (its headers parsed, the host reading the body), remove the server.
      w.front.server.once('request', async () => {
        await w.host.reconfigure({ rec: recorder(w.marker, join(w.dir, 'r.jsonl')) });
        req.end(body.slice(10));
      });
      req.write(body.slice(0, 10));
    });
    expect(await status).toBe(404);
    expect(w.host.servers()).toEqual(['rec']);
    const client = await w.connect('rec');
    expect(textOf(await client.client.callTool({ name: 'echo', arguments: { text: 'fine' } }))).toBe('fine');
  });

  it('a backend line longer than maxLineBytes is dropped and reported; the backend keeps working', async () => {
    const w = await startRec({ maxLineBytes: 100_000 });
    const output: string[] = [];
    w.host.events.on('output', (o) => output.push(o.line));
    const client = await w.connect('rec');
    expect(textOf(await client.client.callTool({ name: 'huge', arguments: { bytes: 1_000_000 } }))).toBe('huge sent');
    expect(output.some((line) => line.includes('dropped a line longer than maxLineBytes'))).toBe(true);
    expect(textOf(await client.client.callTool({ name: 'echo', arguments: { text: 'after' } }))).toBe('after');
  });

  it('a huge but allowed request and response pass through intact', async () => {
    const w = await startRec({ maxBodyBytes: 8 * 1024 * 1024 });
    const client = await w.connect('rec');
    const text = 'y'.repeat(3 * 1024 * 1024);
    expect(textOf(await client.client.callTool({ name: 'echo', arguments: { text } }))).toBe(text);
  });

  it('a client over any SDK transport (in memory) works like one over HTTP', async () => {
    const w = await startRec();
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    const id = w.host.connect('rec', serverSide);
    const client = new Client({ name: 'inproc', version: '1' });
    await client.connect(clientSide);
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'in memory' } }))).toBe('in memory');
    expect(w.host.closeSession(id)).toBe(true);
    expect(w.host.closeSession(id)).toBe(false);
  });
});
