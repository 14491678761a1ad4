// Raw Streamable HTTP for the session tests: what a client that misbehaves (never reads, never says
// goodbye) does, on node:http, without the SDK client's own retries and buffering.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { request } from 'node:http';

export const INIT = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
};

const POST_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

export function post(url: URL, body: unknown, sessionId?: string): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: sessionId ? { ...POST_HEADERS, 'mcp-session-id': sessionId } : POST_HEADERS,
    body: JSON.stringify(body),
  });
}

/** initialize + notifications/initialized; resolves with the session id. No GET stream. */
export async function rawSession(url: URL): Promise<string> {
  const res = await post(url, INIT);
  await res.text();
  const sessionId = res.headers.get('mcp-session-id');
  if (res.status !== 200 || !sessionId) throw new Error(`initialize answered ${res.status}`);
  (await post(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, sessionId)).body?.cancel();
  return sessionId;
}

export interface Stalled {
  res: IncomingMessage;
  /** Starts reading again; resolves when the host has ended or cut the stream, with the bytes read. */
  drain(): Promise<number>;
  destroy(): void;
}

/**
 * A request (GET stream, or a POST whose answer is an SSE stream) whose answer this client never
 * reads: once the headers are in, its socket is paused, so the kernel buffers fill and the host
 * has to hold (or drop) what it writes.
 */
export function stalled(url: URL, sessionId: string, body?: unknown): Promise<Stalled> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      url,
      {
        method: payload === undefined ? 'GET' : 'POST',
        agent: false,
        headers: {
          accept: payload === undefined ? 'text/event-stream' : 'application/json, text/event-stream',
          'mcp-session-id': sessionId,
          ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
        },
      },
      (res) => {
        res.pause();
        res.socket.pause();
        resolve({
          res,
          drain: () =>
            new Promise((done) => {
              let bytes = 0;
              res.on('data', (chunk: Buffer) => {
                bytes += chunk.length;
              });
              res.once('close', () => done(bytes));
              res.resume();
              res.socket.resume();
            }),
          destroy: () => req.destroy(),
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/**
 * Watches the host's side of matching requests on the front's server: the most bytes ever queued
 * for each (its `writableLength` after every write), and whether it is closed.
 */
export function watchResponses(
  server: import('node:http').Server,
  match: (req: IncomingMessage) => boolean,
): { responses: Array<{ res: ServerResponse; maxQueued: number; closed: boolean }> } {
  const responses: Array<{ res: ServerResponse; maxQueued: number; closed: boolean }> = [];
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (!match(req)) return;
    const seen = { res, maxQueued: 0, closed: false };
    responses.push(seen);
    const write = res.write.bind(res) as (...args: unknown[]) => boolean;
    res.write = ((...args: unknown[]) => {
      const ok = write(...args);
      seen.maxQueued = Math.max(seen.maxQueued, res.writableLength);
      return ok;
    }) as ServerResponse['write'];
    res.once('close', () => {
      seen.closed = true;
    });
  });
  return { responses };
}
