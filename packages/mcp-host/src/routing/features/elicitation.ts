import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { Json, Msg } from '../../protocol/message.js';
import type { RouterFeature } from '../feature.js';
import type { Session } from '../session.js';

/** URL-mode elicitations: `notifications/elicitation/complete` goes to the session that got that elicitation. */
export class Elicitations implements RouterFeature {
  /** Elicitation id → the session it was sent to. */
  readonly #owners = new Map<string, Session>();

  /** A server-to-client request was routed to `owner` (server-requests.ts calls this). */
  routed(owner: Session, method: string, params: Json | undefined): void {
    if (method === 'elicitation/create' && params?.mode === 'url' && typeof params.elicitationId === 'string') {
      this.#owners.set(params.elicitationId, owner);
    }
  }

  backendMessage(_backend: unknown, message: Msg): boolean {
    if (message.method !== 'notifications/elicitation/complete' || message.id !== undefined) return false;
    const id = message.params?.elicitationId;
    const session = typeof id === 'string' ? this.#owners.get(id) : undefined;
    if (!session) return true;
    this.#owners.delete(id);
    session.send(message as JSONRPCMessage);
    return true;
  }

  detach(): void {
    this.#owners.clear();
  }

  leave(session: Session): void {
    for (const [key, owner] of this.#owners) if (owner === session) this.#owners.delete(key);
  }
}
