// Dead-holder recovery: a launcher holding the spawn lock is SIGKILLed; how long until the next
// launcher gets it? spawn-mutex proves the holder dead by identity; plain proper-lockfile
// (stale: 10000) has to wait for the lock to go stale.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killAndWait, startNode } from '../lib/processes.mjs';

export const title = 'spawn-mutex: dead-holder recovery against plain proper-lockfile (stale: 10000)';
export const repeats = 1;

const holder = join(import.meta.dirname, '../fixtures/hold-lock.mjs');

function recovery(impl) {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spawnguard-bench-'));
    let n = 0;
    const takeLock =
      impl === 'spawnguard'
        ? await (async () => {
            const { ensureSingleton } = await import('@spawnguard/spawn-mutex');
            return async (lockPath) => {
              let spawned = false;
              const r = await ensureSingleton({
                lockPath,
                isHealthy: async () => spawned,
                spawn: () => {
                  spawned = true;
                },
                waitTimeoutMs: 60_000,
                staleMs: 10_000,
              });
              if (r.outcome !== 'spawned') throw new Error(`bench: expected to spawn, got ${r.outcome}`);
            };
          })()
        : await (async () => {
            const { default: lockfile } = await import('proper-lockfile');
            return async (lockPath) => {
              const release = await lockfile.lock(lockPath, {
                stale: 10_000,
                realpath: false,
                retries: { retries: 3000, minTimeout: 10, maxTimeout: 10, factor: 1 },
                onCompromised: () => {},
              });
              await release();
            };
          })();
    return {
      trial: async () => {
        const lockPath = join(dir, `spawn-${n++}`);
        const { child } = await startNode(holder, [impl, lockPath]);
        await killAndWait(child);
        const t = performance.now();
        await takeLock(lockPath);
        return performance.now() - t;
      },
      teardown: () => rmSync(dir, { recursive: true, force: true }),
    };
  };
}

export const cases = [
  {
    id: 'spawnguard',
    label: 'spawn-mutex (identity check)',
    kind: 'samples',
    trials: 10,
    warmup: 1,
    setup: recovery('spawnguard'),
  },
  {
    id: 'proper-lockfile',
    label: 'proper-lockfile (stale: 10000)',
    kind: 'samples',
    trials: 3,
    warmup: 0,
    setup: recovery('proper-lockfile'),
  },
];

export function targets(r) {
  const speedup = r['proper-lockfile'].p50 / r.spawnguard.p50;
  return [
    {
      text: `recovery ${r.spawnguard.p50.toFixed(0)} ms vs ${r['proper-lockfile'].p50.toFixed(0)} ms: ${speedup.toFixed(0)}x faster (target >= 50x)`,
      pass: speedup >= 50,
      value: speedup,
    },
  ];
}
