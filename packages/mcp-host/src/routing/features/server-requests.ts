import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/sdk/types.js';
import { JSONRPC } from '../../errors.js';
import { canAnswer } from '../../protocol/capabilities.js';
import { cancelled, type Msg, object, RELATED_TASK } from '../../protocol/message.js';
import type { BackendPort } from '../backend-port.js';
import type { RouterCore, RouterFeature } from '../feature.js';
import type { Session } from '../session.js';
import type { Elicitations } from './elicitation.js';
import type { Tasks } from './tasks.js';

const CAPABILITY: Record<string, string> = {
  'sampling/createMessage': 'sampling',
  'elicitation/create': 'elicitation',
  'roots/list': 'roots',
};

/** A server-to-client request the session has not answered yet. */
interface OpenRequest {
  readonly backend: BackendPort;
  readonly backendId: RequestId;
  readonly progressToken: string | number | undefined;
}

/** One session's server-to-client requests, by the id the session sees. */
interface SessionSide {
  next: number;
  readonly open: Map<number, OpenRequest>;
  /** Progress tokens of those requests (the backend's own tokens: the session reports progress on them). */
  readonly tokens: Set<string | number>;
}

const first = <T>(set: Iterable<T>): T | undefined => set[Symbol.iterator]().next().value;

/**
 * Server-to-client requests (`sampling/createMessage`, `elicitation/create`, `roots/list`...): to
 * the one session that provably caused them, under an id of that session's; its answer back under
 * the backend's id; a cancellation from either side translated; what is open when the backend
 * exits is cancelled at the session, and what is open when the session leaves is answered with an
 * error at the backend.
 */
export class ServerRequests implements RouterFeature {
  /** The backend's request id → the session (and the id it sees) that must answer. */
  readonly #outgoing = new Map<RequestId, { session: Session; sid: number }>();
  readonly #sessions = new Map<Session, SessionSide>();

  constructor(
    private readonly core: RouterCore,
    private readonly tasks: Tasks,
    private readonly elicitations: Elicitations,
  ) {}

  /** Server-to-client requests `session` has not answered yet. */
  openCount(session: Session): number {
    return this.#sessions.get(session)?.open.size ?? 0;
  }

