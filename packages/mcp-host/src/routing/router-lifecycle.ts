import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { Backend } from '../backend/backend.js';
import { JSONRPC, SessionClosedError, toJsonRpcError } from '../errors.js';
import type { SessionEndReason } from '../events.js';
import { LOG_LEVELS } from '../protocol/capabilities.js';
import type { Queued, Router } from './router.js';
import type { Session } from './session.js';
import { aggregateLevel } from './shared-state.js';

/**
 * A (re)started backend: answer what waited for it (initialize first, so a session is ready before
 * the backend's early messages reach it), then replay what the sessions had set up.
 */
export function attachBackend(router: Router, backend: Backend, restart: boolean): void {
  router.backend = backend;
  if (restart) {
    for (const uri of router.subscriptions.uris()) void backend.request('resources/subscribe', { uri });
    if (router.level !== undefined && backend.capabilities.logging) {
      void backend.request('logging/setLevel', { level: LOG_LEVELS[router.level] });
    }
  }
  const waiting = router.waitingQueue;
  router.waitingQueue = [];
  for (const { session, message } of waiting) if (!session.closed) router.dispatch(session, message);
  backend.attach((message) => router.fromBackend(backend, message));
  if (restart) {
    // The new process may list other tools, prompts or resources: let every session look again.
    const caps = backend.capabilities as Record<string, { listChanged?: boolean } | undefined>;
    for (const kind of ['tools', 'prompts', 'resources']) {
      if (!caps[kind]?.listChanged) continue;
      const note = { jsonrpc: '2.0', method: `notifications/${kind}/list_changed` } as JSONRPCMessage;
      for (const session of router.sessions) if (session.ready) session.send(note);
    }
  }
}

/** The backend is gone: requests in flight fail at once; requests not sent yet wait for the next start. */
export function detachBackend(router: Router, backend: Backend, error: Error): void {
  if (router.backend !== backend) return;
  router.backend = null;
  const rpc = toJsonRpcError(error);
  for (const pending of router.pending.values()) {
    pending.session.toBackend.delete(pending.clientId);
    pending.session.fail(pending.clientId, rpc);
  }
  router.pending.clear();
  router.deadlines.clear();
  router.gateOwner = null;
  for (const { session, sid } of router.outgoing.values()) {
    const open = session.serverRequests.get(sid);
    session.serverRequests.delete(sid);
    if (open?.progressToken !== undefined) session.serverTokens.delete(open.progressToken);
    session.send({
      jsonrpc: '2.0',
      method: 'notifications/cancelled',
      params: { requestId: sid, reason: 'the MCP server exited' },
    } as JSONRPCMessage);
  }
  router.outgoing.clear();
  router.elicitations.clear();
  router.tasks.clear();
  router.waitingQueue = [...router.gated.map(({ session, message }) => ({ session, message })), ...router.waitingQueue];
  router.gated = [];
  if (router.waitingQueue.length > 0) router.link.ensureBackend();
}

/** The backend could not be started: what waited for it fails with that error (naming the server and its stderr). */
export function failWaiting(router: Router, error: Error): void {
  const waiting = router.waitingQueue;
  router.waitingQueue = [];
  const rpc = toJsonRpcError(error);
  for (const { session, message } of waiting) {
    if (message.id === undefined) continue;
    session.fail(message.id, rpc);
    if (message.method === 'initialize') router.link.initFailed(session);
  }
}

/**
 * A session ends (`reason`): each of its requests, queued or in flight, is answered with a
 * SessionClosedError while the session can still receive it (its client need not wait for its own
 * timeout), and those in flight are cancelled at the backend; its server-to-client requests are
 * answered with an error.
 */
export function leaveRouter(router: Router, session: Session, reason: SessionEndReason): void {
  if (!router.sessions.delete(session)) return;
  const rpc = toJsonRpcError(new SessionClosedError(router.link.server, session.id, reason));
  const answer = (item: Queued) => {
    if (item.session !== session) return true;
    if (item.message.id !== undefined) session.fail(item.message.id, rpc);
    return false;
  };
  router.waitingQueue = router.waitingQueue.filter(answer);
  router.gated = router.gated.filter(answer);
  const backend = router.backend;
  for (const [clientId, id] of session.toBackend) {
    router.dropPending(id);
    backend?.write({
      jsonrpc: '2.0',
      method: 'notifications/cancelled',
      params: { requestId: id, reason: `session ${reason}` },
    });
    session.fail(clientId, rpc);
  }
  session.toBackend.clear();
  if (router.gateOwner === session) router.releaseGate();
  for (const open of session.serverRequests.values()) {
    router.outgoing.delete(open.backendId);
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
  for (const [key, owner] of router.elicitations) if (owner === session) router.elicitations.delete(key);
  for (const [key, owner] of router.tasks) if (owner === session) router.tasks.delete(key);
  const last = router.subscriptions.drop(session);
  if (backend?.alive) {
    for (const uri of last) void backend.request('resources/unsubscribe', { uri });
    const target = router.sessions.size > 0 ? aggregateLevel(router.sessions, router.level) : router.level;
    if (target !== undefined && target !== router.level) {
      router.level = target;
      void backend.request('logging/setLevel', { level: LOG_LEVELS[target] });
    }
  }
  router.link.sessionsChanged(router.sessions.size);
}
