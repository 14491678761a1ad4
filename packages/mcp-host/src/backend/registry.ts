import type { ChildProcess, StdioOptions } from 'node:child_process';
import { join } from 'node:path';
import { openRegistry } from '@spawnguard/process-registry';

/**
 * What the host needs from a process registry, accepted by shape: `@spawnguard/process-registry`'s
 * `Registry` fits, and so does anything else that spawns a recorded child in its own process group.
 */
export interface RegistryLike {
  spawn(
    command: string,
    args: readonly string[],
    options: {
      session: string;
      type: string;
      stdio: StdioOptions;
      env: Record<string, string>;
      cwd: string;
      windowsHide: boolean;
      signal?: AbortSignal;
    },
  ): Promise<{ child: ChildProcess; entry: { pid: number; startToken: string } }>;
  /**
   * Optional: forget what is gone (it must never signal). Called after each backend stop, so a record
   * the registry kept for what a crashed backend left in its process group (process-registry's group
   * records) goes once the host has stopped it.
   */
  pruneDead?(options?: { signal?: AbortSignal }): Promise<unknown>;
}

/** The registry the host opens itself when none is given: its file, the leftovers it reaped, and how to close it. */
export interface OwnRegistry {
  registry: RegistryLike;
  leftovers: { killed: number; dropped: number; skipped: number };
  shutdown(graceMs: number): Promise<void>;
}

export const DEFAULT_REGISTRY_FILE = 'mcp-host-processes.json';

/**
 * Opens `<stateDir>/mcp-host-processes.json` and ends what a previous host that died left there
 * (proven by identity, never by name). A live previous owner is left alone: spawn() then refuses,
 * and the start error says so.
 */
export async function openOwnRegistry(stateDir: string, signal?: AbortSignal): Promise<OwnRegistry> {
  const registry = await openRegistry(join(stateDir, DEFAULT_REGISTRY_FILE), { signal });
  const result = await registry.reapLeftovers({ signal });
  return {
    registry,
    leftovers: { killed: result.killed.length, dropped: result.dropped.length, skipped: result.skipped.length },
    async shutdown(graceMs) {
      await registry.shutdown({ graceMs });
    },
  };
}
