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
/**
 * Where a session is in its life. `new`: no initialize seen; `initializing`: its initialize was
 * read (the hello decides its slot) and is on its way to a backend; `ready`: answered with a result;
 * `closed`: final (`wasReady` remembers whether it ever was, for the sessionClosed event).
 */
export type SessionState =
  | { readonly kind: 'new' }
  | { readonly kind: 'initializing'; readonly hello: ClientHello }
  | { readonly kind: 'ready'; readonly hello: ClientHello }
  | { readonly kind: 'closed'; readonly hello: ClientHello | null; readonly wasReady: boolean };

export class Session {
  /** Changed only by the three transitions below. */
  #state: SessionState = { kind: 'new' };
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

  get state(): SessionState {
    return this.#state;
  }

  /** What the session declared in its initialize; null before it sent one. */
  get hello(): ClientHello | null {
    return this.#state.kind === 'new' ? null : this.#state.hello;
  }

  /** Its initialize was answered with a result, and it is not closed. */
  get ready(): boolean {
    return this.#state.kind === 'ready';
  }

  get closed(): boolean {
    return this.#state.kind === 'closed';
  }

  /** Ready now, or ready when it closed. */
  get wasReady(): boolean {
    return this.#state.kind === 'ready' || (this.#state.kind === 'closed' && this.#state.wasReady);
  }

  /** new / initializing → initializing: its initialize was read (a retry after a refused one replaces the hello). */
  initializing(hello: ClientHello): void {
    if (this.#state.kind === 'new' || this.#state.kind === 'initializing')
      this.#state = { kind: 'initializing', hello };
  }

  /** initializing → ready: its initialize was answered with a result. */
  becameReady(): void {
    if (this.#state.kind === 'initializing') this.#state = { kind: 'ready', hello: this.#state.hello };
  }

  /** any → closed (final; nothing is sent to it from now on). */
  close(): void {
    if (this.#state.kind === 'closed') return;
    this.#state = { kind: 'closed', hello: this.hello, wasReady: this.#state.kind === 'ready' };
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
