// MCP tool-call latency and throughput, same backend everywhere (server-everything's `echo`):
// a direct stdio connection, our host (@spawnguard/mcp-host) over Streamable HTTP and in memory,
// the worker's stdio bridge, supergateway and mcp-proxy. Every case at 1 client and at 16 (16 SDK
// clients, each its own session, all calling in a loop at once).
import { startWorkerHost } from '../lib/bridge.mjs';
import {
  callLoop,
  cleanupTemp,
  directClient,
  fetchFloorClient,
  httpClient,
  inMemoryClient,
  serverConfig,
  startFixture,
  startPeer,
  tempPath,
} from '../lib/mcp.mjs';
import { own } from '../lib/proc.mjs';

export const title = 'MCP tool call (server-everything `echo`): direct stdio vs our host vs supergateway vs mcp-proxy';
// 13 cases, each in its own process with its own servers: 2 interleaved rounds keep the suite near
// 2.5 minutes on this shared 2-core machine (BENCH_REPEATS=5 for a quiet machine).
export const repeats = 2;
// CPU per call (user + system, µs): in the bench process (the SDK clients; and the host itself in
// the in-memory case) and in every other process of the case (proxy, bridges, backends). Wall time
// on a loaded 2-core machine is mostly waiting for a core; CPU per call is what a core is spent on.
export const columns = [
  { key: 'callsPerSec', title: 'calls/s', unit: '/s' },
  { key: 'backends', title: 'backend processes', unit: 'count' },
  { key: 'clientCpuUs', title: 'client CPU/call', unit: 'us' },
  { key: 'serverCpuUs', title: 'server CPU/call', unit: 'us' },
];

// Fixed counts, capped in time (this machine is shared): 1 client makes up to 1000 timed calls
// (at most 1.5 s) after 100 untimed ones; each of 16 clients up to 100 (at most 2 s) after 10.
const LOOP = {
  1: { calls: 1000, warmup: 100, capMs: 1500 },
  16: { calls: 100, warmup: 10, capMs: 2000 },
};

async function measure(clients, n, counts, serverPids) {
  const { callsPerSec, clientCpuUsPerCall, serverCpuUsPerCall, ...stats } = await callLoop(
    clients.map((c) => c.client),
    LOOP[n],
    serverPids,
  );
  const { backends, processes } = counts();
  stats.extra = {
    callsPerSec,
    backends,
    processes,
    clientCpuUs: clientCpuUsPerCall,
    serverCpuUs: serverCpuUsPerCall,
  };
  return stats;
}

const connectAll = (n, connect) => Promise.all(Array.from({ length: n }, connect));
const closeAll = (clients) => Promise.all(clients.map((c) => c.close()));

const cases = [
  {
    id: 'fetch-floor-1',
    label: 'floor: bare fetch POST to node:http (no MCP), 1 client',
    kind: 'run',
    setup: async () => {
      const server = await startFixture('json-echo-server.mjs');
      const clients = [{ client: fetchFloorClient(`http://127.0.0.1:${server.port}/`) }];
      return {
        run: () =>
          measure(
            clients,
            1,
            () => ({ backends: 0, processes: 1 }),
            () => [server.child.pid],
          ),
        teardown: () => server.stop(),
      };
    },
  },
];
for (const n of [1, 16]) {
  const s = n === 1 ? '1 client' : `${n} clients`;
  cases.push(
    {
      id: `direct-${n}`,
      label: `direct stdio, ${s}${n > 1 ? ' (one server each)' : ''}`,
      kind: 'run',
      setup: async () => {
        const clients = await connectAll(n, () => directClient());
        return {
          run: () =>
            measure(
              clients,
              n,
              () => ({ backends: clients.length, processes: clients.length }),
              () => clients.map((c) => c.pid),
            ),
          teardown: async () => {
            await closeAll(clients);
            cleanupTemp();
          },
        };
      },
    },
    {
      id: `host-memory-${n}`,
      label: `our host in memory (no HTTP), ${s}`,
      kind: 'run',
      setup: async () => {
        // Imported here, not at the top: run.mjs imports every suite, and only this case's process runs the host.
        const { createMcpHost } = await import('@spawnguard/mcp-host');
        const host = createMcpHost({
          stateDir: tempPath('host-state'),
          servers: { everything: serverConfig('everything') },
        });
        const clients = await connectAll(n, () => inMemoryClient(host));
        for (const pid of host.stats()[0].pids) own(pid);
        return {
          run: () =>
            measure(
              clients,
              n,
              () => {
                const [stats] = host.stats();
                return { backends: stats.pids.length, processes: 1 + stats.pids.length };
              },
              () => host.stats()[0].pids,
            ),
          teardown: async () => {
            await closeAll(clients);
            await host.close();
            cleanupTemp();
          },
        };
      },
    },
    {
      id: `host-http-${n}`,
      label: `our host, Streamable HTTP, ${s}`,
      kind: 'run',
      setup: () => peerCase('host', n),
    },
    {
      id: `bridge-${n}`,
      label: `our host through the stdio bridge, ${s}`,
      kind: 'run',
      setup: async () => {
        const worker = await startWorkerHost();
        const clients = await connectAll(n, () => worker.bridge());
        return {
          run: () =>
            measure(
              clients,
              n,
              () => ({ backends: worker.backends().length, processes: worker.processCount() + clients.length }),
              () => [...clients.map((c) => c.pid), ...worker.treePids()],
            ),
          teardown: async () => {
            await closeAll(clients);
            await worker.stop();
            cleanupTemp();
          },
        };
      },
    },
    {
      id: `supergateway-${n}`,
      label: `supergateway --stateful, ${s}`,
      kind: 'run',
      setup: () => peerCase('supergateway', n),
    },
    {
      id: `mcp-proxy-${n}`,
      label: `mcp-proxy, ${s}`,
      kind: 'run',
      setup: () => peerCase('mcp-proxy', n),
    },
  );
}

