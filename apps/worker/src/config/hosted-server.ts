import type { FilterSpec } from '@spawnguard/mcp-host';

/**
 * One MCP server the worker hosts, as the host is given it: what servers-config.ts reads from a
 * servers file, and what built-in-server.ts builds for the built-in demo server.
 */
export interface HostedServer {
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd?: string;
  share?: 'shared' | 'per-session';
  idleMs?: number;
  maxInstances?: number;
  serialize?: boolean;
  tools?: FilterSpec;
  prompts?: FilterSpec;
  resources?: FilterSpec;
  requestTimeoutMs?: number;
  maxTimeoutsInARow?: number;
}
