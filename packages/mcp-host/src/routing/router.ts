import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/sdk/types.js';
import { JSONRPC, SessionClosedError, toJsonRpcError } from '../errors.js';
import type { SessionEndReason } from '../events.js';
import { sessionInitResult } from '../protocol/capabilities.js';
import { cancelled, type Json, type Msg } from '../protocol/message.js';
import type { BackendPort } from './backend-port.js';
import type { Pending, RouterCore, RouterFeature } from './feature.js';
import { Cancellation } from './features/cancellation.js';
import { Deadlines } from './features/deadlines.js';
import { Elicitations } from './features/elicitation.js';
import { Filters } from './features/filters.js';
import { Logging } from './features/logging.js';
import { Progress, withBackendToken } from './features/progress.js';
import { ServerRequests } from './features/server-requests.js';
import { SubscriptionRouting } from './features/subscriptions.js';
import { Tasks } from './features/tasks.js';
import type { RouterLink } from './link.js';
import type { Session } from './session.js';

export type { Msg } from '../protocol/message.js';
export type { Pending } from './feature.js';
export type { RouterLink } from './link.js';

/** A session request not sent yet: waiting for a backend to start, or for the serialize gate. */
interface Queued {
  session: Session;
  message: Msg;
  onResponse?: Pending['onResponse'];
}

const LIST_CHANGED = new Set([
  'notifications/tools/list_changed',
  'notifications/prompts/list_changed',
  'notifications/resources/list_changed',
]);

const first = <T>(set: Iterable<T>): T | undefined => set[Symbol.iterator]().next().value;

/**
 * Multiplexes sessions onto one backend at the JSON-RPC message level. Requests get backend ids
 * from one counter (so two sessions' id 1 never collide) and, when they carry a progress token,
 * that same id as their token (features/progress.ts); a response or a progress notification is
 * found by one map lookup.
 *
 * The router's own state is private and written only in this file (one event loop, no locks):
 * `#backend` by attach/detach; `#sessions` by initialize and leave; `#pending` by forward, the
 * backend's answers, drop, detach; the queues and the gate by dispatch, forward, settled, detach
 * and leave; each session's `toBackend` together with `#pending`. Every other feature (logging,
 * subscriptions, tasks, elicitation, server-to-client requests, cancellation, progress, filters,
 * deadlines) is one file in features/ that keeps its own state and plugs in at the RouterFeature
 * points, reaching the router only through RouterCore.
 */
export class Router<B extends BackendPort = BackendPort> implements RouterCore {
  #backend: B | null = null;
  readonly #sessions = new Set<Session>();
  /** Backend id → the session request it stands for. */
  readonly #pending = new Map<number, Pending>();
  /** Requests waiting for a backend to start. */
  #waiting: Queued[] = [];
  /** serialize: requests waiting for another session's requests to end. */
  #gated: Queued[] = [];
  #gateOwner: Session | null = null;
  readonly #serverRequests: ServerRequests;
  /** In hook order: the order leave, detach and replay undo and redo things at the backend. */
  readonly #features: readonly RouterFeature[];

