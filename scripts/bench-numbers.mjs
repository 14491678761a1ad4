#!/usr/bin/env node
// Writes the "## Numbers" section of each README from bench/results/*.json, so the numbers a
// README shows are always those of the last `pnpm bench`, with its date and machine.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const SUITES = {
  'packages/circuit-breaker': ['breaker'],
  'packages/connection-memo': ['memo'],
  'packages/process-table': ['process-table'],
  'packages/spawn-mutex': ['spawn-mutex', 'spawn-mutex-recovery'],
  'packages/storm': ['storm'],
  'apps/worker': ['worker', 'storm'],
  'packages/mcp-host': ['mcp', 'mcp-rss'],
};
const NOTES = {
  'packages/bind-or-die':
    'No benchmark of its own: binding costs one `listen()`, and a loser exits before any background work. ' +
    'What the tests prove, on real processes: 20 processes racing for one port give 1 listener and 19 quiet exits ' +
    '(code 0) before their "background init" marker; a stale unix socket is recovered by exactly one of 10 racers.',
  'packages/orphan-reaper':
    'No benchmark of its own: `reap()` and `killTree()` cost one process listing ' +
    '([process-table numbers](../process-table/README.md#numbers)) plus one identity check per signal. ' +
    'What the tests prove: a 3-level tree with a SIGTERM-ignoring grandchild is gone within grace + 2 s; ' +
    '`/./` in dry-run mode never touches the runner, its ancestors or PID 1.',
  'packages/process-registry':
    'No benchmark of its own: each spawn costs one identity lookup and one atomic file write; ' +
    'shutdown and `reapLeftovers()` cost what `killTree` does ([orphan-reaper](../orphan-reaper/README.md)). ' +
    'What the tests prove: a SIGKILLed daemon with 3 children and 3 grandchildren leaves 6 processes, and the next ' +
    "owner's `reapLeftovers()` kills exactly those 6.",
};

// Written after a package's measured sections.
const AFTER = {
  'packages/mcp-host':
    'Where the time goes: routing costs nothing measurable (in memory, through `host.connect()`, the host adds ' +
    '0.00–0.01 ms to the p50 of a direct stdio connection, at the same CPU per call). Over HTTP the host speaks ' +
    "Streamable HTTP on node:http itself (the SDK's server transport cost about 2.5 ms of CPU per call here, " +
    "mostly converting node requests to web Requests and back); what is left is mostly the client: the SDK's HTTP " +
    'client costs 3 ms or more of CPU per call, and a bare `fetch` to a no-op node:http server is already ~0.5 ms ' +
    'slower than a whole direct stdio call, so no HTTP host meets a 0.5 ms added-latency target with that client ' +
    '([profile and numbers](../../bench/README.md#where-our-hosts-http-time-goes)). ' +
    'What the tests prove: 20 concurrent sessions on one server run on exactly one backend process; the hot ' +
    'path is one `JSON.parse` per backend line, one map lookup per response or progress notification, and one ' +
    '`JSON.stringify` per message each way.',
};

const fmt = (v, unit) => {
  if (v == null) return '-';
  if (unit === 'ns') return v < 1000 ? `${v.toFixed(0)} ns` : `${(v / 1000).toFixed(2)} µs`;
  if (unit === 'MB') return `${v.toFixed(1)} MB`;
  return `${v.toFixed(v < 10 ? 2 : 0)} ms`;
};

// Extra columns a suite declares (bench/run.mjs `columns`), read from each result's `extra`.
const fmtExtra = (v, unit) => {
  if (v == null) return '-';
  if (typeof v === 'string') return v;
  if (unit === 'count') return String(v);
  if (unit === 'MB') return `${v.toFixed(1)} MB`;
  if (unit === 'us') return `${v.toFixed(0)} µs`;
  return v >= 100 ? v.toFixed(0) : v.toFixed(1);
};

function section(suite) {
  const file = join(root, 'bench', 'results', `${suite}.json`);
  if (!existsSync(file)) return `_No results yet for \`${suite}\`: run \`pnpm bench ${suite}\`._\n`;
  const r = JSON.parse(readFileSync(file, 'utf8'));
  const cols = r.columns ?? [];
  const lines = [
    `**${r.title}** — \`pnpm bench ${suite}\`, ${r.date.slice(0, 10)}, Node ${r.node}, ${r.cores} cores (${r.cpu}); ` +
      `best of ${Object.values(r.results)[0]?.runs?.length ?? 1} run(s) by median, each in its own process ` +
      `([raw](${'../'.repeat(2)}bench/results/${suite}.json)).`,
    '',
    `| case | median | p99 |${cols.map((c) => ` ${c.title} |`).join('')}`,
    `| --- | ---: | ---: |${cols.map(() => ' ---: |').join('')}`,
    ...Object.values(r.results).map((c) =>
      c.unavailable
        ? `| ${c.label} | not measured: ${c.unavailable.split('\n')[0]} |${' |'.repeat(1 + cols.length)}`
        : `| ${c.label} | ${fmt(c.p50, c.unit)} | ${fmt(c.p99, c.unit)} |${cols.map((col) => ` ${fmtExtra(c.extra?.[col.key], col.unit)} |`).join('')}`,
    ),
    '',
    ...r.targets.map((t) => `- ${t.pass === null ? '_pending_' : t.pass ? 'meets' : '**misses**'} target: ${t.text}`),
    '',
  ];
  return lines.join('\n');
}

// `node scripts/bench-numbers.mjs [dir ...]` rewrites only those READMEs (e.g. packages/mcp-host).
const only = process.argv.slice(2).map((d) => d.replace(/\/+$/, ''));
for (const d of only) if (!SUITES[d] && !NOTES[d]) throw new Error(`bench-numbers: no numbers for ${d}`);
const dirs = only.length ? new Set(only) : new Set([...Object.keys(SUITES), ...Object.keys(NOTES)]);
for (const dir of dirs) {
  const readme = join(root, dir, 'README.md');
  const text = readFileSync(readme, 'utf8');
  const at = text.indexOf('\n## Numbers');
  if (at < 0) throw new Error(`${dir}/README.md has no "## Numbers" section`);
  const body =
    (SUITES[dir] ? SUITES[dir].map(section).join('\n') : `${NOTES[dir]}\n`) + (AFTER[dir] ? `\n${AFTER[dir]}\n` : '');
  const intro =
    'Measured on a shared 2-core machine; ratios between libraries measured in the same run are the ' +
    'meaningful part, absolute times vary with load.\n\n';
  writeFileSync(readme, `${text.slice(0, at)}\n## Numbers\n\n${SUITES[dir] ? intro : ''}${body}`);
  console.log(`numbers written: ${dir}/README.md`);
}
