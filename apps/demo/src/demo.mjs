#!/usr/bin/env node
// `pnpm demo`: the storm and its cure, side by side, in two scenarios, each naive then guarded, each
// run on a temp home and a free port:
// - hooks: a burst of concurrent hooks and searches against apps/worker;
// - mcp: editor sessions that each start the same 2 MCP servers, call a tool on each, and crash.
// Prints the before/after tables and writes an HTML report. Cleans up every process it started.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderHtml } from '@spawnguard/storm';
import { checkInvariants } from './invariants.mjs';
import { runMcpScenario } from './mcp-scenario.mjs';
import { formatComparison, formatMarkdown, renderComparisonHtml } from './report.mjs';
import { runScenario } from './scenario.mjs';

const concurrency = Number(process.env.SPAWNGUARD_DEMO_CONCURRENCY ?? 30);
const sessions = Number(process.env.SPAWNGUARD_DEMO_SESSIONS ?? 10);
const controller = new AbortController();
for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => controller.abort(new Error(`demo: ${sig}`)));

const progress = (label) => (p) => {
  if (process.stderr.isTTY)
    process.stderr.write(
      `\r  ${label}: ${JSON.stringify(p.current ?? p)
        .slice(0, 70)
        .padEnd(70)}`,
    );
};
const clearProgress = () => {
  if (process.stderr.isTTY) process.stderr.write(`\r${' '.repeat(79)}\r`);
};

console.log(`spawnguard demo, 1/2 hooks: ${concurrency} concurrent launchers (hook + one search), then stop.\n`);
const hooks = {};
for (const naive of [true, false]) {
  const label = naive ? '--naive' : 'guarded';
  console.log(`running ${label} ...`);
  hooks[label] = await runScenario({ naive, concurrency, signal: controller.signal, onProgress: progress(label) });
  clearProgress();
}
console.log(`\n${formatComparison(hooks['--naive'], hooks.guarded)}\n`);

console.log(
  `spawnguard demo, 2/2 mcp: ${sessions} editor sessions at once, each with 2 MCP servers, one tool call each, then SIGKILLed.\n`,
);
const mcp = {};
for (const guarded of [false, true]) {
  const label = guarded ? 'guarded' : 'naive';
  console.log(`running ${label} ...`);
  mcp[label] = await runMcpScenario({ guarded, sessions, signal: controller.signal, onProgress: progress(label) });
  clearProgress();
}
console.log(`\n${formatComparison(mcp.naive, mcp.guarded)}\n`);

const reportDir = join(import.meta.dirname, '..', 'report');
mkdirSync(reportDir, { recursive: true });
writeFileSync(join(reportDir, 'index.html'), renderComparisonHtml(hooks['--naive'], hooks.guarded, mcp));
writeFileSync(join(reportDir, 'naive.html'), renderHtml(hooks['--naive'].storm));
writeFileSync(join(reportDir, 'guarded.html'), renderHtml(hooks.guarded.storm));
writeFileSync(join(reportDir, 'mcp-naive.html'), renderHtml(mcp.naive.storm));
writeFileSync(join(reportDir, 'mcp-guarded.html'), renderHtml(mcp.guarded.storm));
writeFileSync(
  join(reportDir, 'tables.md'),
  `${formatMarkdown(hooks['--naive'], hooks.guarded)}\n\n${formatMarkdown(mcp.naive, mcp.guarded)}\n`,
);
console.log(
  `HTML report: ${join(reportDir, 'index.html')} (per-run details: naive.html, guarded.html, mcp-naive.html, mcp-guarded.html; tables.md)`,
);

const { ok, lines } = checkInvariants({ hooks: hooks.guarded, mcpNaive: mcp.naive, mcpGuarded: mcp.guarded });
for (const line of lines) console.log(line);
process.exitCode = ok ? 0 : 1;
