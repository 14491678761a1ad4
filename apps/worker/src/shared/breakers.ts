import { CircuitBreaker, fileStore } from '@spawnguard/circuit-breaker';
import type { Config } from '../config/config.js';

/**
 * The spawn breaker guards "start the daemon". Its state lives in a file in the home folder, so
 * every short-lived launcher (each hook is its own process) sees the same circuit: a daemon that
 * crashes at boot is started `threshold` times per cooldown in total, not once per hook.
 */
export function spawnBreaker(config: Config, spawnBreakerPath: string): CircuitBreaker {
  return new CircuitBreaker({
    name: 'spawn',
    failureThreshold: config.breakerThreshold,
    cooldownMs: config.breakerCooldownMs,
    store: fileStore(spawnBreakerPath),
  });
}

/** The helper breaker guards "connect to the helper" inside the daemon (one process: memory store). */
export function helperBreaker(config: Config): CircuitBreaker {
  return new CircuitBreaker({
    name: 'helper',
    failureThreshold: config.breakerThreshold,
    cooldownMs: config.breakerCooldownMs,
  });
}
