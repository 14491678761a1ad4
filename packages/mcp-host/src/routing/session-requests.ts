import type { RequestId } from '@modelcontextprotocol/sdk/types.js';
import type { Backend } from '../backend/backend.js';
import { JSONRPC } from '../errors.js';
import { LOG_LEVELS, levelRank } from '../protocol/capabilities.js';
import { type Msg, object } from '../protocol/message.js';
import type { Router } from './router.js';
import type { Session } from './session.js';
import { aggregateLevel } from './shared-state.js';

/**
 * `logging/setLevel` from one session: it is recorded for that session (its messages are filtered
 * by it); the backend is told only when the most verbose level over all sessions changes.
 */
export function handleSetLevel(router: Router, backend: Backend, session: Session, message: Msg): void {
  const id = message.id as RequestId;
  const rank = levelRank(object(message.params)?.level);
  if (rank === undefined) {
    session.fail(id, { code: JSONRPC.invalidParams, message: `unknown log level; one of ${LOG_LEVELS.join(', ')}` });
    return;
  }
  if (!backend.capabilities.logging) {
    router.forward(session, message, undefined); // the server answers for itself (it has no logging)
    return;
  }
  session.level = rank;
  const target = aggregateLevel(router.sessions, router.level);
  if (target === undefined || target === router.level) {
    session.respond(id, {});
    return;
  }
  router.level = target;
  router.forward(session, { ...message, params: { ...message.params, level: LOG_LEVELS[target] } }, undefined);
}

/** `resources/subscribe` / `unsubscribe`: counted across sessions; only the first and the last reach the backend. */
export function handleSubscription(router: Router, session: Session, message: Msg): void {
  const id = message.id as RequestId;
  const uri = object(message.params)?.uri;
  if (typeof uri !== 'string') {
    session.fail(id, { code: JSONRPC.invalidParams, message: 'params.uri must be a string' });
    return;
  }
  if (message.method === 'resources/subscribe') {
    if (!router.subscriptions.add(session, uri)) {
      session.respond(id, {});
      return;
    }
    router.forward(session, message, (response) => {
      if ('error' in response) router.subscriptions.remove(session, uri);
    });
    return;
  }
  if (!router.subscriptions.remove(session, uri)) {
    session.respond(id, {});
    return;
  }
  router.forward(session, message, undefined);
}

/**
 * Tasks belong to the session that created them (the backend sees one client): another session's
 * task id is refused, and `tasks/list` shows a session only its own tasks.
 */
export function handleTaskRequest(router: Router, session: Session, message: Msg): void {
  if (message.method === 'tasks/list') {
    router.forward(session, message, (response) => {
      const tasks = response.result?.tasks;
      if (Array.isArray(tasks)) {
        response.result = { ...response.result, tasks: tasks.filter((t) => router.tasks.get(t?.taskId) === session) };
      }
    });
    return;
  }
  const taskId = object(message.params)?.taskId;
  const owner = typeof taskId === 'string' ? router.tasks.get(taskId) : undefined;
  if (owner && owner !== session) {
    session.fail(message.id as RequestId, {
      code: JSONRPC.invalidParams,
      message: `no task ${taskId} in this session`,
    });
    return;
  }
  router.forward(session, message, undefined);
}
