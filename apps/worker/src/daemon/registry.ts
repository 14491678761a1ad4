import { type LeftoversResult, openRegistry, type Registry, type RegistryEvents } from '@spawnguard/process-registry';
import mitt from 'mitt';
import type { Config } from '../config/config.js';
import type { HomePaths } from '../config/home.js';
import type { Logger } from '../shared/log.js';

export interface WorkerRegistryOptions {
  config: Config;
  paths: HomePaths;
  log: Logger;
  /** Helper processes reaped: at boot (a predecessor's leftovers) or at shutdown (ours). */
  onReaped: (phase: 'boot' | 'shutdown', count: number) => void;
  /** The takeover's result, once the file is ours. */
  onClaimed: (leftovers: LeftoversResult) => void;
}

/** What the boot's takeover did with a predecessor's leftovers, by pid (for the log and `status`). */
export function leftoversSummary(leftovers: LeftoversResult) {
  return {
    killed: leftovers.killed.map((e) => e.pid),
    dropped: leftovers.dropped.map((e) => e.pid),
    skipped: leftovers.skipped.map((s) => ({ pid: s.entry.pid, reason: s.reason })),
  };
}

/**
 * Step 3 of the boot: the registry, taken over from a previous daemon if there is one. A daemon
 * that boots while the last one drains waits for it to exit (as long as that one's own forced-exit
 * bound), then reaps what it left. This never waits itself: the wait runs in the background and
 * every backend spawn waits for the claim (`registryForSpawns`), so nothing starts next to its
 * leftovers. Listeners first: the claim may fire its events inside openRegistry.
 */
export function openWorkerRegistry(options: WorkerRegistryOptions): Promise<Registry> {
  const { config, paths, log, onReaped, onClaimed } = options;
  const events = mitt<RegistryEvents>();
  events.on('claimed', ({ previousOwner, waitedMs, leftovers }) => {
    onClaimed(leftovers);
    log.log('registry.claimed', { previousOwner, waitedMs, ...leftoversSummary(leftovers) });
  });
  events.on('ownerWait', ({ owner, waitMs }) => log.log('registry.owner_wait', { owner, waitMs }));
  events.on('notClaimed', (e) => log.warn('registry.not_claimed', e));
  events.on('claimError', (e) => log.error('registry.claim_error', e));
  events.on('reaped', ({ entry, result, leftover }) => {
    const count = result.terminated.length + result.killed.length;
    if (count > 0) onReaped(leftover ? 'boot' : 'shutdown', count);
    log.log('registry.reaped', { childPid: entry.pid, session: entry.session, leftover, ...result });
  });
  events.on('corruptFile', (e) => log.warn('registry.corrupt_file', e));
  events.on('writeError', (e) => log.error('registry.write_error', e));
  return openRegistry(paths.registry, {
    events,
    takeover: { waitMs: stopBoundMs(config), graceMs: config.killGraceMs },
  });
}

/** The registry once it is ours (or the wait for it has ended): backend spawns wait for this. */
export async function registryForSpawns(registry: Registry): Promise<Registry> {
  const state = registry.ownership.state;
  if (state === 'waiting' || state === 'claiming') await registry.claim().catch(() => undefined);
  return registry;
}

/**
 * How long an orderly shutdown may take before the daemon exits anyway: the drain, a kill grace
 * for the backends and one for the registry, and a margin. A successor waits this long for it.
 */
export function stopBoundMs(config: Config): number {
  return config.drainMs + config.killGraceMs * 2 + 10_000;
}
