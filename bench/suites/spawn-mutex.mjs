// spawn-mutex: the fast path every hook takes against a live daemon, and the uncontended
// lock + release, each against its plain alternative.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killAndWait, startNode } from '../lib/processes.mjs';

export const title = 'spawn-mutex: fast path against a live daemon; uncontended lock + release';

async function liveDaemon() {
  const { child, line } = await startNode(join(import.meta.dirname, '../fixtures/health-server.mjs'));
  const url = `http://127.0.0.1:${line.trim()}/health`;
  const isHealthy = async () => {
    const res = await fetch(url);
    await res.arrayBuffer();
    return res.ok;
  };
  return { isHealthy, stop: () => killAndWait(child) };
}

function tempLock() {
  const dir = mkdtempSync(join(tmpdir(), 'spawnguard-bench-'));
  return { lockPath: join(dir, 'spawn'), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export const cases = [
  {
    id: 'fetch',
    label: 'bare health fetch',
    setup: async () => {
      const d = await liveDaemon();
      return { fn: () => d.isHealthy(), teardown: d.stop };
    },
  },
  {
    id: 'fast-path',
    label: 'ensureSingleton fast path (live daemon)',
    setup: async () => {
      const { ensureSingleton } = await import('@spawnguard/spawn-mutex');
      const d = await liveDaemon();
      const t = tempLock();
      const options = {
        lockPath: t.lockPath,
        isHealthy: d.isHealthy,
        spawn: () => {
          throw new Error('bench: the fast path must not spawn');
        },
        waitTimeoutMs: 5000,
      };
      return {
        fn: () => ensureSingleton(options),
        teardown: async () => {
          await d.stop();
          t.remove();
        },
      };
    },
  },
  {
    id: 'lock-spawnguard',
    label: 'acquireSpawnLock + release (uncontended)',
    setup: async () => {
      const { acquireSpawnLock } = await import('@spawnguard/spawn-mutex');
      const t = tempLock();
      return {
        fn: async () => {
          const release = await acquireSpawnLock(t.lockPath);
          await release();
        },
        teardown: t.remove,
      };
    },
  },
  {
    id: 'lock-proper-lockfile',
    label: 'proper-lockfile lock + release (uncontended)',
    setup: async () => {
      const { default: lockfile } = await import('proper-lockfile');
      const t = tempLock();
      return {
        fn: async () => {
          const release = await lockfile.lock(t.lockPath, { realpath: false, stale: 10_000 });
          await release();
        },
        teardown: t.remove,
      };
    },
  },
];

export function targets(r) {
  const fast = r['fast-path'].p50 / r.fetch.p50;
  const lock = r['lock-spawnguard'].p50 / r['lock-proper-lockfile'].p50;
  return [
    {
      text: `fast path ${fast.toFixed(2)}x a bare health fetch (target <= 1.2)`,
      pass: fast <= 1.2,
      value: fast,
    },
    {
      text: `uncontended lock + release ${lock.toFixed(2)}x plain proper-lockfile (no target; the owner record costs one extra write)`,
      pass: true,
      value: lock,
    },
  ];
}
