import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from './clock.js';
import { HttpSessionTransport, replyError } from './http-transport.js';
import type { SessionTransport } from './session.js';

interface HostLink {
  has(server: string): boolean;
  connect(server: string, transport: SessionTransport, sessionId: string, onClose: () => void): string;
  closed(): boolean;
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

/**
 * Streamable HTTP sessions: one `HttpSessionTransport` per session, found by its `Mcp-Session-Id`. A session with no open request or stream for `sessionIdleMs` is closed.
 */
export class HttpSessions {
  readonly #sessions = new Map<string, Entry>();

  constructor(
    private readonly host: HostLink,
    private readonly maxBodyBytes: number,
    private readonly sessionIdleMs: number,
    private readonly clock: Clock,
  ) {}

  get size(): number {
    return this.#sessions.size;
  }

  async handle(server: string, req: IncomingMessage, res: ServerResponse, parsedBody?: unknown): Promise<void> {
    if (this.host.closed()) return reply(res, 503, -32000, 'the MCP host is closing');
    if (!this.host.has(server)) return reply(res, 404, -32601, `no MCP server named "${server}" is configured`);
    const header = req.headers['mcp-session-id'];
    if (header !== undefined) {
      const entry = typeof header === 'string' ? this.#sessions.get(header) : undefined;
      if (!entry || entry.server !== server) return reply(res, 404, -32001, 'Session not found');
      this.#track(header as string, entry, res);
      await entry.transport.handleRequest(req, res, parsedBody);
      return;
    }
    if (req.method !== 'POST') {
      return reply(res, 400, -32000, 'Bad Request: no Mcp-Session-Id header; start a session with an initialize POST');
    }
    const transport: HttpSessionTransport = new HttpSessionTransport({
      newSessionId: randomUUID,
      maxBodyBytes: this.maxBodyBytes,
      onSessionInitialized: (sessionId) => {
        const entry: Entry = { server, transport, active: 0, expiry: null };
        this.#sessions.set(sessionId, entry);
        this.#track(sessionId, entry, res);
        try {
          this.host.connect(server, transport, sessionId, () => this.#forget(sessionId, entry));
        } catch {
          // The server was removed, or the host is closing, while the body was read: the transport
          // answers 404 now that it is closed.
          this.#forget(sessionId, entry);
          void transport.close();
        }
      },
    });
    await transport.handleRequest(req, res, parsedBody);
    // Anything but an initialize (or one refused by the transport) made no session: nothing to keep.
    if (transport.sessionId === undefined) await transport.close().catch(() => {});
  }

  #track(sessionId: string, entry: Entry, res: ServerResponse): void {
    entry.active++;
    if (entry.expiry !== null) {
      this.clock.clearTimeout(entry.expiry);
      entry.expiry = null;
    }
    res.once('close', () => {
      entry.active--;
      if (entry.active === 0 && this.sessionIdleMs > 0 && this.#sessions.get(sessionId) === entry) {
        entry.expiry = this.clock.setTimeout(() => {
          entry.expiry = null;
          if (entry.active === 0 && this.#sessions.get(sessionId) === entry) void entry.transport.close();
        }, this.sessionIdleMs);
      }
    });
  }

  #forget(sessionId: string, entry: Entry): void {
    if (this.#sessions.get(sessionId) !== entry) return;
    this.#sessions.delete(sessionId);
    if (entry.expiry !== null) this.clock.clearTimeout(entry.expiry);
  }

  close(): void {
    for (const entry of this.#sessions.values()) {
      if (entry.expiry !== null) this.clock.clearTimeout(entry.expiry);
    }
  }
}
