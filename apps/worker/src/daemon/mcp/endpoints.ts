import type { ServersConfig } from '../../config/servers-config.js';
import type { Backends } from '../../shared/daemon-mode.js';
import type { McpEndpoint } from '../routes.js';
import { HttpError } from '../security.js';
import { unavailableToHttp } from '../unavailable.js';
import type { HostedStatus, Hosting } from './host.js';

/**
 * How `/mcp/<name>` and `/search` reach the daemon's MCP host, and what they answer when it cannot
 * serve. The host itself (and the SDK) loads on first use, so nothing here imports it.
 */
export interface HostedSource {
  servers(): ServersConfig;
  /** The MCP host, loaded (single flight) on first use. */
  hosting(): Promise<Hosting>;
  /** The host if its load has begun, else null (nothing to close). */
  loadedHosting(): Promise<Hosting> | null;
  serverStatus(): HostedStatus[];
  /** What serves now: the host's backends below, or the mode's (daemon-mode.ts). */
  backends(): Backends;
  breakerCooldownMs: number;
}

/** The daemon's MCP host as `Backends`: every configured server, the demo server for `/search`. */
export function hostedBackends(source: HostedSource): Backends {
  return {
    has: (name) => Object.hasOwn(source.servers().servers, name),
    handle: (name, req, res, body) =>
      source.hosting().then((hosting) => hosting.host.handleRequest(name, req, res, body)),
    search: async (query, signal) => (await source.hosting()).search(query, signal),
    close: async () => {
      const hosting = await source.loadedHosting()?.catch(() => null);
      await hosting?.close();
    },
  };
}

export function mcpEndpoint(source: HostedSource): McpEndpoint {
  return {
    has: (name) => source.backends().has(name),
    unavailable: (name) => {
      const stats = source.serverStatus().find((s) => s.name === name);
      if (stats?.state !== 'open') return null;
      return unavailableToHttp(
        {
          data: { code: 'ESERVERUNAVAILABLE' },
          message: stats.lastError?.message ?? `MCP server "${name}" is failing`,
        },
        source.breakerCooldownMs,
      );
    },
    handle: (name, req, res, body) => source.backends().handle(name, req, res, body),
  };
}

/** A failed `/search` as the HTTP error to answer: 404 without a demo server, 503 while its circuit is open, else 502. */
export function searchFailure(error: unknown, source: HostedSource): HttpError {
  if ((error as { code?: string }).code === 'ENOTHOSTED') {
    return new HttpError(
      404,
      `/search needs the built-in demo server, and ${source.servers().source} does not define "demo"`,
    );
  }
  return (
    unavailableToHttp(error, source.breakerCooldownMs) ??
    new HttpError(502, `search failed: ${(error as Error).message}`)
  );
}

/** A server the host has not started (yet): what its status says before any backend exists. */
export function stoppedStatus(name: string, share: HostedStatus['share']): HostedStatus {
  return {
    name,
    share,
    state: 'stopped',
    breaker: 'closed',
    pid: null,
    pids: [],
    starts: 0,
    restarts: 0,
    sessions: 0,
    inFlight: 0,
    queued: 0,
    queuedBytes: 0,
    lastError: null,
    rssBytes: null,
  };
}

/** Every configured server as stopped: the status before the host is loaded. */
export function notStartedStatus(servers: ServersConfig): HostedStatus[] {
  return Object.entries(servers.servers).map(([name, server]) => stoppedStatus(name, server.share ?? 'shared'));
}
