import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { type Json, type Msg, object } from '../../protocol/message.js';
import type { BackendPort } from '../backend-port.js';
import type { RouterCore, RouterFeature } from '../feature.js';

/**
 * A request's `_meta.progressToken` replaced by its backend id, so the backend's progress is found
 * by one lookup and reaches only that request's session (with its own token). `clientToken`: the
 * session's token, undefined when the request asked for no progress.
 */
export function withBackendToken(
  params: Json | undefined,
  backendId: number,
): { params: Json | undefined; clientToken: string | number | undefined } {
  const meta = object(params?._meta);
  if (!meta || meta.progressToken === undefined) return { params, clientToken: undefined };
  return { params: { ...params, _meta: { ...meta, progressToken: backendId } }, clientToken: meta.progressToken };
}

/** Progress from the backend: to the session of the request in flight it names; after the response it is dropped. */
export class Progress implements RouterFeature {
  constructor(private readonly core: RouterCore) {}

  backendMessage(_backend: BackendPort, message: Msg): boolean {
    if (message.method !== 'notifications/progress' || message.id !== undefined) return false;
    const params = message.params;
    const token = params?.progressToken;
    const pending = typeof token === 'number' ? this.core.pendingAt(token) : undefined;
    if (!pending || pending.clientToken === undefined) return true; // its request is over: progress after it is dropped
    message.params = { ...params, progressToken: pending.clientToken };
    pending.session.send(message as JSONRPCMessage, pending.clientId);
    return true;
  }
}
