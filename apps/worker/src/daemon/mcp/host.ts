/**
 * The daemon's MCP servers: one @spawnguard/mcp-host for everything in the servers config, its
 * backends recorded in the daemon's own process registry (so a SIGKILLed daemon's servers are
 * reaped at the next boot, with the rest). `/search` is one in-process MCP session on the built-in
 * demo server, through the host like any client.
 */
import { readFileSync } from 'node:fs';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { memoizeConnection } from '@spawnguard/connection-memo';
import { createMcpHost, type McpHost, type ReconfigureResult, type ServerStats } from '@spawnguard/mcp-host';
import type { Registry } from '@spawnguard/process-registry';
import type { Config } from '../../config/config.js';
import { BUILT_IN_SERVER, type HostedServer, type ServersConfig } from '../../config/servers-config.js';
import type { SearchResult } from '../../helper/search-result.js';
import type { Logger } from '../../shared/log.js';
import { VERSION } from '../../shared/version.js';

export interface HostedStatus extends Omit<ServerStats, 'instances'> {
  /** Resident memory of the backend process(es), bytes; null where it cannot be read (not Linux). */
  rssBytes: number | null;
}

export interface Hosting {
  readonly host: McpHost;
  /** Calls the built-in demo server's `search` tool (404-style error when it is not configured). */
  search(query: string, signal?: AbortSignal): Promise<SearchResult>;
  status(): HostedStatus[];
  /** SIGHUP: only changed servers restart, removed ones stop. */
  reload(next: ServersConfig): Promise<ReconfigureResult>;
  close(): Promise<void>;
}

export interface HostingOptions {
  config: Config;
  servers: ServersConfig;
  /** Resolves with the registry once a helper may be spawned (after a takeover's claim). */
  registry: () => Promise<Registry>;
  log: Logger;
}

export class NotHostedError extends Error {
  readonly code = 'ENOTHOSTED';
  constructor(readonly server: string) {
    super(`no MCP server named "${server}" is configured`);
    this.name = 'NotHostedError';
  }
}

/** mcp-host's ServerConfig from ours (our `disabled` entries never reach it). */
const toHost = (servers: Record<string, HostedServer>) => ({ ...servers });

/** Resident set size from /proc (Linux); null elsewhere or when the process is gone. */
export function rssOf(pid: number): number | null {
  if (process.platform !== 'linux') return null;
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

export function createHosting({ config, servers, registry, log }: HostingOptions): Hosting {
  const host = createMcpHost({
    stateDir: config.home,
    servers: toHost(servers.servers),
    registry,
    breaker: { failureThreshold: config.breakerThreshold, cooldownMs: config.breakerCooldownMs },
    killGraceMs: config.killGraceMs,
    clientInfo: { name: 'spawnguard-worker', version: VERSION },
  });
  host.events.on('backendStarted', (e) => log.log('backend.started', e));
  host.events.on('backendStartFailed', ({ server, instance, error }) =>
    log.warn('backend.start_failed', { server, instance, error }),
  );
  host.events.on('backendStopped', (e) => log.log('backend.stopped', { ...e, stderr: e.stderr.slice(-5) }));
  host.events.on('output', ({ server, pid, stream, line }) =>
    log.warn('backend.output', { server, pid, stream, line: line.slice(0, 500) }),
  );
  host.events.on('sessionOpened', (e) => log.log('mcp.session_opened', e));
  host.events.on('sessionClosed', (e) => log.log('mcp.session_closed', e));
  host.events.on('routingError', (e) => log.warn('mcp.routing_error', e));

  // One in-process session for /search: connect once (single flight), again after a failure. It
  // speaks JSON-RPC to the host directly: the SDK's Client (and the schema validators it loads)
  // would cost an idle daemon several MB for one tool call.
  const searchClient = memoizeConnection<InProcessSession>({
    connect: async () => {
      if (!host.has(BUILT_IN_SERVER)) throw new NotHostedError(BUILT_IN_SERVER);
      const session = new InProcessSession(() => void searchClient.invalidate(session));
      host.connect(BUILT_IN_SERVER, session.serverSide);
      await session.initialize();
      return session;
    },
    close: (session) => session.close(),
  });

  return {
    host,
    async search(query, signal) {
      const session = await searchClient.get(signal ? { signal } : {});
      const result = (await session.request('tools/call', { name: 'search', arguments: { query } }, signal)) as {
        isError?: boolean;
        content?: unknown;
      };
      const first = (result.content as Array<{ type: string; text?: string }> | undefined)?.[0];
      if (result.isError || first?.type !== 'text' || typeof first.text !== 'string') {
        throw new Error(`search failed: ${first?.text ?? 'no content'}`);
      }
      return JSON.parse(first.text) as SearchResult;
    },
    status() {
      return host.stats().map(({ instances: _instances, ...stats }) => {
        const sizes = stats.pids.map(rssOf).filter((n): n is number => n !== null);
        return { ...stats, rssBytes: sizes.length ? sizes.reduce((a, b) => a + b, 0) : null };
      });
    },
    async reload(next) {
      const result = await host.reconfigure(toHost(next.servers));
      if (result.removed.includes(BUILT_IN_SERVER) || result.changed.includes(BUILT_IN_SERVER)) {
        await searchClient.reset();
      }
      return result;
    },
    async close() {
      await searchClient.close();
      await host.close();
    },
  };
}

/** A JSON-RPC error as the host sent it (`code`, `message`, `data`): unavailable.ts reads `data.code`. */
export class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data: unknown,
  ) {
    super(message);
    this.name = 'RpcError';
  }
}

