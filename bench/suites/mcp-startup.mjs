// Time from spawning an MCP stdio command to its first tool result (initialize + `echo`), as an
// editor session pays it: server-everything launched directly, against the worker's stdio bridge
// (`spawnguard-worker mcp everything`, issue 11) in front of a warm host (daemon running, backend
// started). A new Streamable HTTP session on our warm host is shown for reference.
import { startWorkerHost } from '../lib/bridge.mjs';
import { callOnce, cleanupTemp, directClient, httpClient, startPeer } from '../lib/mcp.mjs';

export const title = 'MCP first tool result: spawn server-everything directly vs the stdio bridge to a warm host';
export const repeats = 3;

async function firstResult(connect) {
  const t = performance.now();
  const c = await connect();
  try {
    await callOnce(c.client);
    return performance.now() - t;
  } finally {
    await c.close();
  }
}

export const cases = [
  {
    id: 'direct',
    label: 'spawn server-everything, initialize, first call',
    kind: 'samples',
    trials: 6,
    warmup: 1,
    setup: async () => ({ trial: () => firstResult(() => directClient()), teardown: cleanupTemp }),
  },
  {
    id: 'bridge',
    label: 'spawn the stdio bridge (warm host), initialize, first call',
    kind: 'samples',
    trials: 6,
    warmup: 1,
    setup: async () => {
      const worker = await startWorkerHost();
      await firstResult(() => worker.bridge()); // the backend is started: the host is warm
      return {
        trial: () => firstResult(() => worker.bridge()),
        teardown: async () => {
          await worker.stop();
          cleanupTemp();
        },
      };
    },
  },
  {
    id: 'host-http',
    label: 'new Streamable HTTP session on our warm host, first call',
    kind: 'samples',
    trials: 6,
    warmup: 1,
    setup: async () => {
      const peer = await startPeer('host');
      await firstResult(() => httpClient(peer.url()));
      return {
        trial: () => firstResult(() => httpClient(peer.url())),
        teardown: async () => {
          await peer.stop();
          cleanupTemp();
        },
      };
    },
  },
];

export function targets(r) {
  if (r.bridge.unavailable) {
    return [
      {
        text: `bridge spawn to first result <= 0.5x direct (${r.direct.p50.toFixed(0)} ms): ${r.bridge.unavailable}`,
        pass: null,
      },
    ];
  }
  const ratio = r.bridge.p50 / r.direct.p50;
  return [
    {
      text: `bridge spawn to first result ${r.bridge.p50.toFixed(0)} ms vs direct ${r.direct.p50.toFixed(0)} ms: ${ratio.toFixed(2)}x (target <= 0.5)`,
      pass: ratio <= 0.5,
      value: ratio,
    },
  ];
}
