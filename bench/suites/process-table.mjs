// listProcesses() against ps-list, on the machine as it is and with 500 extra idle processes.
import childProcess from 'node:child_process';
import { syncBuiltinESMExports } from 'node:module';
import { promisify } from 'node:util';
import { startIdleProcesses } from '../lib/idle-processes.mjs';

export const title = 'process-table: listProcesses() against ps-list';

/** Counts child processes started through node:child_process while the case runs. */
function countChildProcesses() {
  const counter = { n: 0 };
  for (const name of ['spawn', 'execFile', 'exec', 'spawnSync', 'execFileSync', 'execSync']) {
    const original = childProcess[name];
    const wrapped = function (...args) {
      counter.n++;
      return original.apply(this, args);
    };
    // execFile and exec promisify to {stdout, stderr} through a custom hook; keep it, counted.
    const custom = original[promisify.custom];
    if (custom) {
      wrapped[promisify.custom] = function (...args) {
        counter.n++;
        return custom.apply(this, args);
      };
    }
    childProcess[name] = wrapped;
  }
  syncBuiltinESMExports();
  return counter;
}

function listing(lib, extra) {
  return async () => {
    const counter = countChildProcesses();
    const idle = extra ? startIdleProcesses(extra, `bench-${process.pid}`) : null;
    const before = counter.n;
    const list =
      lib === 'spawnguard'
        ? (await import('@spawnguard/process-table')).listProcesses
        : (await import('ps-list')).default;
    let seen = 0;
    return {
      trial: async () => {
        const t = performance.now();
        seen = (await list()).length;
        return performance.now() - t;
      },
      extra: () => ({ processesListed: seen, childProcessesSpawned: counter.n - before }),
      teardown: () => idle?.stop(),
    };
  };
}

const trials = 60;
export const cases = [
  {
    id: 'spawnguard',
    label: '@spawnguard/process-table (as is)',
    kind: 'samples',
    trials,
    setup: listing('spawnguard', 0),
  },
  { id: 'ps-list', label: 'ps-list (as is)', kind: 'samples', trials, setup: listing('ps-list', 0) },
  {
    id: 'spawnguard-500',
    label: '@spawnguard/process-table (+500 idle)',
    kind: 'samples',
    trials,
    setup: listing('spawnguard', 500),
  },
  { id: 'ps-list-500', label: 'ps-list (+500 idle)', kind: 'samples', trials, setup: listing('ps-list', 500) },
];

export function targets(r) {
  const ratio = (a, b) => r[a].p50 / r[b].p50;
  return [
    {
      text: `as is: ${ratio('spawnguard', 'ps-list').toFixed(2)}x ps-list's time (target <= 0.5; ${r.spawnguard.extra.processesListed} processes)`,
      pass: ratio('spawnguard', 'ps-list') <= 0.5,
      value: ratio('spawnguard', 'ps-list'),
    },
    {
      text: `+500 idle: ${ratio('spawnguard-500', 'ps-list-500').toFixed(2)}x ps-list's time (target <= 0.5; ${r['spawnguard-500'].extra.processesListed} processes)`,
      pass: ratio('spawnguard-500', 'ps-list-500') <= 0.5,
      value: ratio('spawnguard-500', 'ps-list-500'),
    },
    {
      text: `child processes spawned by listProcesses on Linux: ${r.spawnguard.extra.childProcessesSpawned + r['spawnguard-500'].extra.childProcessesSpawned} (target 0; ps-list spawned ${r['ps-list'].extra.childProcessesSpawned})`,
      pass: r.spawnguard.extra.childProcessesSpawned + r['spawnguard-500'].extra.childProcessesSpawned === 0,
      value: r.spawnguard.extra.childProcessesSpawned,
    },
  ];
}
