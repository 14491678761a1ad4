import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/sdk/types.js';
import type { ClientHello } from '../protocol/capabilities.js';

/**
 * The server side of one client connection, by shape: the SDK's transports (Streamable HTTP,
 * stdio, in-memory) fit it. Declared here so the package's types do not pull in the SDK's.
 */
export interface SessionTransport {
  sessionId?: string | undefined;
  start(): Promise<void>;
  send(message: object, options?: { relatedRequestId?: string | number }): Promise<void>;
  close(): Promise<void>;
  onmessage?(message: object, extra?: unknown): void;
  onclose?(): void;
  onerror?(error: Error): void;
}

/**
 * One client session: an SDK transport (Streamable HTTP, or any other) plus the routing state the
 * router keeps for it. All maps are keyed by what arrives on the wire, so every lookup is O(1).
 */
export class Session {
  hello: ClientHello | null = null;
  /** Set once the session's `initialize` was answered with a result. */
  ready = false;
  closed = false;
  /** Client request id → backend id, for every request of this session in flight to the backend. */
  readonly toBackend = new Map<RequestId, number>();
  /** Rank in LOG_LEVELS of the level this session set; undefined: it never did (it gets every message). */
  level: number | undefined;
  /** When the session last sent a message or was answered (`now()`): the longest idle is evicted first. */
  lastActive: number;

  constructor(
    readonly id: string,
    readonly server: string,
    readonly transport: SessionTransport,
    private readonly onSendError: (session: Session, error: Error, message: JSONRPCMessage) => void,
    private readonly now: () => number = Date.now,
  ) {
    this.lastActive = now();
  }

  /** The session did something (a message from it arrived). */
  touch(): void {
    this.lastActive = this.now();
  }

  get inFlight(): number {
    return this.toBackend.size;
  }

  /** The oldest request of this session still in flight: server-to-client requests go out on its stream. */
  anyRequestInFlight(): RequestId | undefined {
    return this.toBackend.keys().next().value;
  }

  send(message: JSONRPCMessage, relatedRequestId?: RequestId): void {
    if (this.closed) return;
    if ('result' in message || 'error' in message) this.lastActive = this.now(); // answered: idle from now
    let sent: Promise<void>;
    try {
      sent = this.transport.send(message, relatedRequestId === undefined ? undefined : { relatedRequestId });
    } catch (error) {
      this.onSendError(this, error as Error, message);
      return;
    }
    sent.catch((error: Error) => this.onSendError(this, error, message));
  }

  respond(id: RequestId, result: Record<string, unknown>): void {
    this.send({ jsonrpc: '2.0', id, result } as JSONRPCMessage);
  }

  fail(id: RequestId, error: { code: number; message: string; data?: unknown }): void {
    this.send({ jsonrpc: '2.0', id, error } as JSONRPCMessage);
  }

  /** Ends the SSE stream of a request that will get no response (it was cancelled), where the transport can. */
  endStream(requestId: RequestId): void {
    const transport = this.transport as SessionTransport & { closeSSEStream?: (id: RequestId) => void };
    try {
      transport.closeSSEStream?.(requestId);
    } catch {}
  }
}