const REQUEST_TIMEOUT_MS = 15_000;

/** The smallest MCP client that can call a tool: initialize, then requests matched by id. */
class InProcessSession {
  readonly serverSide: InMemoryTransport;
  readonly #clientSide: InMemoryTransport;
  readonly #pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  #nextId = 1;

  constructor(onClose: () => void) {
    const [client, server] = InMemoryTransport.createLinkedPair();
    this.#clientSide = client;
    this.serverSide = server;
    client.onmessage = (message) => this.#receive(message as Record<string, unknown>);
    client.onclose = () => {
      for (const p of this.#pending.values()) p.reject(new Error('the in-process MCP session closed'));
      this.#pending.clear();
      onClose();
    };
  }

  async initialize(): Promise<void> {
    await this.#clientSide.start();
    await this.request('initialize', {
      protocolVersion: '2025-06-18',
      capabilities: {},
      clientInfo: { name: 'spawnguard-worker-search', version: VERSION },
    });
    await this.#clientSide.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  }

  request(method: string, params: unknown, signal?: AbortSignal): Promise<unknown> {
    // Aborted already: nothing was sent, so there is nothing to cancel.
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#pending.delete(id);
      };
      const fail = (error: Error) => {
        done();
        void this.#clientSide
          .send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason: error.message } })
          .catch(() => {});
        reject(error);
      };
      const onAbort = () => fail(signal!.reason as Error);
      const timer = setTimeout(
        () => fail(new Error(`${method} not answered within ${REQUEST_TIMEOUT_MS} ms`)),
        REQUEST_TIMEOUT_MS,
      );
      timer.unref();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#pending.set(id, {
        resolve: (value) => {
          done();
          resolve(value);
        },
        reject: (error) => {
          done();
          reject(error);
        },
      });
      this.#clientSide.send({ jsonrpc: '2.0', id, method, params } as never).catch((error: Error) => fail(error));
    });
  }

  #receive(message: Record<string, unknown>): void {
    if (typeof message.method === 'string') {
      // The server asks something (ping, roots): answer at once; this client offers nothing else.
      if (message.id === undefined) return;
      const reply =
        message.method === 'ping'
          ? { jsonrpc: '2.0', id: message.id, result: {} }
          : { jsonrpc: '2.0', id: message.id, error: { code: -32601, message: `${message.method} is not supported` } };
      void this.#clientSide.send(reply as never).catch(() => {});
      return;
    }
    const pending = typeof message.id === 'number' ? this.#pending.get(message.id) : undefined;
    if (!pending) return;
    const error = message.error as { code: number; message: string; data?: unknown } | undefined;
    if (error) pending.reject(new RpcError(error.code, error.message, error.data));
    else pending.resolve(message.result);
  }

  close(): Promise<void> {
    return this.#clientSide.close();
  }
}
