// The before/after table (text) and the side-by-side HTML report.
import { escapeHtml, renderTimelineSvg, timelinePeak } from '@spawnguard/storm';

const ROWS = [
  ['workers peak (concurrent)', (s) => s.workersPeak],
  ['helpers peak (concurrent)', (s) => s.helpersPeak],
  ['workers started', (s) => s.workersStarted],
  ['helpers started', (s) => s.helpersStarted],
  ['orphans after shutdown', (s) => s.orphansAfterShutdown],
  ['hook exits', (s) => formatCounts(s.hookExitCodes)],
  ['hook p95', (s) => `${Math.round(s.hookP95Ms)} ms`],
  ['searches answered', (s) => `${s.searchStatuses['200'] ?? 0} / ${s.hooks}`],
];

export function formatCounts(counts) {
  return Object.entries(counts)
    .map(([k, n]) => `${n}x ${k}`)
    .join(', ');
}

export function comparisonRows(naive, guarded) {
  return ROWS.map(([label, get]) => [label, String(get(naive)), String(get(guarded))]);
}

export function formatComparison(naive, guarded) {
  const rows = [['', '--naive', 'guarded'], ...comparisonRows(naive, guarded)];
  const w = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r) => `  ${r[0].padEnd(w[0])}  ${r[1].padStart(w[1])}  ${r[2].padStart(w[2])}`;
  return [line(rows[0]), `  ${'-'.repeat(w[0] + w[1] + w[2] + 4)}`, ...rows.slice(1).map(line)].join('\n');
}

export function renderComparisonHtml(naive, guarded) {
  const rows = comparisonRows(naive, guarded)
    .map(([label, a, b]) => `<tr><th>${escapeHtml(label)}</th><td>${escapeHtml(a)}</td><td>${escapeHtml(b)}</td></tr>`)
    .join('\n');
  // One y scale for both runs: the guarded run's flat line at 1 must look small next to the storm.
  const yMax = timelinePeak(naive.storm, guarded.storm);
  const side = (s, title) => `<section>
  <h2>${escapeHtml(title)}</h2>
  <p>${s.concurrency} concurrent launchers x ${s.rounds} round(s): each runs <code>spawnguard-worker hook</code>, then one search; then <code>spawnguard-worker stop</code>.</p>
  ${renderTimelineSvg(s.storm, { yMax })}
</section>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>spawnguard demo: the storm and its cure</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:1rem 0}th,td{padding:.3rem .8rem;border-bottom:1px solid #ddd;text-align:right}
th{text-align:left;font-weight:500}thead th{font-weight:700}
.sides{display:grid;grid-template-columns:1fr 1fr;gap:2rem}svg{max-width:100%;height:auto}
</style></head><body>
<h1>spawnguard demo: the storm and its cure</h1>
<p>The same burst of hooks and searches against <code>apps/worker</code>, first with every defence off
(<code>--naive</code>), then guarded. Lines show concurrent worker and helper processes over time.</p>
<table><thead><tr><th></th><th>--naive</th><th>guarded</th></tr></thead><tbody>
${rows}
</tbody></table>
<div class="sides">${side(naive, '--naive: every defence off')}${side(guarded, 'guarded: the spawnguard packages')}</div>
</body></html>
`;
}
