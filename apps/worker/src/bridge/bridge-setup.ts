import type { McpHttpClient, Message } from './streamable-http-client.js';

/** Ids of the bridge's own requests (replayed setup), never seen by the client. */
const OWN_ID = 'spawnguard-bridge:';

/**
 * What a client set up in its session (its initialize, resource subscriptions, log level), kept so
 * that a bridge can open a new session after the worker died and restore it: the client never
 * notices that the session behind it changed.
 */
export class SessionSetup {
  /** The client's initialize request, replayed to open a new session. */
  hello: Message | null = null;
  initialized = false;
  readonly #subscriptions = new Set<string>();
  #logLevel: unknown = null;
  #ownIds = 0;

  /** Called with every request the host answered with a result. */
  remember(request: Message): void {
    const uri = (request.params as { uri?: unknown } | undefined)?.uri;
    if (request.method === 'resources/subscribe' && typeof uri === 'string') this.#subscriptions.add(uri);
    if (request.method === 'resources/unsubscribe' && typeof uri === 'string') this.#subscriptions.delete(uri);
    if (request.method === 'logging/setLevel') {
      this.#logLevel = (request.params as { level?: unknown } | undefined)?.level;
    }
  }

  /**
   * Opens a new session on `client` with the client's own initialize, then restores what it had
   * set up. false when the host did not accept the initialize; a network error rejects. Requests
   * the server sends meanwhile go to `onServerMessage` (the client answers them).
   */
  async replay(client: McpHttpClient, onServerMessage: (message: Message) => void): Promise<boolean> {
    let ok = false;
    await client.post({ ...this.hello!, id: this.#nextId() }, (reply) => {
      const result = reply.result as { protocolVersion?: unknown } | undefined;
      if (result && typeof reply.id === 'string' && reply.id.startsWith(OWN_ID)) {
        ok = true;
        client.protocolVersion = String(result.protocolVersion ?? '');
      } else if (reply.method !== undefined) onServerMessage(reply);
    });
    if (!ok) return false;
    if (this.initialized) await client.post({ jsonrpc: '2.0', method: 'notifications/initialized' }, () => {});
    if (this.#logLevel !== null) await client.post(this.#own('logging/setLevel', { level: this.#logLevel }), () => {});
    for (const uri of this.#subscriptions) await client.post(this.#own('resources/subscribe', { uri }), () => {});
    return true;
  }

  #nextId(): string {
    return `${OWN_ID}${++this.#ownIds}`;
  }

  #own(method: string, params: unknown): Message {
    return { jsonrpc: '2.0', id: this.#nextId(), method, params };
  }
}
