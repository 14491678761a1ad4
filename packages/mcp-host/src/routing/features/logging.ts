import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/sdk/types.js';
import { JSONRPC } from '../../errors.js';
import { LOG_LEVELS, levelRank } from '../../protocol/capabilities.js';
import { type Msg, object } from '../../protocol/message.js';
import type { BackendPort } from '../backend-port.js';
import type { RouterCore, RouterFeature } from '../feature.js';
import type { Session } from '../session.js';

/**
 * The level the backend is set to: the most verbose any session asked for. A session that never
 * set one receives every message (as it would from the server directly), so it counts as `debug`
 * once any level has been sent. Undefined: no level was ever sent and none is needed.
 */
export function aggregateLevel(sessions: Iterable<Session>, current: number | undefined): number | undefined {
  let min = Number.POSITIVE_INFINITY;
  let anySet = false;
  let any = false;
  for (const session of sessions) {
    any = true;
    if (session.level === undefined) min = 0;
    else {
      anySet = true;
      if (session.level < min) min = session.level;
    }
  }
  if (!any) return current;
  if (!anySet && current === undefined) return undefined;
  return min;
}

/**
 * `logging/setLevel` from one session is recorded for that session (its `notifications/message`
 * are filtered by it: `session.level`, written only here); the backend is told only when the most
 * verbose level over all sessions changes, again after a restart, and when a leaving session
 * changes it.
 */
export class Logging implements RouterFeature {
  /** The log level (rank) the backend was set to, if any. */
  #level: number | undefined;

  constructor(private readonly core: RouterCore) {}

  request(session: Session, message: Msg, backend: BackendPort): boolean {
    if (message.method !== 'logging/setLevel') return false;
    const id = message.id as RequestId;
    const rank = levelRank(object(message.params)?.level);
    if (rank === undefined) {
      session.fail(id, { code: JSONRPC.invalidParams, message: `unknown log level; one of ${LOG_LEVELS.join(', ')}` });
      return true;
    }
    if (!backend.capabilities.logging) {
      this.core.forward(session, message, undefined); // the server answers for itself (it has no logging)
      return true;
    }
    session.level = rank;
    const target = aggregateLevel(this.core.sessions, this.#level);
    if (target === undefined || target === this.#level) {
      session.respond(id, {});
      return true;
    }
    this.#level = target;
    this.core.forward(session, { ...message, params: { ...message.params, level: LOG_LEVELS[target] } }, undefined);
    return true;
  }

  backendMessage(_backend: BackendPort, message: Msg): boolean {
    if (message.method !== 'notifications/message' || message.id !== undefined) return false;
    const rank = levelRank(message.params?.level) ?? 0;
    for (const session of this.core.sessions) {
      if (session.ready && (session.level === undefined || rank >= session.level)) {
        session.send(message as JSONRPCMessage);
      }
    }
    return true;
  }

  replay(backend: BackendPort): void {
    if (this.#level !== undefined && backend.capabilities.logging) {
      void backend.request('logging/setLevel', { level: LOG_LEVELS[this.#level] });
    }
  }

  leave(_session: Session, _reason: unknown, backend: BackendPort | null): void {
    if (!backend?.alive) return;
    const { sessions } = this.core;
    const target = sessions.size > 0 ? aggregateLevel(sessions, this.#level) : this.#level;
    if (target !== undefined && target !== this.#level) {
      this.#level = target;
      void backend.request('logging/setLevel', { level: LOG_LEVELS[target] });
    }
  }
}
