// Memory of 10 editor sessions with the same 2 MCP servers in their config (server-everything and
// server-memory), each session connected to both and having made one tool call on each: 20 direct
// copies (what editors do today) against our host (2 backends) and the two npm peers.
import { callOnce, cleanupTemp, directClient, httpClient, startPeer } from '../lib/mcp.mjs';
import { rssKb } from '../lib/proc.mjs';

export const title = 'MCP memory: 10 sessions x 2 servers (server-everything, server-memory), total RSS';
// One run: RSS does not wait for a core the way time does, and 20 server starts per case are the
// slow part of this suite on a shared 2-core machine (BENCH_REPEATS overrides).
export const repeats = 1;
export const columns = [
  { key: 'processes', title: 'processes', unit: 'count' },
  { key: 'backends', title: 'backend processes', unit: 'count' },
];

const SESSIONS = 10;
const NAMES = ['everything', 'memory'];
const SETTLE_MS = 2000; // after the calls, before reading RSS (same for every case)

const settle = () => new Promise((r) => setTimeout(r, SETTLE_MS));
const mb = (kb) => kb / 1024;

/** One measurement: RSS in MB as p50 and p99 (a single reading), with counts. */
const reading = (totalKb, processes, backends) => ({
  unit: 'MB',
  n: 1,
  p50: mb(totalKb),
  p99: mb(totalKb),
  extra: { processes, backends },
});

/** 10 sessions, each with a connection to both servers, made with `connect(name)`; one call each. */
async function sessions(connect) {
  const all = [];
  try {
    for (let i = 0; i < SESSIONS; i++) {
      const pair = await Promise.all(NAMES.map(async (name) => ({ name, ...(await connect(name)) })));
      all.push(...pair);
    }
    await Promise.all(all.map((c) => callOnce(c.client, c.name)));
  } catch (error) {
    await Promise.all(all.map((c) => c.close()));
    throw error;
  }
  return all;
}

function peerCase(kind) {
  return async () => {
    const peer = await startPeer(kind, NAMES);
    let clients = [];
    try {
      clients = await sessions((name) => httpClient(peer.url(name)));
    } catch (error) {
      await peer.stop();
      throw error;
    }
    return {
      run: async () => {
        await settle();
        return reading(peer.rssKb(), peer.processCount(), peer.backends().length);
      },
      teardown: async () => {
        await Promise.all(clients.map((c) => c.close()));
        await peer.stop();
        cleanupTemp();
      },
    };
  };
}

export const cases = [
  {
    id: 'direct',
    label: '20 direct stdio copies (10 x 2), their RSS',
    kind: 'run',
    setup: async () => {
      // Started one session at a time (two servers at once), as editors open: 20 at once on this
      // 2-core machine only makes the setup slower, not the copies smaller.
      const clients = await sessions((name) => directClient(name));
      return {
        run: async () => {
          await settle();
          const total = clients.reduce((sum, c) => sum + rssKb(c.pid), 0);
          return reading(total, clients.length, clients.length);
        },
        teardown: async () => {
          await Promise.all(clients.map((c) => c.close()));
          cleanupTemp();
        },
      };
    },
  },
  {
    id: 'host',
    label: 'our host (host process + its backends)',
    kind: 'run',
    setup: peerCase('host'),
  },
  {
    id: 'supergateway',
    label: 'supergateway --stateful, one per server (+ children)',
    kind: 'run',
    setup: peerCase('supergateway'),
  },
  {
    id: 'mcp-proxy',
    label: 'mcp-proxy, one per server (+ children)',
    kind: 'run',
    setup: peerCase('mcp-proxy'),
  },
];

export function targets(r) {
  const ratio = r.host.p50 / r.direct.p50;
  return [
    {
      text:
        `10 x 2 through the host ${r.host.p50.toFixed(0)} MB (${r.host.extra.processes} processes) vs 20 direct copies ` +
        `${r.direct.p50.toFixed(0)} MB: ${ratio.toFixed(2)}x (target <= 0.2); supergateway ${r.supergateway.p50.toFixed(0)} MB ` +
        `(${r.supergateway.extra.processes} processes), mcp-proxy ${r['mcp-proxy'].p50.toFixed(0)} MB (${r['mcp-proxy'].extra.processes})`,
      pass: ratio <= 0.2,
      value: ratio,
    },
  ];
}
