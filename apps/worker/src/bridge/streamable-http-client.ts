/**
 * A minimal MCP Streamable HTTP client on node:http, for the stdio bridge: it forwards JSON-RPC
 * messages as they are (no SDK Client, no schemas), so a bridge starts in the time of a hook.
 *   POST  one message; a request's answer is JSON or an SSE stream (its own server-to-client
 *         messages first, then the response); a notification or response gets 202.
 *   GET   the session's stream of server-initiated messages (list_changed, logging, requests).
 *   DELETE ends the session.
 * Session id and protocol version headers are kept here.
 */
import { Agent, type IncomingMessage, request } from 'node:http';
import { HOST } from '../config/config.js';

export type Message = Record<string, unknown> & { jsonrpc?: unknown; id?: unknown; method?: unknown };

export class HostUnreachableError extends Error {
  readonly code = 'EHOSTGONE';
  constructor(message: string) {
    super(message);
    this.name = 'HostUnreachableError';
  }
}

/** The host answered with an HTTP error (not a JSON-RPC one): status and its message. */
export class HostHttpError extends Error {
  readonly code = 'EHOSTHTTP';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HostHttpError';
  }
}

export interface PostOptions {
  /**
   * Called once the host has taken the message (its response headers arrived, whatever the status:
   * the host has read it, and dispatched it when it is valid), before the answer's body; not called
   * when the POST fails before that.
   */
  onAccepted?: () => void;
  /** Aborting drops the POST and its answer stream (a request the client cancelled); the post rejects. */
  signal?: AbortSignal;
}

export interface McpHttpClientOptions {
  port: number;
  path: string;
  token: string;
}

/** Parses `text/event-stream` into its `data` payloads (one JSON-RPC message each). */
export function parseSse(stream: IncomingMessage, onData: (data: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    let data: string[] = [];
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      buffer += chunk;
      for (let nl = buffer.indexOf('\n'); nl !== -1; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl).replace(/\r$/, '');
        buffer = buffer.slice(nl + 1);
        if (line === '') {
          if (data.length) onData(data.join('\n'));
          data = [];
        } else if (line.startsWith('data:')) data.push(line.slice(line[5] === ' ' ? 6 : 5));
        // `event:`, `id:`, `retry:` and `:` comments carry nothing the bridge needs.
      }
    });
    stream.on('end', () => {
      if (data.length) onData(data.join('\n'));
      resolve();
    });
    stream.on('error', reject);
    stream.on('aborted', () => reject(new HostUnreachableError('the host broke off its event stream')));
  });
}

export class McpHttpClient {
  sessionId: string | null = null;
  protocolVersion: string | null = null;
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 64 });
  #stream: { destroy(): void } | null = null;

  constructor(readonly options: McpHttpClientOptions) {}

  #headers(extra: Record<string, string>): Record<string, string> {
    return {
      authorization: `Bearer ${this.options.token}`,
      ...(this.sessionId ? { 'mcp-session-id': this.sessionId } : {}),
      ...(this.protocolVersion ? { 'mcp-protocol-version': this.protocolVersion } : {}),
      ...extra,
    };
  }

  #send(
    method: 'POST' | 'GET' | 'DELETE',
    body: string | undefined,
    accept: string,
    signal?: AbortSignal,
  ): Promise<IncomingMessage> {
    const headers = this.#headers({
      accept,
      ...(body !== undefined
        ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }
        : {}),
    });
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: HOST,
          port: this.options.port,
          path: this.options.path,
          method,
          headers,
          agent: this.#agent,
          ...(signal ? { signal } : {}),
        },
        resolve,
      );
      req.on('error', (error: NodeJS.ErrnoException) =>
        reject(
          new HostUnreachableError(`${HOST}:${this.options.port}${this.options.path}: ${error.code ?? error.message}`),
        ),
      );
      req.end(body);
    });
  }

  /**
   * POSTs one message. Every message the answer carries (server-to-client requests, notifications,
   * then the response) goes to `onMessage` as it arrives. Resolves when the answer is complete.
   */
  async post(message: Message, onMessage: (message: Message) => void, options: PostOptions = {}): Promise<void> {
    const res = await this.#send(
      'POST',
      JSON.stringify(message),
      'application/json, text/event-stream',
      options.signal,
    );
    const session = res.headers['mcp-session-id'];
    if (typeof session === 'string' && session !== '') this.sessionId = session;
    options.onAccepted?.();
    const type = String(res.headers['content-type'] ?? '');
    const status = res.statusCode ?? 0;
    if (status === 202) {
      res.resume();
      return;
    }
    if (status >= 200 && status < 300 && type.startsWith('text/event-stream')) {
      await parseSse(res, (data) => deliver(data, onMessage));
      return;
    }
    const text = await readAll(res);
    if (status >= 200 && status < 300 && type.includes('json')) {
      deliver(text, onMessage);
      return;
    }
    throw new HostHttpError(status, errorText(status, text));
  }

  /** Opens the session's GET stream; resolves when it ends (null when the server offers none: 405). */
  async stream(onMessage: (message: Message) => void): Promise<'ended' | 'none'> {
    const res = await this.#send('GET', undefined, 'text/event-stream');
    if (res.statusCode === 405) {
      res.resume();
      return 'none';
    }
    if (res.statusCode !== 200) {
      const text = await readAll(res);
      throw new HostHttpError(res.statusCode ?? 0, errorText(res.statusCode ?? 0, text));
    }
    this.#stream = res;
    try {
      await parseSse(res, (data) => deliver(data, onMessage));
    } finally {
      this.#stream = null;
    }
    return 'ended';
  }

  /** Ends the session at the host (bounded); forgets it either way. */
  async terminate(timeoutMs: number): Promise<void> {
    if (!this.sessionId) return;
    const done = this.#send('DELETE', undefined, 'application/json')
      .then((res) => res.resume())
      .catch(() => {});
    await Promise.race([done, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    this.forget();
  }

  /** Drops the session (the host is gone, or it does not know the session any more). */
  forget(): void {
    this.sessionId = null;
    this.protocolVersion = null;
    this.#stream?.destroy();
    this.#stream = null;
  }

  close(): void {
    this.forget();
    this.#agent.destroy();
  }
}

function deliver(text: string, onMessage: (message: Message) => void): void {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return; // not JSON: nothing a client could use (the host never sends such a thing)
  }
  for (const message of Array.isArray(value) ? value : [value]) {
    if (typeof message === 'object' && message !== null) onMessage(message as Message);
  }
}

function readAll(res: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (d: string) => {
      if (text.length < 64 * 1024) text += d;
    });
    res.on('end', () => resolve(text));
    res.on('error', () => resolve(text));
    res.on('aborted', () => resolve(text));
  });
}

/** The host's own words when it gave any ({"error": "..."} or a JSON-RPC error), else the status. */
function errorText(status: number, text: string): string {
  try {
    const body = JSON.parse(text) as { error?: unknown };
    if (typeof body.error === 'string') return body.error;
    if (typeof body.error === 'object' && body.error !== null) {
      const message = (body.error as { message?: unknown }).message;
      if (typeof message === 'string') return message;
    }
  } catch {}
  return `HTTP ${status}`;
}