export { cases };

async function peerCase(kind, n) {
  const peer = await startPeer(kind);
  try {
    const clients = await connectAll(n, () => httpClient(peer.url()));
    return {
      run: () =>
        measure(
          clients,
          n,
          () => ({ backends: peer.backends().length, processes: peer.processCount() }),
          peer.treePids,
        ),
      teardown: async () => {
        await closeAll(clients);
        await peer.stop();
        cleanupTemp();
      },
    };
  } catch (error) {
    await peer.stop();
    throw error;
  }
}

const ms = (v) => `${v.toFixed(2)} ms`;
const rate = (r) => r.extra.callsPerSec;

export function targets(r) {
  const out = [];
  const added = r['host-http-1'].p50 - r['direct-1'].p50;
  const inMemory = r['host-memory-1'].p50 - r['direct-1'].p50;
  out.push({
    text:
      `p50 added by the host over HTTP at 1 client: ${ms(added)} (host ${ms(r['host-http-1'].p50)} - direct ${ms(r['direct-1'].p50)}; ` +
      `target <= 0.5 ms); in memory it adds ${ms(inMemory)}; supergateway adds ${ms(r['supergateway-1'].p50 - r['direct-1'].p50)}, ` +
      `mcp-proxy ${ms(r['mcp-proxy-1'].p50 - r['direct-1'].p50)}`,
    pass: added <= 0.5,
    value: added,
  });
  for (const peer of ['supergateway', 'mcp-proxy']) {
    const ratio = rate(r['host-http-16']) / rate(r[`${peer}-16`]);
    out.push({
      text:
        `16 clients, host over HTTP ${rate(r['host-http-16']).toFixed(0)} calls/s vs ${peer} ${rate(r[`${peer}-16`]).toFixed(0)} calls/s: ` +
        `${ratio.toFixed(2)}x (target >= 2; backend processes: host ${r['host-http-16'].extra.backends}, ${peer} ${r[`${peer}-16`].extra.backends})`,
      pass: ratio >= 2,
      value: ratio,
    });
  }
  const bridge = r['bridge-16'];
  if (bridge.unavailable) {
    out.push({
      text: `16 clients through the bridge vs supergateway and mcp-proxy (>= 2x): ${bridge.unavailable}`,
      pass: null,
    });
  } else {
    const ratio = Math.min(rate(bridge) / rate(r['supergateway-16']), rate(bridge) / rate(r['mcp-proxy-16']));
    out.push({
      text:
        `16 clients through the bridge ${rate(bridge).toFixed(0)} calls/s: ${ratio.toFixed(2)}x the faster of supergateway and ` +
        `mcp-proxy (target >= 2; added p50 at 1 client: ${ms(r['bridge-1'].p50 - r['direct-1'].p50)})`,
      pass: ratio >= 2,
      value: ratio,
    });
  }
  return out;
}
