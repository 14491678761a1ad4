import type { Config } from '../config/config.js';
import { ensureHome, HomeError, type HomePaths } from '../config/home.js';
import { readServers, type ServersConfig, ServersConfigError } from '../config/servers-config.js';
import { createLogger } from '../shared/log.js';
import { ConfigWatcher, watchedFiles } from './config-watch.js';
import { defendedMode } from './defended-mode.js';
import { WorkerDaemon } from './worker-daemon.js';

/**
 * The daemon, in boot order:
 *   0. the servers config is read and checked: a bad one exits 2 before anything else;
 *   1. bind-or-die on the literal 127.0.0.1: the loser exits 0 here, before any background work;
 *   2. only then write the pid/identity file and the token (0600, in the 0700 home);
 *   3. process-registry with takeover: wait (bounded, by identity) for a previous daemon that is still
 *      draining, then take the file over and kill what it left running (a SIGKILLed one's leftovers);
 *      every backend spawn waits for that claim;
 *   4. serve: the MCP host (one backend per configured server, started on first use) at /mcp/<name>,
 *      and /search through it on the built-in demo server.
 * SIGTERM/SIGINT: stop accepting, drain (bounded), close the host (every backend tree killed),
 *   registry.shutdown(), remove the pid file (the token stays: clients configured with it keep
 *   working). A second SIGTERM/SIGINT: SIGKILL every recorded tree at once
 *   (registry.shutdown({ force })) and exit.
 * SIGHUP: reload the servers config in place (same pid, port and token): only changed servers
 *   restart, removed ones stop; the spawn breaker is left to its cooldown; the token is not re-read.
 *   SIGHUPs during a reload (or the boot) make exactly one more reload once it is over.
 * Live reload (config-watch.ts, from step 2 on): a change to the servers file or <home>/env is
 *   applied as a SIGHUP would be, once the files have been quiet for SPAWNGUARD_WATCH_DEBOUNCE_MS.
 * --naive (naive/naive.ts, the daemon's other mode: shared/daemon-mode.ts): every step above that is
 *   a defence is skipped.
 */
export async function runDaemon(config: Config): Promise<number> {
  // A SIGHUP before the daemon's own handlers are in (boot installs them) would end the process
  // (its default action), and the config read below may be stale by then: remember it, reload later.
  let hangupBeforeBoot = false;
  const onEarlyHangup = () => {
    hangupBeforeBoot = true;
  };
  process.on('SIGHUP', onEarlyHangup);
  let paths: HomePaths;
  try {
    paths = ensureHome(config.home);
  } catch (error) {
    if (error instanceof HomeError) {
      process.stderr.write(`spawnguard-worker: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
  // The daemon never keeps the folder it was started from busy (a project, a mount).
  process.chdir(paths.dir);
  const log = createLogger({
    file: paths.log,
    maxBytes: config.logMaxBytes,
    base: { pid: process.pid, ...(config.naive ? { naive: true } : {}) },
    echo: process.stderr.isTTY ? process.stderr : undefined,
  });
  if (process.env.SPAWNGUARD_DAEMON_CRASH === 'always') {
    // Drill for the spawn breaker: a daemon that dies at boot, before it binds.
    log.error('boot.crash', { reason: 'SPAWNGUARD_DAEMON_CRASH=always' });
    process.stderr.write('spawnguard-worker: crashing at boot (SPAWNGUARD_DAEMON_CRASH=always)\n');
    return 1;
  }
  // Live reload: the files' state is taken before they are read, so an edit made from here on is seen.
  const watcher =
    config.watchConfig && !config.naive
      ? new ConfigWatcher({ files: watchedFiles(config, paths), debounceMs: config.watchDebounceMs, log })
      : null;
  watcher?.snapshot();
  let servers: ServersConfig;
  try {
    servers = readServers(config, paths);
  } catch (error) {
    if (!(error instanceof ServersConfigError)) throw error;
    log.error('boot.bad_config', { error });
    process.stderr.write(`spawnguard-worker: ${error.message}\n`);
    return 2;
  }
  for (const warning of servers.warnings) log.warn('config.warning', { warning });
  if (config.bootDelayMs > 0) {
    // Drill: a slow boot, before the port is taken, widens the window in which hooks find nothing.
    log.log('boot.delay', { ms: config.bootDelayMs });
    await new Promise((resolve) => setTimeout(resolve, config.bootDelayMs));
  }
  // The one place that tells the modes apart: --naive's lives in naive/ (loaded only when asked for).
  const mode = config.naive
    ? (await import('../naive/naive.js')).naiveMode(config, servers.servers, log)
    : defendedMode(config, paths, log);
  const daemon = new WorkerDaemon(config, paths, log, servers, mode, watcher);
  process.off('SIGHUP', onEarlyHangup);
  if (hangupBeforeBoot) void daemon.reload(); // queued: it runs once the boot is over
  try {
    await daemon.boot();
  } catch (error) {
    log.error('boot.failed', { error });
    process.stderr.write(`spawnguard-worker: daemon failed to start: ${(error as Error).message}\n`);
    return 1;
  }
  return -1; // keeps running on its server, backends and signal handlers
}
