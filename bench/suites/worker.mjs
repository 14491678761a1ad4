// apps/worker: what a hook costs its host against a running worker, and what the idle daemon costs.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { once, rssMb, workerCli, workerHome } from '../lib/worker.mjs';

export const title = 'apps/worker: a hook process vs a bare fetch process; idle daemon memory';

// The bare client reads the token and POSTs once; the hook also has the worker prove it holds the
// token first (one more loopback request), so the comparison includes the cost of that check.
const bareFetch = (url, home) => [
  '-e',
  `const token = require('node:fs').readFileSync(${JSON.stringify(join(home, 'token'))}, 'utf8').trim(); fetch(${JSON.stringify(`${url}/events`)}, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer ' + token }, body: '{"event":"bench"}' }).then((r) => r.arrayBuffer())`,
];

function processCase(kind) {
  return async () => {
    const w = await workerHome();
    await w.start();
    const args = kind === 'hook' ? [workerCli, 'hook', 'bench', ...w.args] : bareFetch(w.url, w.home);
    return { trial: () => once(args), teardown: () => w.stop() };
  };
}

export const cases = [
  {
    id: 'bare',
    label: 'bare `node -e` one fetch (whole process)',
    kind: 'samples',
    trials: 30,
    setup: processCase('bare'),
  },
  {
    id: 'hook',
    label: '`spawnguard-worker hook` (whole process)',
    kind: 'samples',
    trials: 30,
    setup: processCase('hook'),
  },
  {
    id: 'rss',
    label: 'idle daemon RSS (MB), 3 s after start (and again 3 s after 50 searches)',
    kind: 'samples',
    unit: 'MB',
    trials: 1,
    warmup: 0,
    setup: async () => {
      const w = await workerHome();
      await w.start();
      let helper = 0;
      let afterSearches = 0;
      const idle = () => new Promise((resolve) => setTimeout(resolve, 3000));
      return {
        trial: async () => {
          await idle();
          const atBoot = rssMb(w.pid());
          // The MCP client is loaded at boot, so a daemon that has served searches must stay under too.
          for (let i = 0; i < 50; i++) {
            const res = await fetch(`${w.url}/search?q=lock%20${i}`, {
              headers: { authorization: `Bearer ${readFileSync(join(w.home, 'token'), 'utf8').trim()}` },
            });
            if (!res.ok) throw new Error(`bench: /search answered ${res.status}`);
            await res.arrayBuffer();
          }
          await idle();
          afterSearches = rssMb(w.pid());
          // The helper (the built-in MCP server) starts with the first search, not at boot.
          const registry = JSON.parse(readFileSync(join(w.home, 'registry.json'), 'utf8'));
          const helperPid = registry.entries?.[0]?.pid;
          if (helperPid) helper = rssMb(helperPid);
          return atBoot;
        },
        extra: () => ({ helperRssMb: helper, afterSearchesMb: afterSearches }),
        teardown: () => w.stop(),
      };
    },
  },
];

export function targets(r) {
  const ratio = r.hook.p50 / r.bare.p50;
  return [
    {
      text: `hook process ${r.hook.p50.toFixed(0)} ms vs bare fetch process ${r.bare.p50.toFixed(0)} ms: ${ratio.toFixed(2)}x (target <= 1.15)`,
      pass: ratio <= 1.15,
      value: ratio,
    },
    {
      text: `idle daemon RSS ${r.rss.p50.toFixed(1)} MB, ${r.rss.extra.afterSearchesMb.toFixed(1)} MB after 50 searches (target < 60 MB; its MCP helper: ${r.rss.extra.helperRssMb.toFixed(1)} MB more)`,
      pass: r.rss.p50 < 60 && r.rss.extra.afterSearchesMb < 60,
      value: r.rss.p50,
    },
  ];
}
