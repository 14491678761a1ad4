import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/sdk/types.js';
import { JSONRPC } from '../../errors.js';
import { type Msg, object } from '../../protocol/message.js';
import type { BackendPort } from '../backend-port.js';
import type { RouterCore, RouterFeature } from '../feature.js';
import type { Session } from '../session.js';

/**
 * Resource subscriptions counted across the sessions of one backend: the backend sees one
 * `resources/subscribe` per URI (when the first session subscribes) and one `unsubscribe` (when
 * the last one leaves). A session subscribing twice counts once.
 */
export class Subscriptions {
  readonly #byUri = new Map<string, Set<Session>>();
  readonly #bySession = new Map<Session, Set<string>>();

  /** Adds; true when this is the URI's first subscriber (the backend must be told). */
  add(session: Session, uri: string): boolean {
    let mine = this.#bySession.get(session);
    if (mine?.has(uri)) return false;
    if (!mine) {
      mine = new Set();
      this.#bySession.set(session, mine);
    }
    mine.add(uri);
    let set = this.#byUri.get(uri);
    if (!set) {
      set = new Set();
      this.#byUri.set(uri, set);
    }
    set.add(session);
    return set.size === 1;
  }

  /** Removes; true when that was the URI's last subscriber (the backend must be told). */
  remove(session: Session, uri: string): boolean {
    const mine = this.#bySession.get(session);
    if (!mine?.delete(uri)) return false;
    if (mine.size === 0) this.#bySession.delete(session);
    const set = this.#byUri.get(uri);
    if (!set) return false;
    set.delete(session);
    if (set.size > 0) return false;
    this.#byUri.delete(uri);
    return true;
  }

  /** Removes every subscription of `session`; returns the URIs nobody subscribes to any more. */
  drop(session: Session): string[] {
    const last: string[] = [];
    for (const uri of [...(this.#bySession.get(session) ?? [])]) if (this.remove(session, uri)) last.push(uri);
    return last;
  }

  subscribers(uri: string): ReadonlySet<Session> | undefined {
    return this.#byUri.get(uri);
  }

  uris(): string[] {
    return [...this.#byUri.keys()];
  }
}

/**
 * `resources/subscribe` / `unsubscribe` as a routing feature: counted across sessions (only the
 * first and the last reach the backend), `notifications/resources/updated` to the subscribers
 * only, replayed to a restarted backend, a leaving session's last subscriptions undone.
 */
export class SubscriptionRouting implements RouterFeature {
  readonly #subscriptions = new Subscriptions();

  constructor(private readonly core: RouterCore) {}

  request(session: Session, message: Msg): boolean {
    if (message.method !== 'resources/subscribe' && message.method !== 'resources/unsubscribe') return false;
    const id = message.id as RequestId;
    const uri = object(message.params)?.uri;
    const subs = this.#subscriptions;
    if (typeof uri !== 'string') {
      session.fail(id, { code: JSONRPC.invalidParams, message: 'params.uri must be a string' });
      return true;
    }
    if (message.method === 'resources/subscribe') {
      if (!subs.add(session, uri)) {
        session.respond(id, {});
        return true;
      }
      this.core.forward(session, message, (response) => {
        if ('error' in response) subs.remove(session, uri);
      });
      return true;
    }
    if (!subs.remove(session, uri)) {
      session.respond(id, {});
      return true;
    }
    this.core.forward(session, message, undefined);
    return true;
  }

  backendMessage(_backend: BackendPort, message: Msg): boolean {
    if (message.method !== 'notifications/resources/updated' || message.id !== undefined) return false;
    const uri = message.params?.uri;
    const subscribers = typeof uri === 'string' ? this.#subscriptions.subscribers(uri) : undefined;
    if (subscribers) for (const session of subscribers) session.send(message as JSONRPCMessage);
    return true;
  }

  replay(backend: BackendPort): void {
    for (const uri of this.#subscriptions.uris()) void backend.request('resources/subscribe', { uri });
  }

  leave(session: Session, _reason: unknown, backend: BackendPort | null): void {
    const last = this.#subscriptions.drop(session);
    if (backend?.alive) for (const uri of last) void backend.request('resources/unsubscribe', { uri });
  }
}
