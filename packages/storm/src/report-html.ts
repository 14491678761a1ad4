import { checkNumber } from '@spawnguard/internal';
import { formatCounts, summaryRows } from './report-text.js';
import type { StormResult } from './types.js';

const COLORS = ['#d62728', '#1f77b4', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

export function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );
}

/** A step of 1, 2 or 5 × 10^k that gives about `target` ticks over `max`. */
export function niceStep(max: number, target: number): number {
  const raw = Math.max(max, 1) / target;
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * power >= raw) return m * power;
  return 10 * power;
}

const W = 960;
const H = 380;
const M = { left: 56, right: 24, top: 28, bottom: 48 };
const PW = W - M.left - M.right;
const PH = H - M.top - M.bottom;

const fmtT = (ms: number, step: number) =>
  step >= 1000 ? `${(ms / 1000).toFixed(step >= 10_000 ? 0 : 1)} s` : `${ms} ms`;

/** The timeline's own styles, inside the SVG, so it renders the same wherever it is embedded. */
const SVG_STYLE = `<style>
.sg-timeline .plot { fill: #fbfcfd; stroke: none; }
.sg-timeline .grid { stroke: #e3e7eb; stroke-width: 1; }
.sg-timeline .axis { stroke: #57606a; stroke-width: 1; }
.sg-timeline text { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }
.sg-timeline .tick { fill: #57606a; font-size: 11px; }
.sg-timeline .axis-label, .sg-timeline .legend-label { fill: #1b1f24; font-size: 12px; }
.sg-timeline .boundary { stroke: #8c959f; stroke-width: 1; stroke-dasharray: 4 3; }
.sg-timeline .boundary-label { fill: #57606a; font-size: 11px; }
</style>`;

export interface TimelineOptions {
  /**
   * The top of the y axis, at least. Give two timelines the same value (`timelinePeak` of both) to
   * draw them on one scale: otherwise a run that peaks at 1 fills its chart like one that peaks at 60.
   */
  yMax?: number;
}

/** The most matching processes any one sample of these runs saw (for a shared `yMax`). */
export function timelinePeak(...results: StormResult[]): number {
  let peak = 0;
  for (const result of results) {
    const names = Object.keys(result.config.watch);
    for (const sample of result.timeline) for (const n of names) peak = Math.max(peak, sample.counts[n] ?? 0);
  }
  return peak;
}

/**
 * The SVG timeline: one step-line per watch pattern, round boundaries, axes with labels and a
 * legend. Self-contained (its styles travel inside it), so it can be embedded in any page.
 */
export function renderTimelineSvg(result: StormResult, options: TimelineOptions = {}): string {
  const names = Object.keys(result.config.watch);
  const { timeline } = result;
  if (options.yMax !== undefined) checkNumber('options.yMax', options.yMax, { min: 0 });
  const tMax = Math.max(1, result.durationMs, ...timeline.map((s) => s.t));
  const yTop = Math.max(1, options.yMax ?? 0, timelinePeak(result));
  const yStep = Math.max(1, Math.ceil(niceStep(yTop, 5)));
  const yMax = Math.ceil(yTop / yStep) * yStep;
  const xStep = niceStep(tMax, 8);
  const x = (t: number) => (M.left + (t / tMax) * PW).toFixed(1);
  const y = (n: number) => (M.top + PH - (n / yMax) * PH).toFixed(1);

  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="sg-timeline" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="Matching processes over time">`,
    SVG_STYLE,
  );
  parts.push(`<rect x="${M.left}" y="${M.top}" width="${PW}" height="${PH}" class="plot"/>`);
  for (let v = 0; v <= yMax; v += yStep) {
    parts.push(`<line class="grid" x1="${M.left}" x2="${M.left + PW}" y1="${y(v)}" y2="${y(v)}"/>`);
    parts.push(
      `<text class="tick" x="${M.left - 8}" y="${y(v)}" text-anchor="end" dominant-baseline="middle">${v}</text>`,
    );
  }
  for (let t = 0; t <= tMax + 1e-9; t += xStep) {
    parts.push(`<line class="grid" x1="${x(t)}" x2="${x(t)}" y1="${M.top}" y2="${M.top + PH}"/>`);
    parts.push(`<text class="tick" x="${x(t)}" y="${M.top + PH + 16}" text-anchor="middle">${fmtT(t, xStep)}</text>`);
  }
  const boundaries = result.rounds.map((r) => ({ t: r.startT, label: `round ${r.round}` }));
  const lastRound = result.rounds.at(-1);
  if (lastRound) boundaries.push({ t: lastRound.endT, label: result.cleanup ? 'cleanup' : 'end' });
  for (const b of boundaries) {
    parts.push(
      `<line class="boundary" x1="${x(b.t)}" x2="${x(b.t)}" y1="${M.top}" y2="${M.top + PH}"/>`,
      `<text class="boundary-label" x="${Number(x(b.t)) + 4}" y="${M.top + 12}">${escapeHtml(b.label)}</text>`,
    );
  }
  names.forEach((name, i) => {
    // Steps, not slopes: a count holds until the next sample says otherwise.
    const points: string[] = [];
    let prev: number | undefined;
    for (const s of timeline) {
      const n = s.counts[name] ?? 0;
      if (prev !== undefined && prev !== n) points.push(`${x(s.t)},${y(prev)}`);
      points.push(`${x(s.t)},${y(n)}`);
      prev = n;
    }
    parts.push(
      `<polyline class="series" data-watch="${escapeHtml(name)}" fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="2" points="${points.join(' ')}"/>`,
    );
  });
  parts.push(
    `<line class="axis" x1="${M.left}" x2="${M.left + PW}" y1="${M.top + PH}" y2="${M.top + PH}"/>`,
    `<line class="axis" x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${M.top + PH}"/>`,
    `<text class="axis-label" x="${M.left + PW / 2}" y="${H - 8}" text-anchor="middle">time since the storm started</text>`,
    `<text class="axis-label" transform="translate(16 ${M.top + PH / 2}) rotate(-90)" text-anchor="middle">matching processes</text>`,
  );
  // Legend, right-aligned above the plot.
  let lx = M.left + PW;
  for (let i = names.length - 1; i >= 0; i--) {
    const label = escapeHtml(names[i] ?? '');
    const width = 28 + label.length * 7;
    lx -= width;
    parts.push(
      `<line x1="${lx}" x2="${lx + 18}" y1="${M.top - 10}" y2="${M.top - 10}" stroke="${COLORS[i % COLORS.length]}" stroke-width="3"/>`,
      `<text class="legend-label" x="${lx + 22}" y="${M.top - 6}">${label}</text>`,
    );
  }
  parts.push('</svg>');
  return parts.join('\n');
}

