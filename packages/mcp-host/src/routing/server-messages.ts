import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/sdk/types.js';
import type { Backend } from '../backend/backend.js';
import { JSONRPC } from '../errors.js';
import { canAnswer, levelRank } from '../protocol/capabilities.js';
import { type Msg, object, RELATED_TASK } from '../protocol/message.js';
import type { Router } from './router.js';
import type { Session } from './session.js';

const CAPABILITY: Record<string, string> = {
  'sampling/createMessage': 'sampling',
  'elicitation/create': 'elicitation',
  'roots/list': 'roots',
};

const first = <T>(set: Iterable<T>): T | undefined => set[Symbol.iterator]().next().value;

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
export function ownerOf(router: Router, message: Msg): { owner: Session } | { refused: string } {
  // A request the SDK made for a task names the task on the wire: its creator is the owner.
  const taskId = object(object(message.params?._meta)?.[RELATED_TASK])?.taskId;
  if (typeof taskId === 'string') {
    const owner = router.tasks.get(taskId);
    return owner ? { owner } : { refused: `task ${taskId} belongs to no open session` };
  }
  if (router.link.perSession) {
    const owner = first(router.sessions);
    return owner?.ready ? { owner } : { refused: 'its session has closed' };
  }
  if (router.link.serialize) {
    const owner = router.gateOwner;
    return owner ? { owner } : { refused: 'no session has a request in flight to this server (serialize)' };
  }
  return {
    refused:
      'nothing on the stdio wire says which session caused it, and the host never guesses ' +
      '(set share: "per-session" for this server, or serialize: true if it asks only from inside a request)',
  };
}

export function routeServerRequest(router: Router, backend: Backend, message: Msg): void {
  const method = message.method as string;
  const backendId = message.id as RequestId;
  if (method === 'ping') {
    backend.write({ jsonrpc: '2.0', id: backendId, result: {} });
    return;
  }
  const found = ownerOf(router, message);
  if ('refused' in found) {
    backend.write({
      jsonrpc: '2.0',
      id: backendId,
      error: { code: JSONRPC.internal, message: `MCP host cannot route ${method}: ${found.refused}` },
    });
    router.link.routingError({
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
    router.link.routingError({
      sessionId: owner.id,
      direction: 'to-session',
      reason: 'capability-missing',
      method,
      detail: `session ${owner.id} lacks ${capability}`,
    });
    return;
  }
  const sid = owner.allocServerId();
  const params = message.params;
  const token = params?._meta?.progressToken as string | number | undefined;
  owner.serverRequests.set(sid, { backend, backendId, progressToken: token });
  if (token !== undefined) owner.serverTokens.add(token);
  router.outgoing.set(backendId, { session: owner, sid });
  if (method === 'elicitation/create' && params?.mode === 'url' && typeof params.elicitationId === 'string') {
    router.elicitations.set(params.elicitationId, owner);
  }
  message.id = sid;
  owner.send(message as JSONRPCMessage, owner.anyRequestInFlight());
}

const LIST_CHANGED = new Set([
  'notifications/tools/list_changed',
  'notifications/prompts/list_changed',
  'notifications/resources/list_changed',
]);

export function routeServerNotification(router: Router, message: Msg): void {
  const method = message.method as string;
  const params = message.params;
  const out = message as JSONRPCMessage;
  switch (method) {
    case 'notifications/progress': {
      const token = params?.progressToken;
      const pending = typeof token === 'number' ? router.pending.get(token) : undefined;
      if (!pending || pending.clientToken === undefined) return; // its request is over: progress after it is dropped
      message.params = { ...params, progressToken: pending.clientToken };
      pending.session.send(out, pending.clientId);
      return;
    }
    case 'notifications/cancelled': {
      const target = router.outgoing.get(params?.requestId);
      if (!target) return;
      router.outgoing.delete(params!.requestId);
      const open = target.session.serverRequests.get(target.sid);
      target.session.serverRequests.delete(target.sid);
      if (open?.progressToken !== undefined) target.session.serverTokens.delete(open.progressToken);
      message.params = { ...params, requestId: target.sid };
      target.session.send(out, target.session.anyRequestInFlight());
      return;
    }
    case 'notifications/message': {
      const rank = levelRank(params?.level) ?? 0;
      for (const session of router.sessions) {
        if (session.ready && (session.level === undefined || rank >= session.level)) session.send(out);
      }
      return;
    }
    case 'notifications/resources/updated': {
      const subscribers = typeof params?.uri === 'string' ? router.subscriptions.subscribers(params.uri) : undefined;
      if (subscribers) for (const session of subscribers) session.send(out);
      return;
    }
    case 'notifications/tasks/status': {
      const session = typeof params?.taskId === 'string' ? router.tasks.get(params.taskId) : undefined;
      if (session) session.send(out);
      return;
    }
    case 'notifications/elicitation/complete': {
      const id = params?.elicitationId;
      const session = typeof id === 'string' ? router.elicitations.get(id) : undefined;
      if (!session) return;
      router.elicitations.delete(id);
      session.send(out);
      return;
    }
    default: {
      if (LIST_CHANGED.has(method)) {
        for (const session of router.sessions) if (session.ready) session.send(out);
        return;
      }
      // A notification the host cannot attribute: delivered only when there is one session to deliver it to.
      if (router.sessions.size === 1) {
        const only = first(router.sessions)!;
        if (only.ready) only.send(out);
        return;
      }
      router.link.routingError({
        sessionId: null,
        direction: 'to-session',
        reason: 'unroutable',
        method,
        detail: `${router.sessions.size} sessions share this server and ${method} names none of them`,
      });
    }
  }
}
