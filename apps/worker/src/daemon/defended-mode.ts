import type { Server } from 'node:http';
import type { Config } from '../config/config.js';
import type { HomePaths } from '../config/home.js';
import { spawnBreaker } from '../shared/breakers.js';
import type { DaemonMode } from '../shared/daemon-mode.js';
import type { Logger } from '../shared/log.js';
import { bindWorker } from './daemon-server.js';
import { openWorkerRegistry } from './registry.js';

/**
 * The defended daemon's boot steps: bind-or-die (the loser exits 0 in there), then the registry
 * (takeover, leftovers reaped in the background) and the spawn breaker; the MCP host serves.
 */
export function defendedMode(config: Config, paths: HomePaths, log: Logger): DaemonMode {
  return {
    naive: false,
    async bind(server: Server) {
      await bindWorker(server, config, paths, log);
      return true;
    },
    async start(hooks) {
      // 3. The registry: never waits here (a predecessor still draining is waited for in the
      // background, and every backend spawn waits for that claim, so nothing starts next to its leftovers).
      const registry = await openWorkerRegistry({
        config,
        paths,
        log,
        onReaped: hooks.onReaped,
        onClaimed: hooks.onClaimed,
      });
      log.log('boot.registry', { ownership: registry.ownership });
      const breaker = spawnBreaker(config, paths.spawnBreaker);
      hooks.onBreaker(breaker);
      if (hooks.isStopping()) {
        await registry.shutdown({ graceMs: config.killGraceMs }).catch(() => null);
        return null;
      }
      return { registry, spawnBreaker: breaker, backends: hooks.hosted, ready() {} };
    },
  };
}
