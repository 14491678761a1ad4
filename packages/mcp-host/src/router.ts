import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/sdk/types.js';
import type { Backend, BackendMessage } from './backend.js';
import { LOG_LEVELS, levelRank, sessionInitResult } from './capabilities.js';
import { JSONRPC, toJsonRpcError } from './errors.js';
import type { McpHostEvents } from './events.js';
import { routeServerNotification, routeServerRequest } from './server-messages.js';
import type { Session } from './session.js';
import { aggregateLevel, Subscriptions } from './shared-state.js';

export type Msg = {
  jsonrpc: '2.0';
  id?: RequestId;
  method?: string;
  params?: Record<string, any>;
  result?: unknown;
  error?: unknown;
};

interface Pending {
  session: Session;
  clientId: RequestId;
  clientToken: string | number | undefined;
  onResponse: ((message: Msg) => void) | undefined;
}

/** What a router needs from the slot that owns its backend's lifecycle. */
export interface RouterLink {
  readonly server: string;
  readonly perSession: boolean;
  readonly serialize: boolean;
  ensureBackend(): void;
  routingError(event: Omit<McpHostEvents['routingError'], 'server'>): void;
  sessionReady(session: Session): void;
  sessionsChanged(count: number): void;
}

const object = (value: unknown): Record<string, any> | undefined =>
  value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, any>) : undefined;

/**
 * Multiplexes sessions onto one backend at the JSON-RPC message level. Requests get backend ids
 * from one counter (so two sessions' id 1 never collide) and, when they carry a progress token,
 * that same id as their token; a response or progress notification is found by one map lookup.
 */
export class Router {
  backend: Backend | null = null;
  readonly sessions = new Set<Session>();
  /** Backend id → the session request it stands for. */
  readonly pending = new Map<number, Pending>();
  /** Sessions with at least one request in flight: the candidates for a server-to-client request. */
  readonly busy = new Set<Session>();
  /** Backend's server-to-client request id → the session (and the id it sees) that must answer. */
  readonly outgoing = new Map<RequestId, { session: Session; sid: number }>();
  /** URL-mode elicitation id → its session, for `notifications/elicitation/complete`. */
  readonly elicitations = new Map<string, Session>();
  readonly subscriptions = new Subscriptions();
  /** The log level the backend was set to (rank), if any. */
  level: number | undefined;
  #waiting: Array<{ session: Session; message: Msg }> = [];
  #gated: Array<{ session: Session; message: Msg; onResponse: Pending['onResponse'] }> = [];
  #gateOwner: Session | null = null;

  constructor(readonly link: RouterLink) {}

  get waiting(): number {
    return this.#waiting.length + this.#gated.length;
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
    if (session.toBackend.has(id)) {
      session.fail(id, { code: -32600, message: `request id ${JSON.stringify(id)} is already in flight` });
      return;
    }
    this.#dispatch(session, message);
  }

