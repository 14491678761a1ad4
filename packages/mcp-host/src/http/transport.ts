import type { IncomingMessage, ServerResponse } from 'node:http';
import { SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js';
import { JSONRPC } from '../errors.js';
import type { SessionTransport } from '../routing/session.js';

/**
 * The server side of one Streamable HTTP session (MCP 2025-03-26 / 2025-06-18), written on
 * node:http directly. The SDK's `StreamableHTTPServerTransport` turns every node request into a web
 * Request and back and re-validates every message: ~2.5 ms of CPU per call here, against ~0.3 ms for
 * this, and the host already checks every message it routes.
 *   POST  one message (or a batch). Only notifications and responses: 202. Any request: an SSE
 *         stream that carries what the server sends for those requests, then their responses, then
 *         ends. An `initialize` opens the session: its answer carries `Mcp-Session-Id`.
 *   GET   the session's one standalone SSE stream, for messages tied to no request.
 *   DELETE ends the session.
 * Backpressure: what a client does not read queues in node's buffers, so every stream is bounded
 * (`maxStreamBufferBytes`): a message that would queue past the bound closes that stream instead,
 * and the requests whose answers it was to carry are cancelled at the server (see `#overflow`).
 */
type Id = string | number;
type Message = Record<string, unknown>;

interface Stream {
  res: ServerResponse;
  /** Requests of this POST still waiting for their response: key → the id the client gave. */
  pending: Map<string, Id>;
}

/** What an `initialize` is refused with when the session cannot be opened (the host is full, or closing). */
export interface Refusal {
  status: number;
  error: { code: number; message: string; data?: unknown };
}

/** Bytes of chunked-encoding framing around one write (`<hex length>\r\n` ... `\r\n`), at most. */
const CHUNK_FRAMING = 16;

const key = (id: unknown) => (typeof id === 'number' ? `n${id}` : `s${String(id)}`);
const isRequest = (m: Message) => typeof m.method === 'string' && m.id !== undefined && m.id !== null;
const isResponse = (m: Message) => m.method === undefined && ('result' in m || 'error' in m);
const isMessage = (m: unknown): m is Message => {
  if (typeof m !== 'object' || m === null || Array.isArray(m) || (m as Message).jsonrpc !== '2.0') return false;
  const msg = m as Message;
  const id = msg.id;
  const idOk = id === undefined || typeof id === 'string' || typeof id === 'number' || (id === null && !isRequest(msg));
  return idOk && (typeof msg.method === 'string' || isResponse(msg));
};

const SSE_HEADERS = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' };

export function replyError(
  res: ServerResponse,
  status: number,
  code: number,
  message: string,
  headers = {},
  extra: { id?: Id | null; data?: unknown } = {},
): void {
  if (res.headersSent) {
    if (!res.writableEnded) res.end();
    return;
  }
  const error = extra.data === undefined ? { code, message } : { code, message, data: extra.data };
  const body = JSON.stringify({ jsonrpc: '2.0', id: extra.id ?? null, error });
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

function readBody(req: IncomingMessage, limit: number): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      resolve(null);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.pause();
        resolve(null);
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export interface HttpSessionOptions {
  maxBodyBytes: number;
  /** Most bytes queued for one stream the client does not read; past it the stream is closed. */
  maxStreamBufferBytes: number;
  newSessionId(): string;
  /**
   * Called when an `initialize` POST opens the session, before the message is delivered. A refusal
   * is the answer instead (the session is not opened).
   */
  onSessionInitialized(sessionId: string): Refusal | null;
}

export class HttpSessionTransport implements SessionTransport {
  sessionId: string | undefined;
  onmessage?: (message: object) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  readonly #streams = new Map<string, Stream>();
  #standalone: ServerResponse | null = null;
  #hadStandalone = false;
  #closed = false;

  constructor(private readonly options: HttpSessionOptions) {}

  async start(): Promise<void> {}

  get closed(): boolean {
    return this.#closed;
  }

  /** The client opened a standalone GET stream at least once (the SDK's client does, right after initialize). */
  get hadStandaloneStream(): boolean {
    return this.#hadStandalone;
  }

  async handleRequest(req: IncomingMessage, res: ServerResponse, parsedBody?: unknown): Promise<void> {
    if (this.#closed) return replyError(res, 404, JSONRPC.sessionNotFound, 'Session not found');
    if (req.method === 'POST') return this.#post(req, res, parsedBody);
    if (req.method === 'GET') return this.#get(req, res);
    if (req.method === 'DELETE') {
      await this.close();
      res.writeHead(200).end();
      return;
    }
    replyError(res, 405, JSONRPC.serverError, 'Method not allowed: use POST, GET or DELETE', {
      allow: 'POST, GET, DELETE',
    });
  }

  async #post(req: IncomingMessage, res: ServerResponse, parsedBody: unknown): Promise<void> {
    const accept = String(req.headers.accept ?? '');
    if (!accept.includes('application/json') || !accept.includes('text/event-stream')) {
      return replyError(
        res,
        406,
        JSONRPC.serverError,
        'Not Acceptable: the client must accept both application/json and text/event-stream',
      );
    }
    if (!String(req.headers['content-type'] ?? '').includes('application/json')) {
      return replyError(res, 415, JSONRPC.serverError, 'Unsupported Media Type: Content-Type must be application/json');
    }
    let body = parsedBody;
    if (body === undefined) {
      const text = await readBody(req, this.options.maxBodyBytes);
      if (text === null) {
        return replyError(
          res,
          413,
          JSONRPC.serverError,
          `Payload Too Large: the limit is ${this.options.maxBodyBytes} bytes`,
          {
            connection: 'close',
          },
        );
      }
      try {
        body = JSON.parse(text);
      } catch {
        return replyError(res, 400, JSONRPC.parseError, 'Parse error: the body is not JSON');
      }
    }
    const messages = Array.isArray(body) ? body : [body];
    if (messages.length === 0 || !messages.every(isMessage)) {
      return replyError(res, 400, JSONRPC.parseError, 'Parse error: Invalid JSON-RPC message');
    }
    const init = messages.filter((m) => m.method === 'initialize');
    if (init.length > 0) {
      if (this.sessionId !== undefined)
        return replyError(res, 400, JSONRPC.invalidRequest, 'Invalid Request: Server already initialized');
      if (messages.length > 1)
        return replyError(
          res,
          400,
          JSONRPC.invalidRequest,
          'Invalid Request: only one initialization request is allowed',
        );
      this.sessionId = this.options.newSessionId();
      const refusal = this.options.onSessionInitialized(this.sessionId);
      if (refusal) {
        this.sessionId = undefined;
        const { code, message, data } = refusal.error;
        return replyError(res, refusal.status, code, message, {}, { id: init[0]!.id as Id, data });
      }
      // The server was removed (or the host is closing) while the body was read.
      if (this.#closed) return replyError(res, 404, JSONRPC.sessionNotFound, 'Session not found');
    } else {
      if (this.sessionId === undefined)
        return replyError(res, 400, JSONRPC.serverError, 'Bad Request: Server not initialized');
      const version = req.headers['mcp-protocol-version'];
      if (typeof version === 'string' && !(SUPPORTED_PROTOCOL_VERSIONS as readonly string[]).includes(version)) {
        return replyError(
          res,
          400,
          JSONRPC.serverError,
          `Bad Request: unsupported protocol version ${JSON.stringify(version)}`,
        );
      }
    }
    const requests = messages.filter(isRequest);
    if (requests.length === 0) {
      res.writeHead(202).end();
      for (const message of messages) this.onmessage?.(message);
      return;
    }
    res.writeHead(200, init.length > 0 ? { ...SSE_HEADERS, 'mcp-session-id': this.sessionId! } : SSE_HEADERS);
    res.flushHeaders();
    const stream: Stream = { res, pending: new Map(requests.map((m) => [key(m.id), m.id as Id])) };
    for (const k of stream.pending.keys()) this.#streams.set(k, stream);
    res.once('close', () => {
      // The client went away: what its requests still produce has nowhere to go.
      for (const k of stream.pending.keys()) if (this.#streams.get(k) === stream) this.#streams.delete(k);
      stream.pending.clear();
    });
    for (const message of messages) this.onmessage?.(message);
  }

  #get(req: IncomingMessage, res: ServerResponse): void {
    const refusal = !String(req.headers.accept ?? '').includes('text/event-stream')
      ? ([406, 'Not Acceptable: the client must accept text/event-stream'] as const)
      : this.sessionId === undefined
        ? ([400, 'Bad Request: Server not initialized'] as const)
        : this.#standalone
          ? ([409, 'Conflict: only one SSE stream is allowed per session'] as const)
          : null;
    if (refusal) {
      replyError(res, refusal[0], JSONRPC.serverError, refusal[1]);
      return;
    }
    res.writeHead(200, { ...SSE_HEADERS, 'mcp-session-id': this.sessionId! });
    res.flushHeaders();
    this.#standalone = res;
    this.#hadStandalone = true;
    res.once('close', () => {
      if (this.#standalone === res) this.#standalone = null;
    });
  }

  async send(message: object, options?: { relatedRequestId?: Id }): Promise<void> {
    if (this.#closed) return;
    const m = message as Message;
    const response = isResponse(m) && m.id !== undefined && m.id !== null;
    const target = response
      ? this.#streams.get(key(m.id))
      : options?.relatedRequestId !== undefined
        ? this.#streams.get(key(options.relatedRequestId))
        : undefined;
    const res = target?.res ?? (response ? null : this.#standalone);
    if (response && target) {
      const k = key(m.id);
      this.#streams.delete(k);
      target.pending.delete(k);
    }
    if (res && !res.writableEnded && !res.destroyed) {
      const frame = `event: message\ndata: ${JSON.stringify(message)}\n\n`;
      const queued = res.writableLength;
      // One message larger than the bound still goes out alone, once everything before it was sent.
      if (queued > 0 && queued + Buffer.byteLength(frame) + CHUNK_FRAMING > this.options.maxStreamBufferBytes) {
        this.#overflow(res, target);
        return;
      }
      res.write(frame);
    }
    if (response && target && target.pending.size === 0 && !target.res.writableEnded && !target.res.destroyed) {
      target.res.end();
    }
  }

  /**
   * The client does not read `res`: close it rather than queue more. A GET stream just goes (a live
   * client opens a new one). A request's stream carried answers the client can no longer get: its
   * requests still in flight are cancelled at the server, as if the client had cancelled them, so
   * they stop holding the session (in-flight counts, `serialize`'s gate) and the server's work.
   */
  #overflow(res: ServerResponse, stream: Stream | undefined): void {
    const orphaned: Id[] = [];
    if (stream) {
      for (const [k, id] of stream.pending) {
        if (this.#streams.get(k) === stream) this.#streams.delete(k);
        orphaned.push(id);
      }
      stream.pending.clear();
    }
    res.destroy();
    if (orphaned.length === 0) return;
    const reason = `the client did not read this request's stream: closed at maxStreamBufferBytes=${this.options.maxStreamBufferBytes}`;
    // Not from inside the send that found the stream full (the router is mid-delivery).
    queueMicrotask(() => {
      for (const requestId of orphaned) {
        if (this.#closed) return;
        this.onmessage?.({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId, reason } });
      }
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const stream of new Set(this.#streams.values())) if (!stream.res.writableEnded) stream.res.end();
    this.#streams.clear();
    if (this.#standalone && !this.#standalone.writableEnded) this.#standalone.end();
    this.#standalone = null;
    this.onclose?.();
  }
}
