import type { FilterSpec } from '@spawnguard/mcp-host';
import { type HostedServer, notStarted, type ServersConfig } from '../../config/servers-config.js';
import type { McpEndpoint } from '../routes.js';
import { HttpError } from '../security.js';
import { stoppedStatus } from './endpoints.js';
import type { HostedStatus } from './host.js';

/**
 * Servers whose `${...}` did not expand (servers-config.ts leaves them out of what the host runs)
 * stay visible: in status, with the error that names the variable, and at `/mcp/<name>`, which
 * answers that error (503) instead of "no such server". Status also shows, for every server, which
 * variables it uses (names, never values), and the filters and timeouts its config puts in force.
 */
export interface ConfiguredStatus extends HostedStatus {
  /** The `${NAME}` its entry uses (names only). */
  variables: string[];
  /** Why it is not started (a variable set nowhere, an unusable env file); null when it expanded or has none. */
  expansionError: string | null;
  /** Its `tools` / `prompts` / `resources` filters as written (allow or deny patterns); null: not started (expansionError). */
  filters: Partial<Record<'tools' | 'prompts' | 'resources', FilterSpec>> | null;
  /** Its requestTimeoutMs (0 = none: the worker sets no host-wide one); null: not started. */
  requestTimeoutMs: number | null;
  /** Its maxTimeoutsInARow when the entry sets one; null: mcp-host's default (3), or not started. */
  maxTimeoutsInARow: number | null;
}

/** What a server's entry puts in force besides its command: filters and timeouts. */
const inForce = (server: HostedServer | undefined) => {
  if (!server) return { filters: null, requestTimeoutMs: null, maxTimeoutsInARow: null };
  const filters: NonNullable<ConfiguredStatus['filters']> = {};
  for (const kind of ['tools', 'prompts', 'resources'] as const) if (server[kind]) filters[kind] = server[kind];
  return {
    filters,
    requestTimeoutMs: server.requestTimeoutMs ?? 0,
    maxTimeoutsInARow: server.maxTimeoutsInARow ?? null,
  };
};

const unresolved = (config: ServersConfig, name: string): string | null =>
  Object.hasOwn(config.expansion, name) && !Object.hasOwn(config.servers, name)
    ? (config.expansion[name]!.error ?? null)
    : null;

/** The host's per-server status plus the variables each uses, and the servers that did not expand. */
export function withVariables(config: ServersConfig, hosted: HostedStatus[]): ConfiguredStatus[] {
  const names = new Set(hosted.map((s) => s.name));
  const statuses: ConfiguredStatus[] = hosted.map((s) => ({
    ...s,
    variables: Object.hasOwn(config.expansion, s.name) ? [...config.expansion[s.name]!.variables] : [],
    expansionError: null,
    ...inForce(Object.hasOwn(config.servers, s.name) ? config.servers[s.name] : undefined),
  }));
  for (const [name, info] of Object.entries(config.expansion)) {
    if (names.has(name) || info.error === null) continue;
    statuses.push({
      ...stoppedStatus(name, 'shared'),
      lastError: { message: notStarted(name, info.error), at: info.checkedAt, stderr: [] },
      variables: [...info.variables],
      expansionError: info.error,
      ...inForce(undefined),
    });
  }
  return statuses;
}

/** `/mcp/<name>` of a server that did not expand: 503 with the error naming the variable. */
export function refuseUnresolved(endpoint: McpEndpoint, config: () => ServersConfig): McpEndpoint {
  const refusal = (name: string) => {
    const error = unresolved(config(), name);
    return error === null ? null : new HttpError(503, notStarted(name, error));
  };
  return {
    has: (name) => endpoint.has(name) || refusal(name) !== null,
    unavailable: (name) => refusal(name) ?? endpoint.unavailable(name),
    handle: (name, req, res, body) => {
      const refused = refusal(name);
      return refused ? Promise.reject(refused) : endpoint.handle(name, req, res, body);
    },
  };
}
