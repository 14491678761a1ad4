import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { safeEmit } from '@spawnguard/internal';
import mitt, { type Emitter } from 'mitt';
import { type OwnRegistry, openOwnRegistry, type RegistryLike } from './backend/registry.js';
import { type ServerContext, serverContext } from './backend/server-context.js';
import { Slot } from './backend/slot.js';
import { systemClock } from './clock.js';
import {
  type McpHostOptions,
  type ResolvedHost,
  type ResolvedServer,
  resolveHost,
  resolveServers,
} from './config/options.js';
import {
  HostClosedError,
  JSONRPC,
  MaxInstancesError,
  MaxSessionsError,
  toJsonRpcError,
  UnknownServerError,
} from './errors.js';
import { type McpHostEvents, PACKAGE } from './events.js';
import { HttpSessions } from './http/sessions.js';
import { readHello } from './protocol/capabilities.js';
import type { Msg } from './routing/router.js';
import { Session, type SessionTransport } from './routing/session.js';
import { type ServerStats, serverStats } from './stats.js';
import { VERSION } from './version.js';

export type SessionCloseReason = McpHostEvents['sessionClosed']['reason'];

interface Runtime {
  ctx: ServerContext;
  shared: Slot;
  perSession: Set<Slot>;
  /** Sessions of this server (of any transport), for `maxSessions`. */
  sessions: number;
}

interface Attached {
  session: Session;
  runtime: Runtime;
  slot: Slot | null;
  /**
   * Messages held while the per-session backend evicted for this session stops (so a server never
   * runs more than `maxInstances` at once); null once they flow to `slot`.
   */
  held: Msg[] | null;
  onClose: (() => void) | undefined;
}

export interface ReconfigureResult {
  added: string[];
  removed: string[];
  changed: string[];
  unchanged: string[];
}

/**
 * Hosts MCP stdio servers for many client sessions. Sessions come in over Streamable HTTP
 * (`handleRequest`) or any SDK server transport (`connect`).
 */
export class McpHost {
  readonly events: Emitter<McpHostEvents>;
  readonly #opts: ResolvedHost;
  readonly #clock;
  readonly #servers = new Map<string, Runtime>();
  readonly #sessions = new Map<string, Attached>();
  readonly #http: HttpSessions;
  /** A per-session slot that lost its session, and its stopping (once per slot). */
  readonly #retiring = new WeakMap<Slot, Promise<void>>();
  #own: Promise<OwnRegistry> | null = null;
  #closing: Promise<void> | null = null;

  constructor(options: McpHostOptions) {
    this.#opts = resolveHost(options, VERSION);
    this.#clock = this.#opts.clock ?? systemClock;
    this.events = this.#opts.events ?? mitt<McpHostEvents>();
    for (const config of this.#opts.servers.values()) this.#add(config);
    this.#http = new HttpSessions(
      {
        has: (name) => this.#servers.has(name),
        connect: (server, transport, sessionId, onClose) => this.connect(server, transport, { sessionId, onClose }),
        end: (sessionId, reason) => {
          const attached = this.#sessions.get(sessionId);
          if (attached) this.#closeSession(attached, reason);
        },
        closed: () => this.#closing !== null,
      },
      {
        maxBodyBytes: this.#opts.maxBodyBytes,
        maxStreamBufferBytes: this.#opts.maxStreamBufferBytes,
        sessionIdleMs: this.#opts.sessionIdleMs,
        streamReconnectGraceMs: this.#opts.streamReconnectGraceMs,
        clock: this.#clock,
      },
    );
  }

  get stateDir(): string {
    return this.#opts.stateDir;
  }

  servers(): string[] {
    return [...this.#servers.keys()];
  }

  has(server: string): boolean {
    return this.#servers.has(server);
  }

  #add(config: ResolvedServer): void {
    const ctx = serverContext(config, this.#opts, this.#clock, {
      registry: (signal) => this.#registry(signal),
      emit: (type, payload) => safeEmit(PACKAGE, this.events, type, payload),
      initFailed: (session) => {
        // Its backend did not start: nothing more can happen in it (and a per-session one holds a slot).
        const attached = this.#sessions.get(session.id);
        if (attached) setImmediate(() => this.#closeSession(attached, 'closed'));
      },
    });
    const runtime: Runtime = {
      ctx,
      perSession: new Set(),
      shared: new Slot(ctx, `mcp:${config.name}`, null, () => {}),
      sessions: 0,
    };
    this.#servers.set(config.name, runtime);
  }

  async #registry(signal: AbortSignal): Promise<RegistryLike> {
    const given = this.#opts.registry;
    if (!given) return (await this.#ownRegistry(signal)).registry;
    const registry = typeof given === 'function' ? await given() : given;
    if (typeof registry?.spawn !== 'function') throw new TypeError('options.registry() returned no registry');
    return registry;
  }

