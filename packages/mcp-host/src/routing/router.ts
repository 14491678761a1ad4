import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/sdk/types.js';
import type { Backend, BackendMessage } from '../backend/backend.js';
import type { Clock } from '../clock.js';
import { JSONRPC, RequestTimeoutError, toJsonRpcError } from '../errors.js';
import type { McpHostEvents, SessionEndReason } from '../events.js';
import { sessionInitResult } from '../protocol/capabilities.js';
import { type Json, type Msg, object } from '../protocol/message.js';
import { RequestDeadlines } from './request-deadlines.js';
import { attachBackend, detachBackend, failWaiting, leaveRouter } from './router-lifecycle.js';
import { filteredTarget, listFilter, type ServerFilters } from './server-filters.js';
import { routeServerNotification, routeServerRequest } from './server-messages.js';
import type { Session } from './session.js';
import { handleSetLevel, handleSubscription, handleTaskRequest } from './session-requests.js';
import { Subscriptions } from './shared-state.js';

export type { Msg } from '../protocol/message.js';

export interface Pending {
  session: Session;
  method: string;
  clientId: RequestId;
  clientToken: string | number | undefined;
  onResponse: ((message: Msg) => void) | undefined;
}

export interface Queued {
  session: Session;
  message: Msg;
  onResponse?: Pending['onResponse'];
}

/** What a router needs from the slot that owns its backend's lifecycle. */
export interface RouterLink {
  readonly server: string;
  readonly perSession: boolean;
  readonly serialize: boolean;
  ensureBackend(): void;
  routingError(event: Omit<McpHostEvents['routingError'], 'server'>): void;
  sessionReady(session: Session): void;
  /** A session's initialize could not be answered with a result (its backend did not start). */
  initFailed(session: Session): void;
  sessionsChanged(count: number): void;
  /** Tools, prompts and resources sessions may not see or use (read at each request). */
  readonly filters: ServerFilters;
  /** 0 = none (read at each request). */
  readonly requestTimeoutMs: number;
  readonly clock: Clock;
  /**
   * A session request got no answer within requestTimeoutMs (its session was answered with a
   * RequestTimeoutError, the backend told to cancel it). `inARow`: timeouts since the backend last
   * answered anything, the count a rule that restarts an unresponsive backend reads.
   */
  requestTimedOut(report: { sessionId: string; method: string; timeoutMs: number; inARow: number }): void;
}

/**
 * Multiplexes sessions onto one backend at the JSON-RPC message level. Requests get backend ids
 * from one counter (so two sessions' id 1 never collide) and, when they carry a progress token,
 * that same id as their token; a response or a progress notification is found by one map lookup.
 * Fields are internal state shared with router-lifecycle, server-messages and session-requests.
 */
export class Router {
  backend: Backend | null = null;
  readonly sessions = new Set<Session>();
  /** Backend id → the session request it stands for. */
  readonly pending = new Map<number, Pending>();
  /** Backend's server-to-client request id → the session (and the id it sees) that must answer. */
  readonly outgoing = new Map<RequestId, { session: Session; sid: number }>();
  /** URL-mode elicitation id → its session, for `notifications/elicitation/complete`. */
  readonly elicitations = new Map<string, Session>();
  /** Task id (from a task-augmented request's result) → the session that created it. */
  readonly tasks = new Map<string, Session>();
  readonly subscriptions = new Subscriptions();
  /** The log level (rank) the backend was set to, if any. */
  level: number | undefined;
  /** Requests waiting for a backend to start. */
  waitingQueue: Queued[] = [];
  /** serialize: requests waiting for another session's requests to end. */
  gated: Queued[] = [];
  gateOwner: Session | null = null;
  /** requestTimeoutMs of the requests in `pending`. */
  readonly deadlines: RequestDeadlines;

  constructor(readonly link: RouterLink) {
    this.deadlines = new RequestDeadlines(link);
  }

  get waiting(): number {
    return this.waitingQueue.length + this.gated.length;
  }

  /** Everything a session sends, after its transport parsed it. */
  fromSession(session: Session, message: Msg): void {
    if (session.closed) return;
    if (typeof message.method === 'string') {
      if (message.id !== undefined) this.#request(session, message);
      else this.#sessionNotification(session, message);
    } else if (message.id !== undefined && ('result' in message || 'error' in message)) {
      this.#sessionResponse(session, message);
    } else {
      this.link.routingError({
        sessionId: session.id,
        direction: 'to-backend',
        reason: 'invalid',
        method: null,
        detail: 'not a JSON-RPC request, notification or response',
      });
    }
  }

