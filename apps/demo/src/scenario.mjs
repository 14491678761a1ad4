// One side of the demo: a temp home and a free port, a storm of launchers against apps/worker
// (naive or guarded), a shutdown, then a count of what was left, and cleanup by pid.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { killTree } from '@spawnguard/orphan-reaper';
import { listProcesses } from '@spawnguard/process-table';
import { percentile, runStorm } from '@spawnguard/storm';

const require = createRequire(import.meta.url);
export const workerCli = join(dirname(require.resolve('@spawnguard/worker/package.json')), 'dist', 'cli.js');
const launcher = join(import.meta.dirname, 'launcher.mjs');

export async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export const quote = (s) => `'${String(s).replaceAll("'", `'\\''`)}'`;

/**
 * Runs the storm against one worker mode and returns the numbers for the before/after table plus
 * the raw storm result (for the HTML report). Everything it started is gone when it resolves.
 * @param {{ naive: boolean, concurrency?: number, rounds?: number, signal?: AbortSignal,
 *   onProgress?: (p: unknown) => void }} options
 */
export async function runScenario({ naive, concurrency = 30, rounds = 1, signal, onProgress } = {}) {
  const home = mkdtempSync(join(tmpdir(), `spawnguard-demo-${naive ? 'naive' : 'guarded'}-`));
  const out = join(home, 'launchers');
  mkdirSync(out);
  const port = String(await freePort());
  const common = ['--home', home, '--port', port];
  try {
    const result = await runStorm({
      command: process.execPath,
      args: [launcher, '--cli', workerCli, ...common, '--out', out, ...(naive ? ['--naive'] : [])],
      concurrency,
      rounds,
      // Every process of this run carries its unique home folder in argv: that is the marker.
      watch: {
        workers: new RegExp(`\\bdaemon --home ${escapeRegExp(home)}\\b`),
        helpers: new RegExp(`--spawnguard-helper --home ${escapeRegExp(home)}\\b`),
      },
      env: naive ? { SPAWNGUARD_NAIVE_TTL_MS: '30000' } : {},
      cleanup: [process.execPath, workerCli, 'stop', ...common].map(quote).join(' '),
      settleMs: 1500,
      // Daemons and helpers started detached can appear after their launchers exit on a loaded machine.
      observeMs: 3000,
      timeoutMs: 120_000,
      signal,
      onProgress,
    });
    const launchers = readdirSync(out).map((f) => JSON.parse(readFileSync(join(out, f), 'utf8')));
    const hookMs = launchers.map((l) => l.hookMs);
    const count = (values) => values.reduce((m, v) => m.set(String(v), (m.get(String(v)) ?? 0) + 1), new Map());
    return {
      mode: naive ? 'naive' : 'guarded',
      home,
      port: Number(port),
      concurrency,
      rounds,
      workersPeak: result.overall.peak.workers,
      helpersPeak: result.overall.peak.helpers,
      workersStarted: result.overall.distinct.workers,
      helpersStarted: result.overall.distinct.helpers,
      orphansAfterShutdown: result.leftovers.processes.length,
      hooks: launchers.length,
      hookExitCodes: Object.fromEntries(count(launchers.map((l) => l.hookCode))),
      hookP95Ms: percentile(hookMs, 95),
      searchStatuses: Object.fromEntries(count(launchers.map((l) => l.searchStatus))),
      searchErrors: [...new Set(launchers.map((l) => l.searchError).filter(Boolean))].slice(0, 3),
      hookStderr: [...new Set(launchers.map((l) => l.hookStderr).filter(Boolean))].slice(0, 3),
      storm: result,
    };
  } finally {
    await killEverythingUnder(home);
    rmSync(home, { recursive: true, force: true });
  }
}

/** Kills, by pid and start token, every process whose command line names this run's home. */
export async function killEverythingUnder(home) {
  for (let attempt = 0; attempt < 3; attempt++) {
    const mine = (await listProcesses()).filter((p) => p.pid !== process.pid && p.cmdline.some((a) => a === home));
    if (mine.length === 0) return;
    await Promise.allSettled(mine.map((p) => killTree(p.pid, { startToken: p.startToken, graceMs: 1000 })));
  }
}

export function escapeRegExp(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
