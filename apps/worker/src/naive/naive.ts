/**
 * --naive: the field's behaviour, for the storm demo. Every defence is off:
 *   - bind: a worker that loses the port logs it and keeps running (and starts its helper anyway);
 *   - helper: one started at boot and kept, plus a new one per search, spawned plainly (no
 *     registry, no breaker, no memo), closed by closing stdin, so whatever it started is orphaned;
 *   - MCP: every session starts its own copy of the server, never tree-killed (what editors do).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { builtInServer } from '../config/built-in-server.js';
import { type Config, HOST } from '../config/config.js';
import type { HostedServer } from '../config/servers-config.js';
import type { SearchResult } from '../helper/search-result.js';
import type { DaemonMode } from '../shared/daemon-mode.js';
import type { Logger } from '../shared/log.js';
import { VERSION } from '../shared/version.js';
import { ChildProcessTransport } from './child-transport.js';

/** Listens, and on EADDRINUSE keeps on running anyway. Resolves true when bound. */
export function bindNaively(server: Server, config: Config, log: Logger): Promise<boolean> {
  return new Promise((resolve) => {
    const onError = (error: NodeJS.ErrnoException) => {
      log.warn('naive.bind_failed', { code: error.code, message: 'keeping on running anyway (naive mode)' });
      resolve(false);
    };
    server.once('error', onError);
    server.listen(config.port, HOST, () => {
      server.off('error', onError);
      resolve(true);
    });
  });
}

/** A plain child of the daemon: not detached, not recorded, its stdio piped. */
function spawnPlain(server: HostedServer, config: Config): ChildProcess {
  return spawn(server.command, server.args, {
    stdio: ['pipe', 'pipe', 'pipe'],
    cwd: server.cwd ?? config.home,
    env: { ...process.env, ...server.env },
    windowsHide: true,
  });
}

export interface NaiveHelper {
  search(query: string, signal?: AbortSignal): Promise<SearchResult>;
  /** Starts the helper at boot and keeps it, like the field's workers. */
  warm(): void;
}

export function createNaiveHelper(helper: HostedServer, config: Config, log: Logger): NaiveHelper {
  async function connect(): Promise<{ client: Client; child: ChildProcess }> {
    const child = spawnPlain(helper, config);
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    log.log('backend.started', { server: 'demo', pid: child.pid, naive: true });
    child.stderr?.resume();
    const client = new Client({ name: 'spawnguard-worker', version: VERSION });
    await client.connect(new ChildProcessTransport(child), { timeout: 10_000 });
    return { client, child };
  }
  return {
    async search(query, signal) {
      const { client } = await connect();
      try {
        const result = await client.callTool({ name: 'search', arguments: { query } }, undefined, {
          timeout: 10_000,
          ...(signal ? { signal } : {}),
        });
        const first = (result.content as Array<{ type: string; text?: string }> | undefined)?.[0];
        if (first?.type !== 'text' || typeof first.text !== 'string') throw new Error('helper search failed');
        return JSON.parse(first.text) as SearchResult;
      } finally {
        // Field behaviour: close stdin and hope. The helper exits; anything it started is orphaned.
        void client.close().catch(() => {});
      }
    },
    warm() {
      connect().catch((error: unknown) => log.warn('helper.warm_failed', { error }));
    },
  };
}

/**
 * Naive MCP: each Streamable HTTP session gets its own server process, wired straight to the
 * session's SDK transport (no id remapping: it is one process per session). When the session ends
 * its server's stdin is closed; nothing is killed.
 */
export function createNaiveMcp(servers: Record<string, HostedServer>, config: Config, log: Logger) {
  const sessions = new Map<string, StreamableHTTPServerTransport>();

  async function open(name: string, req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> {
    const server = servers[name]!;
    const child = spawnPlain(server, config);
    child.on('error', (error) => log.warn('naive.backend_error', { server: name, error }));
    child.stderr?.resume();
    log.log('backend.started', { server: name, pid: child.pid, naive: true });
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        sessions.set(id, transport);
      },
    });
    const backend = new ChildProcessTransport(child);
    backend.onmessage = (message) => void transport.send(message as JSONRPCMessage).catch(() => {});
    transport.onmessage = (message) => void backend.send(message).catch(() => {});
    transport.onclose = () => {
      if (transport.sessionId) sessions.delete(transport.sessionId);
      child.stdin?.end();
    };
    await backend.start();
    await transport.handleRequest(req, res, body);
  }

  return {
    has: (name: string) => Object.hasOwn(servers, name),
    async handleRequest(name: string, req: IncomingMessage, res: ServerResponse, body?: unknown): Promise<void> {
      const id = req.headers['mcp-session-id'];
      const existing = typeof id === 'string' ? sessions.get(id) : undefined;
      if (existing) return existing.handleRequest(req, res, body);
      if (req.method === 'POST' && id === undefined) return open(name, req, res, body);
      res
        .writeHead(404, { 'content-type': 'application/json' })
        .end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32001, message: 'Session not found' } }));
    },
    async close(): Promise<void> {
      for (const transport of sessions.values()) await transport.close().catch(() => {});
    },
  };
}

export type NaiveMcp = ReturnType<typeof createNaiveMcp>;

/**
 * --naive as the daemon's mode (shared/daemon-mode.ts): bind and keep running even without the
 * port; no registry, no breaker; a helper at boot (kept), a copy of every server per MCP session,
 * and the daemon stops itself after `naiveTtlMs`.
 */
export function naiveMode(config: Config, servers: Record<string, HostedServer>, log: Logger): DaemonMode {
  return {
    naive: true,
    bind(server) {
      log.warn('naive.mode', { message: 'NAIVE MODE: every defence is off (demo only)' });
      return bindNaively(server, config, log);
    },
    async start(hooks) {
      // 3-4, the field's way: a helper at boot (kept), a copy of every server per MCP session.
      const helper = createNaiveHelper(builtInServer(config), config, log);
      const mcp = createNaiveMcp(servers, config, log);
      return {
        registry: null,
        spawnBreaker: null,
        backends: {
          has: (name) => mcp.has(name),
          handle: (name, req, res, body) => mcp.handleRequest(name, req, res, body),
          search: (query, signal) => helper.search(query, signal),
          close: () => mcp.close(),
        },
        ready() {
          helper.warm();
          setTimeout(() => hooks.stop(`naive TTL of ${config.naiveTtlMs} ms`), config.naiveTtlMs).unref();
        },
      };
    },
  };
}