  #request(session: Session, message: Msg): void {
    const id = message.id as RequestId;
    if (message.method === 'initialize') {
      if (session.ready || this.sessions.has(session)) {
        session.fail(id, { code: -32600, message: 'this session is already initialized' });
        return;
      }
      this.sessions.add(session);
      this.link.sessionsChanged(this.sessions.size);
    } else if (!session.ready) {
      session.fail(id, { code: JSONRPC.notInitialized, message: 'send initialize first' });
      return;
    } else if (message.method === 'ping') {
      session.respond(id, {});
      return;
    }
    if (this.#open(session, id)) {
      session.fail(id, {
        code: -32600,
        message: `request id ${JSON.stringify(id)} is already queued or in flight in this session`,
      });
      return;
    }
    const filtered = filteredTarget(this.link.server, this.link.filters, message);
    if (filtered) {
      session.fail(id, toJsonRpcError(filtered)); // refused here: the backend never sees it
      return;
    }
    this.dispatch(session, message);
  }

  /**
   * Whether `session` has a request `id` queued (waiting for a backend or for the serialize gate) or in
   * flight. The queues are scanned only while something waits in them: the hot path is one map lookup.
   */
  #open(session: Session, id: RequestId): boolean {
    if (session.toBackend.has(id)) return true;
    if (this.waiting === 0) return false;
    const same = (item: Queued) => item.session === session && item.message.id === id;
    return this.waitingQueue.some(same) || this.gated.some(same);
  }

  /** Runs a request now, or queues it until the backend is there. */
  dispatch(session: Session, message: Msg): void {
    const backend = this.backend;
    if (!backend) {
      this.waitingQueue.push({ session, message });
      this.link.ensureBackend();
      return;
    }
    switch (message.method) {
      case 'initialize':
        session.ready = true;
        session.respond(message.id as RequestId, sessionInitResult(backend.initResult, session.hello!) as Json);
        this.link.sessionReady(session);
        return;
      case 'logging/setLevel':
        handleSetLevel(this, backend, session, message);
        return;
      case 'resources/subscribe':
      case 'resources/unsubscribe':
        handleSubscription(this, session, message);
        return;
      case 'tasks/get':
      case 'tasks/result':
      case 'tasks/cancel':
      case 'tasks/list':
        handleTaskRequest(this, session, message);
        return;
      default:
        this.forward(session, message, listFilter(this.link.filters, message.method as string));
    }
  }

  /** Sends a session request to the backend under a fresh backend id (and that id as its progress token). */
  forward(session: Session, message: Msg, onResponse: Pending['onResponse']): void {
    if (this.link.serialize && this.gateOwner !== null && this.gateOwner !== session) {
      this.gated.push({ session, message, onResponse });
      return;
    }
    const backend = this.backend as Backend;
    const id = backend.allocId();
    let params = message.params;
    let clientToken: string | number | undefined;
    const meta = object(params?._meta);
    if (meta && meta.progressToken !== undefined) {
      clientToken = meta.progressToken;
      params = { ...params, _meta: { ...meta, progressToken: id } };
    }
    const pending: Pending = {
      session,
      method: message.method as string,
      clientId: message.id as RequestId,
      clientToken,
      onResponse,
    };
    this.pending.set(id, pending);
    session.toBackend.set(message.id as RequestId, id);
    if (this.link.serialize) this.gateOwner = session;
    backend.write(
      params === undefined
        ? { jsonrpc: '2.0', id, method: message.method }
        : { jsonrpc: '2.0', id, method: message.method, params },
    );
    this.deadlines.arm(id, (timeoutMs) => this.#timedOut(backend, id, pending, timeoutMs));
  }

  /** A request that will get no response through the router any more (cancelled, its session left). */
  dropPending(id: number): void {
    this.pending.delete(id);
    this.deadlines.drop(id);
  }

  /**
   * No answer within requestTimeoutMs: the session gets a RequestTimeoutError, the backend a
   * cancellation (a late answer is dropped), and the link a report (its hook for an unresponsive backend).
   */
  #timedOut(backend: Backend, id: number, pending: Pending, timeoutMs: number): void {
    if (this.backend !== backend || this.pending.get(id) !== pending) return;
    this.pending.delete(id);
    const error = new RequestTimeoutError(this.link.server, pending.method, timeoutMs);
    const rpc = toJsonRpcError(error);
    backend.write({
      jsonrpc: '2.0',
      method: 'notifications/cancelled',
      params: { requestId: id, reason: error.message },
    });
    pending.onResponse?.({ jsonrpc: '2.0', id, error: rpc }); // undoes what the request set up (a subscription count)
    pending.session.fail(pending.clientId, rpc);
    this.settled(pending.session, pending.clientId);
    this.link.requestTimedOut({
      sessionId: pending.session.id,
      method: pending.method,
      timeoutMs,
      inARow: this.deadlines.inARow,
    });
  }

  /** A session request is over (answered, cancelled, failed). */
  settled(session: Session, clientId: RequestId): void {
    session.toBackend.delete(clientId);
    if (session.toBackend.size > 0) return;
    if (this.gateOwner === session) this.releaseGate();
  }

  releaseGate(): void {
    this.gateOwner = null;
    if (this.gated.length === 0 || !this.backend) return;
    const next = this.gated[0]!.session;
    const mine = this.gated.filter((item) => item.session === next);
    this.gated = this.gated.filter((item) => item.session !== next);
    for (const item of mine) this.forward(item.session, item.message, item.onResponse);
  }

  #sessionNotification(session: Session, message: Msg): void {
    if (!session.ready) return;
    const params = object(message.params);
    switch (message.method) {
      case 'notifications/initialized':
        return;
      case 'notifications/cancelled': {
        const requestId = params?.requestId as RequestId | undefined;
        if (requestId === undefined) return;
        for (const list of [this.waitingQueue, this.gated]) {
          const at = list.findIndex((item) => item.session === session && item.message.id === requestId);
          if (at !== -1) {
            list.splice(at, 1);
            return;
          }
        }
        const id = session.toBackend.get(requestId);
        if (id === undefined) return;
        this.dropPending(id);
        this.settled(session, requestId);
        this.backend?.write({
          jsonrpc: '2.0',
          method: 'notifications/cancelled',
          params: { ...params, requestId: id },
        });
        session.endStream(requestId);
        return;
      }
      case 'notifications/progress':
        // Progress a session reports on a server-to-client request: the token is the backend's own.
        if (params && session.serverTokens.has(params.progressToken)) this.backend?.write(message);
        return;
      default:
        this.backend?.write(message);
    }
  }

  #sessionResponse(session: Session, message: Msg): void {
    const open = typeof message.id === 'number' ? session.serverRequests.get(message.id) : undefined;
    if (!open) {
      this.link.routingError({
        sessionId: session.id,
        direction: 'to-backend',
        reason: 'unknown-id',
        method: null,
        detail: `response for id ${JSON.stringify(message.id)}, which this session was never asked`,
      });
      return;
    }
    session.serverRequests.delete(message.id as number);
    if (open.progressToken !== undefined) session.serverTokens.delete(open.progressToken);
    this.outgoing.delete(open.backendId);
    if (open.backend !== this.backend || !open.backend.alive) return; // asked by a backend that has exited since
    message.id = open.backendId;
    open.backend.write(message);
  }

  /** Everything the current backend sends that is not a response to the host itself. */
  fromBackend(backend: Backend, message: BackendMessage): void {
    if (backend !== this.backend) return;
    const m = message as unknown as Msg;
    if (typeof m.method === 'string') {
      if (m.id !== undefined) routeServerRequest(this, backend, m);
      else routeServerNotification(this, m);
      return;
    }
    if (typeof m.id !== 'number') return;
    const pending = this.pending.get(m.id);
    if (!pending) return; // cancelled, timed out, or its session left: the response is dropped
    this.pending.delete(m.id);
    this.deadlines.answered(m.id);
    pending.onResponse?.(m);
    const taskId = m.result?.task?.taskId;
    if (typeof taskId === 'string') this.tasks.set(taskId, pending.session);
    m.id = pending.clientId;
    pending.session.send(m as JSONRPCMessage);
    this.settled(pending.session, pending.clientId);
  }

  attach(backend: Backend, restart: boolean): void {
    attachBackend(this, backend, restart);
  }

  detach(backend: Backend, error: Error): void {
    detachBackend(this, backend, error);
  }

  startFailed(error: Error): void {
    failWaiting(this, error);
  }

  leave(session: Session, reason: SessionEndReason): void {
    leaveRouter(this, session, reason);
  }
}