  #ownRegistry(signal?: AbortSignal): Promise<OwnRegistry> {
    if (!this.#own) {
      const opening = openOwnRegistry(this.#opts.stateDir, signal);
      this.#own = opening;
      opening.catch(() => {
        if (this.#own === opening) this.#own = null; // a failed open is retried by the next start
      });
    }
    return this.#own;
  }

  /**
   * With the host's own registry (no `registry` option): opens it now and ends what a previous host
   * that died left running. Starting a backend does this too; call it at boot to do it before any
   * session arrives. With your own registry, call its `reapLeftovers()` instead; this resolves at once.
   */
  async reapLeftovers(
    options: { signal?: AbortSignal } = {},
  ): Promise<{ killed: number; dropped: number; skipped: number }> {
    if (this.#opts.registry) return { killed: 0, dropped: 0, skipped: 0 };
    return (await this.#ownRegistry(options.signal)).leftovers;
  }

  /**
   * Serves one client session over any SDK server-side transport. The session belongs to
   * `server`; its first message must be `initialize`. Returns the session id. Throws
   * `MaxSessionsError` when the server already has `maxSessions` sessions.
   */
  connect(
    server: string,
    transport: SessionTransport,
    options: { sessionId?: string; onClose?: () => void } = {},
  ): string {
    if (this.#closing) throw new HostClosedError();
    const runtime = this.#servers.get(server);
    if (!runtime) throw new UnknownServerError(server);
    const id = options.sessionId ?? transport.sessionId ?? randomUUID();
    if (this.#sessions.has(id)) throw new TypeError(`session id ${JSON.stringify(id)} is already connected`);
    if (runtime.sessions >= this.#opts.maxSessions) throw new MaxSessionsError(server, this.#opts.maxSessions);
    const session = new Session(
      id,
      server,
      transport,
      (s, error, message) =>
        safeEmit(PACKAGE, this.events, 'routingError', {
          server,
          sessionId: s.id,
          direction: 'to-session',
          reason: 'unknown-id',
          method: (message as { method?: string }).method ?? null,
          detail: `could not send to the session: ${error.message}`,
        }),
      () => this.#clock.now(),
    );
    const attached: Attached = { session, runtime, slot: null, held: null, onClose: options.onClose };
    this.#sessions.set(id, attached);
    runtime.sessions++;
    transport.onmessage = (message: object) => this.#route(attached, message as Msg);
    transport.onclose = () => this.#closeSession(attached, 'closed', true);
    transport.onerror = (error: Error) =>
      safeEmit(PACKAGE, this.events, 'routingError', {
        server,
        sessionId: id,
        direction: 'to-backend',
        reason: 'invalid',
        method: null,
        detail: error.message,
      });
    transport.start().catch((error: Error) => transport.onerror?.(error));
    return id;
  }

  #route(attached: Attached, message: Msg): void {
    const { session } = attached;
    if (session.closed) return;
    session.touch();
    if (attached.held) {
      attached.held.push(message);
      return;
    }
    if (attached.slot === null) {
      if (message.method !== 'initialize' || message.id === undefined) {
        if (message.id !== undefined && message.method !== undefined) {
          session.fail(message.id, { code: JSONRPC.notInitialized, message: 'send initialize first' });
        }
        return;
      }
      const hello = readHello(message.params);
      if (!hello) {
        session.fail(message.id, { code: JSONRPC.invalidParams, message: 'initialize needs params.protocolVersion' });
        return;
      }
      session.initializing(hello);
      let evicted: Promise<void> | null;
      try {
        [attached.slot, evicted] = this.#slotFor(attached);
      } catch (error) {
        session.fail(message.id, toJsonRpcError(error));
        return;
      }
      if (evicted) {
        const slot = attached.slot;
        attached.held = [message];
        void evicted.then(() => {
          const held = attached.held ?? [];
          attached.held = null;
          for (const m of held) if (!session.closed) slot.router.fromSession(session, m);
        });
        return;
      }
    }
    attached.slot.router.fromSession(session, message);
  }

  /**
   * The slot a new session runs on, and, when a session was evicted to make room for it, the
   * stopping of that session's backend (the new one starts after it).
   */
  #slotFor(attached: Attached): [Slot, Promise<void> | null] {
    const { session, runtime } = attached;
    if (this.#servers.get(session.server) !== runtime) throw new UnknownServerError(session.server);
    const { config } = runtime.ctx;
    if (config.share === 'shared') return [runtime.shared, null];
    let evicted: Promise<void> | null = null;
    if (runtime.perSession.size >= config.maxInstances) {
      const victim = this.#evictable(runtime);
      if (!victim) throw new MaxInstancesError(config.name, config.maxInstances);
      this.#closeSession(victim, 'evicted');
      evicted = victim.slot ? this.#retire(runtime, victim.slot) : null;
    }
    const slot = new Slot(runtime.ctx, `mcp:${config.name}:${session.id}`, session.hello, (empty) => {
      void this.#retire(runtime, empty);
    });
    runtime.perSession.add(slot);
    return [slot, evicted];
  }

  /**
   * The per-session session to evict at `maxInstances`: the longest idle of those that nobody can
   * miss right now: ready, no request in flight or queued, no server-to-client request open, and
   * no HTTP connection from its client (a client that still holds its GET stream is alive: live
   * clients never evict each other, which would be a start/kill loop between them). Null: refuse.
   */
  #evictable(runtime: Runtime): Attached | null {
    let best: Attached | null = null;
    for (const attached of this.#sessions.values()) {
      const { session, slot } = attached;
      if (!slot || !runtime.perSession.has(slot) || attached.held || !session.ready) continue;
      if (session.inFlight > 0 || slot.router.serverRequestsOpen(session) > 0 || slot.router.waiting > 0) continue;
      if (this.#http.connected(session.id)) continue;
      if (!best || session.lastActive < best.session.lastActive) best = attached;
    }
    return best;
  }

  /** A per-session slot without its session: it stops (whole tree) and no longer counts toward maxInstances. */
  #retire(runtime: Runtime, slot: Slot): Promise<void> {
    let stopping = this.#retiring.get(slot);
    if (!stopping) {
      runtime.perSession.delete(slot);
      stopping = slot.close('session-closed').catch(() => {});
      this.#retiring.set(slot, stopping);
    }
    return stopping;
  }

  #closeSession(attached: Attached, reason: SessionCloseReason, transportClosed = false): void {
    const { session } = attached;
    if (session.closed || this.#sessions.get(session.id) !== attached) return;
    this.#sessions.delete(session.id);
    attached.runtime.sessions--;
    if (attached.held && attached.slot) {
      // It never reached its slot (it waited for an evicted backend to stop): the slot goes too.
      attached.held = null;
      if (attached.runtime.perSession.has(attached.slot)) void this.#retire(attached.runtime, attached.slot);
    }
    // The router answers the session's requests while its transport is open; one already closed gets nothing.
    if (transportClosed) session.close();
    attached.slot?.router.leave(session, reason);
    session.close();
    attached.onClose?.();
    if (session.wasReady)
      safeEmit(PACKAGE, this.events, 'sessionClosed', { server: session.server, sessionId: session.id, reason });
    void session.transport.close().catch(() => {});
  }

  /** Ends one session (as a DELETE would). Resolves false when there is no such session. */
  closeSession(sessionId: string): boolean {
    const attached = this.#sessions.get(sessionId);
    if (!attached) return false;
    this.#closeSession(attached, 'closed');
    return true;
  }

  /** The Streamable HTTP endpoint of `server`: call it from your route (after your own auth and checks). */
  handleRequest(server: string, req: IncomingMessage, res: ServerResponse, parsedBody?: unknown): Promise<void> {
    return this.#http.handle(server, req, res, parsedBody);
  }

  stats(): ServerStats[] {
    return [...this.#servers.values()].map((r) =>
      serverStats(r.ctx, r.ctx.config.share === 'shared' ? [r.shared] : [...r.perSession]),
    );
  }

  /** Replaces the server list: removed and changed servers lose their sessions and backends; unchanged ones are untouched. */
  async reconfigure(servers: McpHostOptions['servers']): Promise<ReconfigureResult> {
    if (this.#closing) throw new HostClosedError();
    const { backendCwd: cwd, startTimeoutMs, requestTimeoutMs } = this.#opts;
    const next = resolveServers(servers, { cwd, startTimeoutMs, requestTimeoutMs });
    const result: ReconfigureResult = { added: [], removed: [], changed: [], unchanged: [] };
    const stops: Promise<void>[] = [];
    for (const [name, runtime] of this.#servers) {
      const config = next.get(name);
      if (config && same(config, runtime.ctx.config)) {
        result.unchanged.push(name);
        continue;
      }
      (config ? result.changed : result.removed).push(name);
      stops.push(this.#stopServer(name, runtime, 'reconfigured'));
    }
    for (const [name, config] of next) {
      if (!this.#servers.has(name)) {
        if (!result.changed.includes(name)) result.added.push(name);
        this.#add(config);
      }
    }
    await Promise.all(stops);
    return result;
  }

  #stopServer(name: string, runtime: Runtime, reason: 'reconfigured' | 'closed'): Promise<void> {
    this.#servers.delete(name);
    for (const attached of [...this.#sessions.values()]) {
      if (attached.session.server === name) this.#closeSession(attached, reason === 'closed' ? 'host-closed' : reason);
    }
    return Promise.all([runtime.shared, ...runtime.perSession].map((slot) => slot.close(reason))).then(() => {});
  }

  /** Closes every session and stops every backend tree; final. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#http.close();
      await Promise.all([...this.#servers].map(([name, runtime]) => this.#stopServer(name, runtime, 'closed')));
      const own = await this.#own?.catch(() => null);
      await own?.shutdown(this.#opts.killGraceMs);
    })();
    return this.#closing;
  }
}

const canonical = (config: ResolvedServer) =>
  JSON.stringify({
    ...config,
    env: Object.fromEntries(Object.entries(config.env).sort(([a], [b]) => (a < b ? -1 : 1))),
  });
const same = (a: ResolvedServer, b: ResolvedServer) => canonical(a) === canonical(b);

export function createMcpHost(options: McpHostOptions): McpHost {
  return new McpHost(options);
}
