import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '../clock.js';
import { HostClosedError, JSONRPC, MaxSessionsError, toJsonRpcError } from '../errors.js';
import type { SessionEndReason } from '../events.js';
import type { SessionTransport } from '../routing/session.js';
import { HttpSessionTransport, type Refusal, replyError } from './transport.js';

interface HostLink {
  has(server: string): boolean;
  connect(server: string, transport: SessionTransport, sessionId: string, onClose: () => void): string;
  /** Ends a session for `reason` (it was idle, or its client is gone). */
  end(sessionId: string, reason: SessionEndReason): void;
  closed(): boolean;
}

export interface HttpSessionsOptions {
  maxBodyBytes: number;
  maxStreamBufferBytes: number;
  sessionIdleMs: number;
  streamReconnectGraceMs: number;
  clock: Clock;
}

interface Entry {
  server: string;
  transport: HttpSessionTransport;
  /** HTTP requests of this session still open (a GET stream counts while it is open). */
  active: number;
  expiry: unknown;
}

const reply = (res: ServerResponse, status: number, code: number, message: string) =>
  replyError(res, status, code, message);

/** How an `initialize` the host would not take is answered over HTTP. */
function refusalOf(error: unknown): Refusal {
  const status = error instanceof MaxSessionsError || error instanceof HostClosedError ? 503 : 404;
  return { status, error: toJsonRpcError(error) };
}

/**
 * Streamable HTTP sessions: one `HttpSessionTransport` per session, found by its `Mcp-Session-Id`.
 * A session with no open request or stream is closed after a while: `streamReconnectGraceMs` once
 * it has had a GET stream (its client kept one open, as the SDK's does: a client that died without
 * DELETE holds no connection, a live one reconnects its stream at once), else `sessionIdleMs`.
 */
export class HttpSessions {
  readonly #sessions = new Map<string, Entry>();

  constructor(
    private readonly host: HostLink,
    private readonly options: HttpSessionsOptions,
  ) {}

  get size(): number {
    return this.#sessions.size;
  }

  /** The session's client holds an HTTP connection to it right now (a request or its GET stream). */
  connected(sessionId: string): boolean {
    return (this.#sessions.get(sessionId)?.active ?? 0) > 0;
  }

  async handle(server: string, req: IncomingMessage, res: ServerResponse, parsedBody?: unknown): Promise<void> {
    if (this.host.closed()) return reply(res, 503, JSONRPC.backendUnavailable, 'the MCP host is closing');
    if (!this.host.has(server))
      return reply(res, 404, JSONRPC.methodNotFound, `no MCP server named "${server}" is configured`);
    const header = req.headers['mcp-session-id'];
    if (header !== undefined) {
      const entry = typeof header === 'string' ? this.#sessions.get(header) : undefined;
      if (!entry || entry.server !== server) return reply(res, 404, JSONRPC.sessionNotFound, 'Session not found');
      this.#track(header as string, entry, res);
      await entry.transport.handleRequest(req, res, parsedBody);
      return;
    }
    if (req.method !== 'POST') {
      return reply(
        res,
        400,
        JSONRPC.serverError,
        'Bad Request: no Mcp-Session-Id header; start a session with an initialize POST',
      );
    }
    const transport: HttpSessionTransport = new HttpSessionTransport({
      newSessionId: randomUUID,
      maxBodyBytes: this.options.maxBodyBytes,
      maxStreamBufferBytes: this.options.maxStreamBufferBytes,
      onSessionInitialized: (sessionId) => {
        const entry: Entry = { server, transport, active: 0, expiry: null };
        this.#sessions.set(sessionId, entry);
        this.#track(sessionId, entry, res);
        try {
          this.host.connect(server, transport, sessionId, () => this.#forget(sessionId, entry));
          return null;
        } catch (error) {
          // The server is at maxSessions, or it was removed (or the host is closing) while the body
          // was read: nothing was opened.
          this.#forget(sessionId, entry);
          return refusalOf(error);
        }
      },
    });
    await transport.handleRequest(req, res, parsedBody);
    // Anything but an initialize (or one refused) made no session: nothing to keep.
    if (transport.sessionId === undefined) await transport.close().catch(() => {});
  }

  #track(sessionId: string, entry: Entry, res: ServerResponse): void {
    entry.active++;
    if (entry.expiry !== null) {
      this.options.clock.clearTimeout(entry.expiry);
      entry.expiry = null;
    }
    res.once('close', () => {
      entry.active--;
      if (entry.active > 0 || this.#sessions.get(sessionId) !== entry) return;
      const { sessionIdleMs, streamReconnectGraceMs } = this.options;
      // A client that kept a GET stream and now holds nothing has died, or will reconnect at once.
      const gone = streamReconnectGraceMs > 0 && entry.transport.hadStandaloneStream;
      let ms = sessionIdleMs;
      if (gone) ms = sessionIdleMs === 0 ? streamReconnectGraceMs : Math.min(streamReconnectGraceMs, sessionIdleMs);
      if (ms === 0) return;
      entry.expiry = this.options.clock.setTimeout(() => {
        entry.expiry = null;
        if (entry.active === 0 && this.#sessions.get(sessionId) === entry) {
          this.host.end(sessionId, gone ? 'disconnected' : 'expired');
        }
      }, ms);
    });
  }

  #forget(sessionId: string, entry: Entry): void {
    if (this.#sessions.get(sessionId) !== entry) return;
    this.#sessions.delete(sessionId);
    if (entry.expiry !== null) this.options.clock.clearTimeout(entry.expiry);
  }

  close(): void {
    for (const entry of this.#sessions.values()) {
      if (entry.expiry !== null) this.options.clock.clearTimeout(entry.expiry);
    }
  }
}
