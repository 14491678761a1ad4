import type { Server } from 'node:http';
import type { Registry } from '@spawnguard/process-registry';
import type { Config } from '../config/config.js';
import type { Logger } from '../shared/log.js';
import { stopBoundMs } from './registry.js';

/** What stopping needs from the daemon. */
export interface Stoppable {
  readonly config: Config;
  readonly log: Logger;
  readonly server: Server;
  readonly registry: Registry | null;
  /** Requests still being served. */
  readonly active: number;
  /** Resolves when a SIGHUP reload in progress has ended. */
  readonly reloading: Promise<void>;
  /** Closes the MCP host (every backend tree killed) or the naive copies. */
  closeHosts(): Promise<void>;
  /** Removes the files that point at this daemon (the token stays). */
  removeFiles(): void;
}

export interface SignalHandlers {
  isStopping(): boolean;
  stop(reason: string): void;
  forceExit(signal: 'SIGTERM' | 'SIGINT'): void;
  reload(): void;
  log: Logger;
}

/**
 * The first SIGTERM/SIGINT is an orderly shutdown; one that arrives while stopping (a second
 * Ctrl-C, an impatient service manager) must not wait for the drain: it forces the exit. SIGHUP
 * reloads the servers config. Installed first at boot: a SIGTERM during boot still ends in order.
 */
export function installSignals(handlers: SignalHandlers): void {
  const onStop = (signal: 'SIGTERM' | 'SIGINT') => {
    if (handlers.isStopping()) handlers.forceExit(signal);
    else handlers.stop(signal);
  };
  process.on('SIGTERM', () => onStop('SIGTERM'));
  process.on('SIGINT', () => onStop('SIGINT'));
  process.on('SIGHUP', () => handlers.reload());
  process.on('uncaughtException', (error) => {
    handlers.log.error('uncaught_exception', { error });
    handlers.stop('uncaught exception');
  });
  process.on('unhandledRejection', (error) => handlers.log.error('unhandled_rejection', { error }));
}

/**
 * Orderly: stop accepting, drain (bounded by drainMs), close the hosts, then registry.shutdown()
 * (every recorded tree: SIGTERM, grace, SIGKILL), remove the files, exit 0. Whatever hangs, the
 * process exits 1 after stopBoundMs.
 */
export async function stopInOrder(daemon: Stoppable, reason: string): Promise<never> {
  const { config, log, server } = daemon;
  const bound = stopBoundMs(config);
  setTimeout(() => {
    log.error('shutdown.forced', { afterMs: bound });
    process.exit(1);
  }, bound).unref();
  log.log('shutdown.begin', { reason, active: daemon.active });
  server.close();
  server.closeIdleConnections();
  const deadline = Date.now() + config.drainMs;
  while (daemon.active > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  if (daemon.active > 0) log.warn('shutdown.drain_timeout', { active: daemon.active });
  server.closeAllConnections();
  await daemon.reloading;
  try {
    await daemon.closeHosts();
  } catch (error) {
    log.error('shutdown.host_failed', { error });
  }
  if (daemon.registry) {
    const result = await daemon.registry.shutdown({ graceMs: config.killGraceMs }).catch((error: unknown) => {
      log.error('shutdown.registry_failed', { error });
      return null;
    });
    if (result) log.log('shutdown.registry', { reaped: result.reaped.length, failed: result.failed.length });
  }
  daemon.removeFiles();
  log.log('shutdown.done', { reason });
  process.exit(0);
}

/**
 * A second signal: every recorded tree gets SIGKILL at once (start tokens still checked; a
 * graceful registry shutdown in progress is escalated), the pid file is removed, and the process
 * exits within about a second, whatever the drain or a backend close is still waiting for.
 */
export async function forceExit(daemon: Stoppable, signal: 'SIGTERM' | 'SIGINT'): Promise<never> {
  const { log } = daemon;
  const code = 128 + (signal === 'SIGINT' ? 2 : 15);
  log.warn('shutdown.forced_by_signal', { signal });
  setTimeout(() => process.exit(code), 1500).unref();
  daemon.server.closeAllConnections();
  const forced = daemon.registry?.shutdown({ force: true }).catch((error: unknown) => {
    log.error('shutdown.force_failed', { error });
    return null;
  });
  const result = await Promise.race([forced, new Promise<null>((r) => setTimeout(() => r(null), 1200).unref())]);
  if (result) log.log('shutdown.forced', { killed: result.reaped.length, failed: result.failed.length });
  daemon.removeFiles();
  process.exit(code);
}
