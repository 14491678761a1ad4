#!/usr/bin/env node
// `pnpm demo`: the storm and its cure, side by side. Runs apps/worker under a burst of concurrent
// hooks and searches, first naive, then guarded, each on a temp home and a free port; prints the
// before/after table and writes an HTML report. Cleans up every process it started.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderHtml } from '@spawnguard/storm';
import { formatComparison, renderComparisonHtml } from './report.mjs';
import { runScenario } from './scenario.mjs';

const concurrency = Number(process.env.SPAWNGUARD_DEMO_CONCURRENCY ?? 30);
const controller = new AbortController();
for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => controller.abort(new Error(`demo: ${sig}`)));

const progress = (label) => (p) => {
  if (process.stderr.isTTY)
    process.stderr.write(
      `\r  ${label}: ${JSON.stringify(p.counts ?? p)
        .slice(0, 70)
        .padEnd(70)}`,
    );
};

console.log(`spawnguard demo: ${concurrency} concurrent launchers (hook + one search), then stop.\n`);
const sides = {};
for (const naive of [true, false]) {
  const label = naive ? '--naive' : 'guarded';
  console.log(`running ${label} ...`);
  sides[label] = await runScenario({ naive, concurrency, signal: controller.signal, onProgress: progress(label) });
  if (process.stderr.isTTY) process.stderr.write('\r'.padEnd(80) + '\r');
}
const naive = sides['--naive'];
const guarded = sides.guarded;

console.log(`\n${formatComparison(naive, guarded)}\n`);
const reportDir = join(import.meta.dirname, '..', 'report');
mkdirSync(reportDir, { recursive: true });
writeFileSync(join(reportDir, 'index.html'), renderComparisonHtml(naive, guarded));
writeFileSync(join(reportDir, 'naive.html'), renderHtml(naive.storm));
writeFileSync(join(reportDir, 'guarded.html'), renderHtml(guarded.storm));
console.log(`HTML report: ${join(reportDir, 'index.html')} (per-run details: naive.html, guarded.html)`);

const ok =
  guarded.workersPeak === 1 &&
  guarded.workersStarted === 1 &&
  guarded.helpersPeak <= 1 &&
  guarded.orphansAfterShutdown === 0 &&
  Object.keys(guarded.hookExitCodes).every((code) => code === '0');
console.log(
  ok
    ? 'guarded: exactly 1 worker, at most 1 helper, 0 orphans, every hook exit 0.'
    : 'guarded: INVARIANT BROKEN (see table)',
);
process.exitCode = ok ? 0 : 1;