  constructor(readonly link: RouterLink) {
    const tasks = new Tasks(this);
    const elicitations = new Elicitations();
    this.#serverRequests = new ServerRequests(this, tasks, elicitations);
    this.#features = [
      new Deadlines(this),
      new Filters(this),
      new Progress(this),
      new Cancellation(this),
      this.#serverRequests,
      elicitations,
      tasks,
      new SubscriptionRouting(this),
      new Logging(this),
    ];
  }

  get backend(): B | null {
    return this.#backend;
  }

  get sessions(): ReadonlySet<Session> {
    return this.#sessions;
  }

  get gateOwner(): Session | null {
    return this.#gateOwner;
  }

  /** Session requests in flight at the backend. */
  get inFlightCount(): number {
    return this.#pending.size;
  }

  /** Session requests not sent yet (waiting for a backend, or for the serialize gate). */
  get waiting(): number {
    return this.#waiting.length + this.#gated.length;
  }

  /** Server-to-client requests `session` has not answered yet. */
  serverRequestsOpen(session: Session): number {
    return this.#serverRequests.openCount(session);
  }

  pendingAt(backendId: number): Pending | undefined {
    return this.#pending.get(backendId);
  }

  inFlight(session: Session, clientId: RequestId): number | undefined {
    return session.toBackend.get(clientId);
  }

  /** Everything a session sends, after its transport parsed it. */
  fromSession(session: Session, message: Msg): void {
    if (session.closed) return;
    if (typeof message.method === 'string') {
      if (message.id !== undefined) this.#request(session, message);
      else this.#notification(session, message);
    } else if (message.id !== undefined && ('result' in message || 'error' in message)) {
      for (const feature of this.#features) if (feature.response?.(session, message)) return;
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
      if (session.ready || this.#sessions.has(session)) {
        session.fail(id, { code: JSONRPC.invalidRequest, message: 'this session is already initialized' });
        return;
      }
      this.#sessions.add(session);
      this.link.sessionsChanged(this.#sessions.size);
    } else if (!session.ready) {
      session.fail(id, { code: JSONRPC.notInitialized, message: 'send initialize first' });
      return;
    } else if (message.method === 'ping') {
      session.respond(id, {});
      return;
    }
    if (this.#open(session, id)) {
      session.fail(id, {
        code: JSONRPC.invalidRequest,
        message: `request id ${JSON.stringify(id)} is already queued or in flight in this session`,
      });
      return;
    }
    for (const feature of this.#features) {
      const refusal = feature.admit?.(session, message);
      if (refusal) {
        session.fail(id, refusal); // refused here: the backend never sees it
        return;
      }
    }
    this.#dispatch(session, message);
  }

  /**
   * Whether `session` has a request `id` queued (waiting for a backend or for the serialize gate) or in
   * flight. The queues are scanned only while something waits in them: the hot path is one map lookup.
   */
  #open(session: Session, id: RequestId): boolean {
    if (session.toBackend.has(id)) return true;
    if (this.waiting === 0) return false;
    const same = (item: Queued) => item.session === session && item.message.id === id;
    return this.#waiting.some(same) || this.#gated.some(same);
  }

  /** Runs a request now, or queues it until the backend is there. */
  #dispatch(session: Session, message: Msg): void {
    const backend = this.#backend;
    if (!backend) {
      this.#waiting.push({ session, message });
      this.link.ensureBackend();
      return;
    }
    if (message.method === 'initialize') {
      session.becameReady();
      session.respond(message.id as RequestId, sessionInitResult(backend.initResult, session.hello!) as Json);
      this.link.sessionReady(session);
      return;
    }
    for (const feature of this.#features) if (feature.request?.(session, message, backend)) return;
    this.forward(session, message, undefined);
  }

  /** Sends a session request to the backend under a fresh backend id (and that id as its progress token). */
  forward(session: Session, message: Msg, onResponse: Pending['onResponse']): void {
    if (this.link.serialize && this.#gateOwner !== null && this.#gateOwner !== session) {
      this.#gated.push({ session, message, onResponse });
      return;
    }
    const backend = this.#backend as B;
    const id = backend.allocId();
    const { params, clientToken } = withBackendToken(message.params, id);
    const pending: Pending = {
      session,
      method: message.method as string,
      clientId: message.id as RequestId,
      clientToken,
      onResponse,
    };
    this.#pending.set(id, pending);
    session.toBackend.set(message.id as RequestId, id);
    if (this.link.serialize) this.#gateOwner = session;
    backend.write(
      params === undefined
        ? { jsonrpc: '2.0', id, method: message.method }
        : { jsonrpc: '2.0', id, method: message.method, params },
    );
    for (const feature of this.#features) feature.sent?.(id, pending, backend);
  }

  unqueue(session: Session, clientId: RequestId): boolean {
    for (const list of [this.#waiting, this.#gated]) {
      const at = list.findIndex((item) => item.session === session && item.message.id === clientId);
      if (at !== -1) {
        list.splice(at, 1);
        return true;
      }
    }
    return false;
  }

  drop(backendId: number): void {
    this.#pending.delete(backendId);
    for (const feature of this.#features) feature.dropped?.(backendId);
  }

  settled(session: Session, clientId: RequestId): void {
    session.toBackend.delete(clientId);
    if (session.toBackend.size > 0) return;
    if (this.#gateOwner === session) this.#releaseGate();
  }

  #releaseGate(): void {
    this.#gateOwner = null;
    if (this.#gated.length === 0 || !this.#backend) return;
    const next = this.#gated[0]!.session;
    const mine = this.#gated.filter((item) => item.session === next);
    this.#gated = this.#gated.filter((item) => item.session !== next);
    for (const item of mine) this.forward(item.session, item.message, item.onResponse);
  }

  #notification(session: Session, message: Msg): void {
    if (!session.ready || message.method === 'notifications/initialized') return;
    for (const feature of this.#features) if (feature.notification?.(session, message)) return;
    this.#backend?.write(message);
  }

  /** Everything the current backend sends that is not a response to the host itself. */
  fromBackend(backend: BackendPort, message: unknown): void {
    if (backend !== this.#backend) return;
    const m = message as Msg;
    if (typeof m.method === 'string') {
      if (m.id !== undefined && m.method === 'ping') {
        backend.write({ jsonrpc: '2.0', id: m.id, result: {} });
        return;
      }
      for (const feature of this.#features) if (feature.backendMessage?.(backend, m)) return;
      this.#unclaimed(m);
      return;
    }
    if (typeof m.id !== 'number') return;
    const id = m.id;
    const pending = this.#pending.get(id);
    if (!pending) return; // cancelled, timed out, or its session left: the response is dropped
    this.#pending.delete(id);
    pending.onResponse?.(m);
    for (const feature of this.#features) feature.answered?.(id, pending, m);
    m.id = pending.clientId;
    pending.session.send(m as JSONRPCMessage);
    this.settled(pending.session, pending.clientId);
  }

  /** A backend notification no feature routes: list changes to everyone, anything else only to a lone session. */
  #unclaimed(message: Msg): void {
    const method = message.method as string;
    const out = message as JSONRPCMessage;
    if (LIST_CHANGED.has(method)) {
      for (const session of this.#sessions) if (session.ready) session.send(out);
      return;
    }
    // A notification the host cannot attribute: delivered only when there is one session to deliver it to.
    if (this.#sessions.size === 1) {
      const only = first(this.#sessions)!;
      if (only.ready) only.send(out);
      return;
    }
    this.link.routingError({
      sessionId: null,
      direction: 'to-session',
      reason: 'unroutable',
      method,
      detail: `${this.#sessions.size} sessions share this server and ${method} names none of them`,
    });
  }

  /**
   * A (re)started backend: answer what waited for it (initialize first, so a session is ready before
   * the backend's early messages reach it), then replay what the sessions had set up.
   */
  attach(backend: B, restart: boolean): void {
    this.#backend = backend;
    if (restart) for (const feature of this.#features) feature.replay?.(backend);
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const { session, message } of waiting) if (!session.closed) this.#dispatch(session, message);
    backend.attach((message) => this.fromBackend(backend, message));
    if (restart) {
      // The new process may list other tools, prompts or resources: let every session look again.
      const caps = backend.capabilities as Record<string, { listChanged?: boolean } | undefined>;
      for (const kind of ['tools', 'prompts', 'resources']) {
        if (!caps[kind]?.listChanged) continue;
        const note = { jsonrpc: '2.0', method: `notifications/${kind}/list_changed` } as JSONRPCMessage;
        for (const session of this.#sessions) if (session.ready) session.send(note);
      }
    }
  }

  /** The backend is gone: requests in flight fail at once; requests not sent yet wait for the next start. */
  detach(backend: BackendPort, error: Error): void {
    if (this.#backend !== backend) return;
    this.#backend = null;
    const rpc = toJsonRpcError(error);
    for (const pending of this.#pending.values()) {
      pending.session.toBackend.delete(pending.clientId);
      pending.session.fail(pending.clientId, rpc);
    }
    this.#pending.clear();
    this.#gateOwner = null;
    for (const feature of this.#features) feature.detach?.(backend);
    this.#waiting = [...this.#gated.map(({ session, message }) => ({ session, message })), ...this.#waiting];
    this.#gated = [];
    if (this.#waiting.length > 0) this.link.ensureBackend();
  }

  /** The backend could not be started: what waited for it fails with that error (naming the server and its stderr). */
  startFailed(error: Error): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    const rpc = toJsonRpcError(error);
    for (const { session, message } of waiting) {
      if (message.id === undefined) continue;
      session.fail(message.id, rpc);
      if (message.method === 'initialize') this.link.initFailed(session);
    }
  }

  /**
   * A session ends (`reason`): each of its requests, queued or in flight, is answered with a
   * SessionClosedError while the session can still receive it (its client need not wait for its own
   * timeout), and those in flight are cancelled at the backend; then each feature lets go of it.
   */
  leave(session: Session, reason: SessionEndReason): void {
    if (!this.#sessions.delete(session)) return;
    const rpc = toJsonRpcError(new SessionClosedError(this.link.server, session.id, reason));
    const answer = (item: Queued) => {
      if (item.session !== session) return true;
      if (item.message.id !== undefined) session.fail(item.message.id, rpc);
      return false;
    };
    this.#waiting = this.#waiting.filter(answer);
    this.#gated = this.#gated.filter(answer);
    const backend = this.#backend;
    for (const [clientId, id] of session.toBackend) {
      this.drop(id);
      backend?.write(cancelled(id, { reason: `session ${reason}` }));
      session.fail(clientId, rpc);
    }
    session.toBackend.clear();
    if (this.#gateOwner === session) this.#releaseGate();
    for (const feature of this.#features) feature.leave?.(session, reason, backend);
    this.link.sessionsChanged(this.#sessions.size);
  }
}
