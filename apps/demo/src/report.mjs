// The before/after tables (text) and the side-by-side HTML report, for both scenarios.
import { escapeHtml, renderTimelineSvg, timelinePeak } from '@spawnguard/storm';

/** [label, value of a run, key row?] */
const HOOK_ROWS = [
  ['workers peak (concurrent)', (s) => s.workersPeak, true],
  ['helpers peak (concurrent)', (s) => s.helpersPeak, true],
  ['workers started', (s) => s.workersStarted],
  ['helpers started', (s) => s.helpersStarted],
  ['orphans after shutdown', (s) => s.orphansAfterShutdown, true],
  ['hook exits', (s) => formatCounts(s.hookExitCodes)],
  ['hook p95 (whole process)', (s) => `${Math.round(s.hookP95Ms)} ms`],
  ['searches answered', (s) => `${s.searchStatuses['200'] ?? 0} / ${s.hooks}`],
];

const MB = (bytes) => `${Math.round(bytes / 1e6)} MB`;
/** "1285 MB (PSS 510 MB)" for one watched series at the moment every session had its answers. */
function memory(s, series) {
  const m = s.rss?.[series];
  if (!m || m.count === 0) return '—';
  if (m.rssBytes === null) return `${m.count} processes, not measured on ${process.platform}`;
  const pss = m.pssBytes === null ? '' : ` (PSS ${MB(m.pssBytes)})`;
  return `${series === 'servers' ? '' : `${m.count}x: `}${MB(m.rssBytes)}${pss}`;
}

/** [label, value of a run, key row?] */
const MCP_ROWS = [
  ['server processes peak (concurrent)', (s) => s.serversPeak, true],
  ['server processes started', (s) => s.serversStarted],
  [
    'server processes left once the sessions are SIGKILLed',
    (s) =>
      s.mode === 'naive' ? `${s.serversAfterCrash} orphans` : `${s.serversAfterCrash} (the worker's, until stop)`,
  ],
  [
    'processes left at the end (guarded: after stop)',
    (s) => (s.mode === 'naive' ? `${s.leftAtEnd} (nothing to stop)` : s.leftAtEnd),
    true,
  ],
  ['tool calls answered', (s) => `${s.callsOk} / ${s.callsExpected}`],
  [
    'first tool result p50 / p95 (from session start)',
    (s) => `${Math.round(s.firstCallP50Ms)} / ${Math.round(s.firstCallP95Ms)} ms`,
  ],
  ['servers RSS, all sessions connected', (s) => memory(s, 'servers')],
  ['bridges RSS (spawnguard-worker mcp)', (s) => memory(s, 'bridges')],
  ['worker daemon RSS', (s) => memory(s, 'daemon')],
];

export const HOOK_HEADERS = ['--naive', 'guarded'];
export const MCP_HEADERS = ['naive (own servers)', 'guarded (bridges)'];

export function formatCounts(counts) {
  return Object.entries(counts)
    .map(([k, n]) => `${n}x ${k}`)
    .join(', ');
}

/** [label, naive, guarded, key]: `key` rows carry the point of the table (bold in markdown). */
export function comparisonRows(naive, guarded) {
  const rows = naive.scenario === 'mcp' ? MCP_ROWS : HOOK_ROWS;
  return rows.map(([label, get, key = false]) => [label, String(get(naive)), String(get(guarded)), key]);
}

const headersOf = (naive) => (naive.scenario === 'mcp' ? MCP_HEADERS : HOOK_HEADERS);

/** The table for the terminal. */
export function formatComparison(naive, guarded) {
  const rows = [['', ...headersOf(naive)], ...comparisonRows(naive, guarded)];
  const w = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r) => `  ${r[0].padEnd(w[0])}  ${r[1].padStart(w[1])}  ${r[2].padStart(w[2])}`;
  return [line(rows[0]), `  ${'-'.repeat(w[0] + w[1] + w[2] + 4)}`, ...rows.slice(1).map(line)].join('\n');
}