  #dispatch(session: Session, message: Msg): void {
    if (!this.backend) {
      this.#waiting.push({ session, message });
      this.link.ensureBackend();
      return;
    }
    this.#handle(session, message);
  }

  #handle(session: Session, message: Msg): void {
    const backend = this.backend as Backend;
    const id = message.id as RequestId;
    switch (message.method) {
      case 'initialize': {
        session.ready = true;
        session.respond(
          id,
          sessionInitResult(backend.initResult, session.hello!) as unknown as Record<string, unknown>,
        );
        this.link.sessionReady(session);
        return;
      }
      case 'logging/setLevel': {
        const rank = levelRank(object(message.params)?.level);
        if (rank === undefined) {
          session.fail(id, {
            code: JSONRPC.invalidParams,
            message: `unknown log level; one of ${LOG_LEVELS.join(', ')}`,
          });
          return;
        }
        if (!backend.capabilities.logging) return this.#forward(session, message, undefined);
        session.level = rank;
        const target = aggregateLevel(this.sessions, this.level);
        if (target === undefined || target === this.level) return session.respond(id, {});
        this.level = target;
        return this.#forward(
          session,
          { ...message, params: { ...message.params, level: LOG_LEVELS[target] } },
          undefined,
        );
      }
      case 'resources/subscribe':
      case 'resources/unsubscribe': {
        const uri = object(message.params)?.uri;
        if (typeof uri !== 'string') {
          session.fail(id, { code: JSONRPC.invalidParams, message: 'params.uri must be a string' });
          return;
        }
        if (message.method === 'resources/subscribe') {
          if (!this.subscriptions.add(session, uri)) return session.respond(id, {});
          return this.#forward(session, message, (response) => {
            if ('error' in response) this.subscriptions.remove(session, uri);
          });
        }
        if (!this.subscriptions.remove(session, uri)) return session.respond(id, {});
        return this.#forward(session, message, undefined);
      }
      default:
        this.#forward(session, message, undefined);
    }
  }

  #forward(session: Session, message: Msg, onResponse: Pending['onResponse']): void {
    if (this.link.serialize && this.#gateOwner !== null && this.#gateOwner !== session) {
      this.#gated.push({ session, message, onResponse });
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
    this.pending.set(id, { session, clientId: message.id as RequestId, clientToken, onResponse });
    session.toBackend.set(message.id as RequestId, id);
    if (session.toBackend.size === 1) this.busy.add(session);
    if (this.link.serialize) this.#gateOwner = session;
    backend.write(
      params === undefined
        ? { jsonrpc: '2.0', id, method: message.method }
        : { jsonrpc: '2.0', id, method: message.method, params },
    );
  }

  /** A session request is over (answered, cancelled, failed): it no longer makes the session a candidate. */
  #settled(session: Session, clientId: RequestId): void {
    session.toBackend.delete(clientId);
    if (session.toBackend.size > 0) return;
    this.busy.delete(session);
    if (this.#gateOwner === session) this.#releaseGate();
  }

  #releaseGate(): void {
    this.#gateOwner = null;
    if (this.#gated.length === 0 || !this.backend) return;
    const next = this.#gated[0]!.session;
    const mine = this.#gated.filter((item) => item.session === next);
    this.#gated = this.#gated.filter((item) => item.session !== next);
    for (const item of mine) this.#forward(item.session, item.message, item.onResponse);
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
        const queued = (list: Array<{ session: Session; message: Msg }>) =>
          list.findIndex((item) => item.session === session && item.message.id === requestId);
        for (const list of [this.#waiting, this.#gated]) {
          const at = queued(list);
          if (at !== -1) {
            list.splice(at, 1);
            return;
          }
        }
        const id = session.toBackend.get(requestId);
        if (id === undefined) return;
        this.pending.delete(id);
        this.#settled(session, requestId);
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
        if (this.backend) this.backend.write(message);
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
    if (!pending) return; // cancelled, or its session left: the response is dropped
    this.pending.delete(m.id);
    pending.onResponse?.(m);
    m.id = pending.clientId;
    pending.session.send(m as JSONRPCMessage);
    this.#settled(pending.session, pending.clientId);
  }

  /** A (re)started backend: replay what the sessions set up, then run what waited for it. */
  attach(backend: Backend, restart: boolean): void {
    this.backend = backend;
    backend.attach((message) => this.fromBackend(backend, message));
    if (restart) {
      for (const uri of this.subscriptions.uris()) void backend.request('resources/subscribe', { uri });
      if (this.level !== undefined && backend.capabilities.logging) {
        void backend.request('logging/setLevel', { level: LOG_LEVELS[this.level] });
      }
      const caps = backend.capabilities as Record<string, { listChanged?: boolean } | undefined>;
      for (const kind of ['tools', 'prompts', 'resources']) {
        if (!caps[kind]?.listChanged) continue;
        const note = { jsonrpc: '2.0', method: `notifications/${kind}/list_changed` } as JSONRPCMessage;
        for (const session of this.sessions) if (session.ready) session.send(note);
      }
    }
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const { session, message } of waiting) {
      if (session.closed) continue;
      if (message.id === undefined) this.#sessionNotification(session, message);
      else this.#dispatch(session, message);
    }
  }

  /** The backend is gone: requests in flight fail at once; what was queued waits for the next start. */
  detach(backend: Backend, error: Error): void {
    if (this.backend !== backend) return;
    this.backend = null;
    const rpc = toJsonRpcError(error);
    for (const pending of this.pending.values()) {
      pending.session.toBackend.delete(pending.clientId);
      pending.session.fail(pending.clientId, rpc);
    }
    this.pending.clear();
    this.busy.clear();
    this.#gateOwner = null;
    for (const { session, sid } of this.outgoing.values()) {
      const open = session.serverRequests.get(sid);
      session.serverRequests.delete(sid);
      if (open?.progressToken !== undefined) session.serverTokens.delete(open.progressToken);
      session.send({
        jsonrpc: '2.0',
        method: 'notifications/cancelled',
        params: { requestId: sid, reason: 'the MCP server exited' },
      } as JSONRPCMessage);
    }
    this.outgoing.clear();
    this.elicitations.clear();
    this.#waiting = [...this.#gated.map(({ session, message }) => ({ session, message })), ...this.#waiting];
    this.#gated = [];
    if (this.#waiting.length > 0) this.link.ensureBackend();
  }

  /** The backend could not be started: what waited for it fails with that error (naming the server and its stderr). */
  startFailed(error: Error): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    const rpc = toJsonRpcError(error);
    for (const { session, message } of waiting) if (message.id !== undefined) session.fail(message.id, rpc);
  }

  /** A session ends: its requests are cancelled at the backend, its server-to-client requests answered with an error. */
  leave(session: Session): void {
    if (!this.sessions.delete(session)) return;
    this.#waiting = this.#waiting.filter((item) => item.session !== session);
    this.#gated = this.#gated.filter((item) => item.session !== session);
    const backend = this.backend;
    for (const id of session.toBackend.values()) {
      this.pending.delete(id);
      backend?.write({
        jsonrpc: '2.0',
        method: 'notifications/cancelled',
        params: { requestId: id, reason: 'session closed' },
      });
    }
    session.toBackend.clear();
    this.busy.delete(session);
    if (this.#gateOwner === session) this.#releaseGate();
    for (const open of session.serverRequests.values()) {
      this.outgoing.delete(open.backendId);
      if (open.backend === backend && backend.alive) {
        backend.write({
          jsonrpc: '2.0',
          id: open.backendId,
          error: { code: JSONRPC.internal, message: 'the session this request was routed to has closed' },
        });
      }
    }
    session.serverRequests.clear();
    session.serverTokens.clear();
    for (const [key, owner] of this.elicitations) if (owner === session) this.elicitations.delete(key);
    const last = this.subscriptions.drop(session);
    if (backend?.alive) {
      for (const uri of last) void backend.request('resources/unsubscribe', { uri });
      const target = this.sessions.size > 0 ? aggregateLevel(this.sessions, this.level) : this.level;
      if (target !== undefined && target !== this.level) {
        this.level = target;
        void backend.request('logging/setLevel', { level: LOG_LEVELS[target] });
      }
    }
    this.link.sessionsChanged(this.sessions.size);
  }
}
