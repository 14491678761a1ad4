// The storm's cold start: 100 guarded hooks at once on a cold machine (no worker yet: one spawns
// it, 99 wait) against 100 bare `node` fetch processes at once against a worker already running.
import { burst, workerCli, workerHome } from '../lib/worker.mjs';

export const title = 'storm cold start: 100 concurrent guarded hooks (cold) vs 100 bare fetch processes (warm)';
export const repeats = 1;

const N = 100;

export const cases = [
  {
    id: 'bare',
    label: `${N} bare node fetch processes, worker running`,
    kind: 'samples',
    trials: 5,
    warmup: 1,
    setup: async () => {
      const w = await workerHome();
      await w.start();
      const args = ['-e', `fetch(${JSON.stringify(`${w.url}/health`)}).then((r) => r.arrayBuffer())`];
      return { trial: () => burst(N, args), teardown: () => w.stop() };
    },
  },
  {
    id: 'cold',
    label: `${N} guarded hooks at once, no worker yet`,
    kind: 'samples',
    trials: 5,
    warmup: 1,
    setup: async () => {
      let w;
      return {
        trial: async () => {
          w = await workerHome();
          try {
            return await burst(N, [workerCli, 'hook', 'bench', ...w.args]);
          } finally {
            await w.stop();
          }
        },
      };
    },
  },
];

export function targets(r) {
  const ratio = r.cold.p50 / r.bare.p50;
  return [
    {
      text: `cold storm ${r.cold.p50.toFixed(0)} ms vs warm bare ${r.bare.p50.toFixed(0)} ms: ${ratio.toFixed(2)}x (target <= 1.5)`,
      pass: ratio <= 1.5,
      value: ratio,
    },
  ];
}