/** The same table as GitHub markdown (what the root README shows between its demo markers). */
export function formatMarkdown(naive, guarded) {
  const cell = (text) => text.replaceAll('|', '\\|');
  return [
    `| | ${headersOf(naive)
      .map((h) => (h.startsWith('--') ? `\`${h}\`` : h))
      .join(' | ')} |`,
    '| --- | ---: | ---: |',
    ...comparisonRows(naive, guarded).map(
      ([label, a, b, key]) => `| ${cell(label)} | ${cell(a)} | ${key ? `**${cell(b)}**` : cell(b)} |`,
    ),
  ].join('\n');
}

function section({ id, title, intro, naive, guarded, naiveTitle, guardedTitle, describe }) {
  const rows = comparisonRows(naive, guarded)
    .map(([label, a, b]) => `<tr><th>${escapeHtml(label)}</th><td>${escapeHtml(a)}</td><td>${escapeHtml(b)}</td></tr>`)
    .join('\n');
  const [hn, hg] = headersOf(naive);
  // One y scale for both runs of a scenario: the guarded run's flat line must look small next to the storm.
  const yMax = timelinePeak(naive.storm, guarded.storm);
  const side = (s, heading) => `<section>
  <h3>${escapeHtml(heading)}</h3>
  <p>${describe(s)}</p>
  ${renderTimelineSvg(s.storm, { yMax })}
</section>`;
  return `<section id="${id}">
<h2>${escapeHtml(title)}</h2>
<p>${intro}</p>
<table><thead><tr><th></th><th>${escapeHtml(hn)}</th><th>${escapeHtml(hg)}</th></tr></thead><tbody>
${rows}
</tbody></table>
<div class="sides">${side(naive, naiveTitle)}${side(guarded, guardedTitle)}</div>
</section>`;
}

/** The page: the hooks scenario and, when it ran, the MCP scenario, each naive beside guarded. */
export function renderComparisonHtml(naive, guarded, mcp) {
  const hooks = section({
    id: 'hooks',
    title: 'Hooks: a burst of launchers against one worker',
    intro: `The same burst of hooks and searches against <code>apps/worker</code>, first with every defence off
(<code>--naive</code>), then guarded. Lines show concurrent worker and helper processes over time.`,
    naive,
    guarded,
    naiveTitle: '--naive: every defence off',
    guardedTitle: 'guarded: the spawnguard packages',
    describe: (s) =>
      `${s.concurrency} concurrent launchers x ${s.rounds} round(s): each runs <code>spawnguard-worker hook</code>, then one search; then <code>spawnguard-worker stop</code>.`,
  });
  const mcpSection = mcp
    ? section({
        id: 'mcp',
        title: 'MCP: editor sessions that crash',
        intro: `${mcp.naive.sessions} editor sessions at once, each with the same ${mcp.naive.serverNames.length} MCP servers in its
config (<code>memory</code>: <code>@modelcontextprotocol/server-memory</code>, which exits when its stdin closes;
<code>notes</code>: the worker's built-in server with <code>--linger</code>, which keeps running like a wedged server),
each connecting and calling one tool per server; then every session is SIGKILLed, as when an editor crashes.
Lines show concurrent sessions, server processes, bridges and worker daemons over time.`,
        naive: mcp.naive,
        guarded: mcp.guarded,
        naiveTitle: 'naive: each session starts its own servers',
        guardedTitle: 'guarded: each session starts spawnguard-worker mcp bridges',
        describe: (s) =>
          s.mode === 'naive'
            ? `Each session starts both servers as its own stdio children. After the SIGKILL (the <code>sessions</code> line drops) the servers that do not exit by themselves stay: orphans, until the end.`
            : `Each session starts <code>spawnguard-worker mcp memory</code> and <code>... mcp notes</code>; the first ensures the worker, which hosts one backend per server for every session. After the SIGKILL the bridges exit; the worker keeps its backends for other sessions until <code>spawnguard-worker stop</code> (the <code>cleanup</code> marker).`,
      })
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>spawnguard demo: the storm and its cure</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:1rem 0}th,td{padding:.3rem .8rem;border-bottom:1px solid #ddd;text-align:right}
th{text-align:left;font-weight:500}thead th{font-weight:700}
.sides{display:grid;grid-template-columns:1fr 1fr;gap:2rem}svg{max-width:100%;height:auto}
</style></head><body>
<h1>spawnguard demo: the storm and its cure</h1>
${hooks}
${mcpSection}
</body></html>
`;
}
