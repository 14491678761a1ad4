import type { RequestId } from '@modelcontextprotocol/sdk/types.js';
import { cancelled, type Msg, object } from '../../protocol/message.js';
import type { RouterCore, RouterFeature } from '../feature.js';
import type { Session } from '../session.js';

/**
 * `notifications/cancelled` from a session: a queued request is taken out of its queue; one in
 * flight is dropped (a late answer never reaches the session), the backend is told under the
 * backend id, and the request's stream is closed. (The backend's own cancellations of
 * server-to-client requests are server-requests.ts's.)
 */
export class Cancellation implements RouterFeature {
  constructor(private readonly core: RouterCore) {}

  notification(session: Session, message: Msg): boolean {
    if (message.method !== 'notifications/cancelled') return false;
    const params = object(message.params);
    const requestId = params?.requestId as RequestId | undefined;
    if (requestId === undefined) return true;
    const { core } = this;
    if (core.unqueue(session, requestId)) return true;
    const id = core.inFlight(session, requestId);
    if (id === undefined) return true;
    core.drop(id);
    core.settled(session, requestId);
    core.backend?.write(cancelled(id, params));
    session.endStream(requestId);
    return true;
  }
}