/** A self-contained HTML report (inline CSS, no scripts, no external assets). */
export function renderHtml(result: StormResult): string {
  const { config } = result;
  const names = Object.keys(config.watch);
  const { header, rows } = summaryRows(result);
  const legend = names
    .map(
      (name, i) =>
        `<li><span class="swatch" style="background:${COLORS[i % COLORS.length]}"></span><b>${escapeHtml(name)}</b>${
          name === config.watch[name] ? '' : ` <code>${escapeHtml(config.watch[name] ?? '')}</code>`
        }: peak ${result.overall.peak[name] ?? 0}, distinct ${result.overall.distinct[name] ?? 0}, left ${result.leftovers.counts[name] ?? 0}</li>`,
    )
    .join('\n');
  const table = [
    '<table>',
    `<thead><tr>${header.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead>`,
    '<tbody>',
    ...rows.map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`),
    '</tbody></table>',
  ].join('\n');
  const c = result.cleanup;
  const facts = [
    ['command', [config.command, ...config.args].join(' ')],
    ['concurrency × rounds', `${config.concurrency} × ${config.rounds}`],
    ['started', result.startedAt],
    [
      'total time',
      `${Math.round(result.durationMs)} ms${result.timedOut ? ' (TIMED OUT: launchers still running were killed)' : ''}`,
    ],
    ['before the storm', formatCounts(result.baseline)],
    ...(c
      ? [
          [
            'cleanup',
            `${c.command}: ${c.error ? `could not start (${c.error})` : c.timedOut ? 'timed out' : `exit ${c.exitCode ?? c.signal}`} in ${Math.round(c.durationMs)} ms`,
          ],
        ]
      : []),
    [c ? 'left after cleanup' : 'left at the end', formatCounts(result.leftovers.counts)],
    [
      'sampling',
      `${result.sampling.samples} samples, ${result.sampling.errors} failed, slowest listing ${Math.round(result.sampling.maxListingMs)} ms`,
    ],
  ];
  const leftovers = result.leftovers.processes
    .slice(0, 50)
    .map((p) => `<li><code>${p.pid}</code> ${escapeHtml(p.cmdline.join(' ').slice(0, 200))}</li>`)
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>spawnguard storm report</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1b1f24; margin: 24px auto; max-width: 1000px; padding: 0 16px; }
h1 { font-size: 20px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 24px 0 8px; }
.sub { color: #57606a; margin: 0 0 16px; }
svg { display: block; max-width: 100%; height: auto; }
svg .plot { fill: #fbfcfd; stroke: none; }
svg .grid { stroke: #e3e7eb; stroke-width: 1; }
svg .axis { stroke: #57606a; stroke-width: 1; }
svg .tick { fill: #57606a; font-size: 11px; }
svg .axis-label { fill: #1b1f24; font-size: 12px; }
svg .boundary { stroke: #8c959f; stroke-width: 1; stroke-dasharray: 4 3; }
svg .boundary-label { fill: #57606a; font-size: 11px; }
ul.legend { list-style: none; padding: 0; margin: 8px 0; display: flex; flex-wrap: wrap; gap: 6px 24px; }
.swatch { display: inline-block; width: 14px; height: 4px; margin-right: 6px; vertical-align: middle; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 10px; border-bottom: 1px solid #e3e7eb; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f5f7; font-weight: 600; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0; }
dt { color: #57606a; }
dd { margin: 0; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; background: #f3f5f7; padding: 1px 4px; border-radius: 3px; }
.warn { background: #fff4e5; border: 1px solid #f0b35a; padding: 8px 12px; border-radius: 4px; }
</style>
</head>
<body>
<h1>Spawn storm report</h1>
<p class="sub">${config.concurrency} concurrent × ${config.rounds} round${config.rounds === 1 ? '' : 's'} of <code>${escapeHtml([config.command, ...config.args].join(' '))}</code></p>
${result.timedOut ? `<p class="warn">The storm hit its ${config.timeoutMs} ms limit: launchers still running were killed and later rounds skipped.</p>` : ''}
<h2>Matching processes over time</h2>
<ul class="legend">
${legend}
</ul>
${renderTimelineSvg(result)}
<h2>Per round</h2>
${table}
<h2>Run</h2>
<dl>
${facts.map(([k, v]) => `<dt>${escapeHtml(k ?? '')}</dt><dd>${escapeHtml(v ?? '')}</dd>`).join('\n')}
</dl>
${leftovers ? `<h2>Leftover processes</h2>\n<ul>\n${leftovers}\n</ul>` : ''}
</body>
</html>
`;
}
