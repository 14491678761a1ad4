import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { CircuitBreaker } from '@spawnguard/circuit-breaker';
import type { LeftoversResult, Registry } from '@spawnguard/process-registry';
import type { SearchResult } from '../helper/search-result.js';

/** What answers `/search` and `/mcp/<name>`: the daemon's MCP host, or naive mode's plain children. */
export interface Backends {
  has(name: string): boolean;
  handle(name: string, req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void>;
  search(query: string, signal?: AbortSignal): Promise<SearchResult>;
  close(): Promise<void>;
}

/** What a mode is told by the daemon that runs it (callbacks only: a mode never holds the daemon). */
export interface ModeHooks {
  isStopping(): boolean;
  stop(reason: string): void;
  onReaped(phase: 'boot' | 'shutdown', count: number): void;
  onClaimed(leftovers: LeftoversResult): void;
  onBreaker(breaker: CircuitBreaker): void;
  /** The daemon's MCP host as backends (loaded on first use): what the defended mode serves with. */
  hosted: Backends;
}

/** What a mode started: its registry and spawn breaker (none in naive mode), and what serves. */
export interface Started {
  registry: Registry | null;
  spawnBreaker: CircuitBreaker | null;
  backends: Backends;
  /** Runs once the daemon is ready (naive mode: warm the helper, arm the TTL). */
  ready(): void;
}

/**
 * The boot steps that differ between the defended daemon (daemon/defended-mode.ts) and `--naive`
 * (naive/naive.ts): step 1, bind; steps 3-4, what runs once the port is ours. boot.ts picks one.
 */
export interface DaemonMode {
  readonly naive: boolean;
  /** Resolves true when bound; the defended mode exits 0 in here when it lost the port. */
  bind(server: Server): Promise<boolean>;
  /** Resolves null when a stop arrived meanwhile (whatever it opened is closed again). */
  start(hooks: ModeHooks): Promise<Started | null>;
}