  #side(session: Session): SessionSide {
    let side = this.#sessions.get(session);
    if (!side) {
      side = { next: 1, open: new Map(), tokens: new Set() };
      this.#sessions.set(session, side);
    }
    return side;
  }

  /** The one place an open server-to-client request ends (answered, cancelled by either side, its backend gone). */
  #close(session: Session, sid: number): OpenRequest | undefined {
    const side = this.#sessions.get(session);
    const open = side?.open.get(sid);
    if (!side || !open) return undefined;
    side.open.delete(sid);
    if (open.progressToken !== undefined) side.tokens.delete(open.progressToken);
    this.#outgoing.delete(open.backendId);
    return open;
  }

  /**
   * Who must answer a server-to-client request: only a session that provably caused it. Over stdio the
   * SDK keeps the request that caused it (`relatedRequestId`) inside the server process: nothing on the
   * wire names it, and which sessions happen to have requests in flight proves nothing (a server may ask
   * for a job an earlier request queued, while another session is busy). So:
   * - a request tagged with a task (`_meta["io.modelcontextprotocol/related-task"]`): the session that created the task;
   * - per-session backend: its one session;
   * - `serialize`: the session holding the gate (the operator declared that the server asks only from
   *   inside a request, and only that session's requests are at the backend);
   * - anything else is refused (never broadcast, never guessed). A `_meta.progressToken` on the request
   *   is no proof either: the SDK sets it to the server's own request id, which shares the numbers of
   *   the host's backend ids by chance.
   */
  #ownerOf(message: Msg): { owner: Session } | { refused: string } {
    const { core } = this;
    const taskId = object(object(message.params?._meta)?.[RELATED_TASK])?.taskId;
    if (typeof taskId === 'string') {
      const owner = this.tasks.owner(taskId);
      return owner ? { owner } : { refused: `task ${taskId} belongs to no open session` };
    }
    if (core.link.perSession) {
      const owner = first(core.sessions);
      return owner?.ready ? { owner } : { refused: 'its session has closed' };
    }
    if (core.link.serialize) {
      const owner = core.gateOwner;
      return owner ? { owner } : { refused: 'no session has a request in flight to this server (serialize)' };
    }
    return {
      refused:
        'nothing on the stdio wire says which session caused it, and the host never guesses ' +
        '(set share: "per-session" for this server, or serialize: true if it asks only from inside a request)',
    };
  }

  backendMessage(backend: BackendPort, message: Msg): boolean {
    if (message.id !== undefined) {
      this.#route(backend, message);
      return true;
    }
    if (message.method !== 'notifications/cancelled') return false;
    const params = message.params;
    const target = this.#outgoing.get(params?.requestId);
    if (!target) return true;
    this.#close(target.session, target.sid);
    message.params = { ...params, requestId: target.sid };
    target.session.send(message as JSONRPCMessage, target.session.anyRequestInFlight());
    return true;
  }

  #route(backend: BackendPort, message: Msg): void {
    const method = message.method as string;
    const backendId = message.id as RequestId;
    const { link } = this.core;
    const found = this.#ownerOf(message);
    if ('refused' in found) {
      backend.write({
        jsonrpc: '2.0',
        id: backendId,
        error: { code: JSONRPC.internal, message: `MCP host cannot route ${method}: ${found.refused}` },
      });
      link.routingError({
        sessionId: null,
        direction: 'to-session',
        reason: 'ambiguous',
        method,
        detail: found.refused,
      });
      return;
    }
    const { owner } = found;
    if (!canAnswer(owner.hello!.capabilities, method, message.params)) {
      const capability = CAPABILITY[method] ?? method;
      backend.write({
        jsonrpc: '2.0',
        id: backendId,
        error: {
          code: JSONRPC.methodNotFound,
          message: `the client of this session did not declare the ${capability} capability (mode) ${method} needs`,
        },
      });
      link.routingError({
        sessionId: owner.id,
        direction: 'to-session',
        reason: 'capability-missing',
        method,
        detail: `session ${owner.id} lacks ${capability}`,
      });
      return;
    }
    const side = this.#side(owner);
    const sid = side.next++;
    const params = message.params;
    const token = params?._meta?.progressToken as string | number | undefined;
    side.open.set(sid, { backend, backendId, progressToken: token });
    if (token !== undefined) side.tokens.add(token);
    this.#outgoing.set(backendId, { session: owner, sid });
    this.elicitations.routed(owner, method, params);
    message.id = sid;
    owner.send(message as JSONRPCMessage, owner.anyRequestInFlight());
  }

  /** Progress a session reports on a server-to-client request: the token is the backend's own. */
  notification(session: Session, message: Msg): boolean {
    if (message.method !== 'notifications/progress') return false;
    const params = object(message.params);
    if (params && this.#sessions.get(session)?.tokens.has(params.progressToken)) this.core.backend?.write(message);
    return true;
  }

  response(session: Session, message: Msg): boolean {
    const sid = message.id;
    const open = typeof sid === 'number' ? this.#close(session, sid) : undefined;
    if (!open) {
      this.core.link.routingError({
        sessionId: session.id,
        direction: 'to-backend',
        reason: 'unknown-id',
        method: null,
        detail: `response for id ${JSON.stringify(message.id)}, which this session was never asked`,
      });
      return true;
    }
    if (open.backend !== this.core.backend || !open.backend.alive) return true; // asked by a backend that has exited since
    message.id = open.backendId;
    open.backend.write(message);
    return true;
  }

  detach(): void {
    for (const { session, sid } of [...this.#outgoing.values()]) {
      this.#close(session, sid);
      session.send(cancelled(sid, { reason: 'the MCP server exited' }) as JSONRPCMessage);
    }
    this.#outgoing.clear();
  }

  leave(session: Session, _reason: unknown, backend: BackendPort | null): void {
    const side = this.#sessions.get(session);
    if (!side) return;
    this.#sessions.delete(session);
    for (const open of side.open.values()) {
      this.#outgoing.delete(open.backendId);
      if (open.backend === backend && backend.alive) {
        backend.write({
          jsonrpc: '2.0',
          id: open.backendId,
          error: { code: JSONRPC.internal, message: 'the session this request was routed to has closed' },
        });
      }
    }
  }
}
