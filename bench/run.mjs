#!/usr/bin/env node
// `pnpm bench`: runs every suite (or those named on the command line), each case in its own
// process, prints one table per suite with ratios against the targets, and writes
// bench/results/<suite>.json.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';

const here = import.meta.dirname;
const wanted = process.argv.slice(2);
const suites = readdirSync(join(here, 'suites'))
  .filter((f) => f.endsWith('.mjs'))
  .map((f) => f.slice(0, -4))
  .filter((s) => wanted.length === 0 || wanted.includes(s));
mkdirSync(join(here, 'results'), { recursive: true });

const fmt = (v, unit) => {
  if (v == null || Number.isNaN(v)) return '-';
  if (unit === 'ns') return v < 1000 ? `${v.toFixed(1)} ns` : `${(v / 1000).toFixed(2)} us`;
  if (unit === 'MB') return `${v.toFixed(1)} MB`;
  return `${v.toFixed(v < 10 ? 2 : 1)} ms`;
};

// Extra columns: `unit: 'count'` as is, `'/s'` (a rate), `'us'` and `'MB'` rounded; a string as is.
const fmtExtra = (v, unit) => {
  if (v == null) return '-';
  if (typeof v === 'string') return v;
  if (unit === 'count') return String(v);
  if (unit === 'MB') return `${v.toFixed(1)} MB`;
  if (unit === 'us') return `${v.toFixed(0)} µs`;
  return v >= 100 ? v.toFixed(0) : v.toFixed(1);
};

let failedTargets = 0;
for (const name of suites) {
  const suite = await import(join(here, 'suites', `${name}.mjs`));
  console.log(`\n## ${suite.title}`);
  // Each case runs in its own process, `repeats` times, interleaved (a, b, c, a, b, c, ...), and we
  // keep each case's best run (lowest median): on this shared machine a co-tenant or an unlucky JIT
  // decision slows single processes down, never speeds them up; every library gets the same rule.
  const repeats = Number(process.env.BENCH_REPEATS ?? suite.repeats ?? 5);
  const runs = Object.fromEntries(suite.cases.map((c) => [c.id, []]));
  for (let round = 0; round < repeats; round++) {
    for (const c of suite.cases) {
      if (runs[c.id][0]?.unavailable) continue; // its subject does not exist (yet): said once is enough
      process.stderr.write(`  running ${c.id} (${round + 1}/${repeats}) ...`);
      const started = performance.now();
      const out = execFileSync(process.execPath, [...(c.nodeArgs ?? []), join(here, 'lib', 'child.mjs'), name, c.id], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
        maxBuffer: 64 * 1024 * 1024,
        timeout: 10 * 60_000,
      });
      process.stderr.write(` ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
      runs[c.id].push(JSON.parse(out.trim().split('\n').at(-1)));
    }
  }
  const results = {};
  for (const c of suite.cases) {
    if (runs[c.id][0]?.unavailable) {
      results[c.id] = { label: c.label, unavailable: runs[c.id][0].unavailable, runs: [] };
      continue;
    }
    const best = [...runs[c.id]].sort((a, b) => a.p50 - b.p50)[0];
    results[c.id] = { label: c.label, ...best, runs: runs[c.id].map((r) => r.p50) };
  }
  // A suite may add columns (`columns: [{ key, title, unit }]`), read from each result's `extra`.
  const columns = suite.columns ?? [];
  const cell = (r, col) => fmtExtra(r.extra?.[col.key], col.unit);
  const rows = suite.cases.map((c) => {
    const r = results[c.id];
    if (r.unavailable) return `| ${c.label.padEnd(44)} | not measured: ${r.unavailable.split('\n')[0]}`;
    const more = columns.map((col) => ` ${cell(r, col).padStart(col.title.length)} |`).join('');
    return `| ${c.label.padEnd(44)} | ${fmt(r.p50, r.unit).padStart(10)} | ${fmt(r.p99, r.unit).padStart(10)} |${more}`;
  });
  const heads = columns.map((col) => ` ${col.title} |`).join('');
  const rules = columns.map((col) => `${'-'.repeat(col.title.length + 2)}|`).join('');
  console.log(`| ${'case'.padEnd(44)} | ${'median'.padStart(10)} | ${'p99'.padStart(10)} |${heads}`);
  console.log(`|${'-'.repeat(46)}|${'-'.repeat(12)}|${'-'.repeat(12)}|${rules}`);
  for (const row of rows) console.log(row);
  const targets = suite.targets(results);
  for (const t of targets) {
    // `pass: null`: a target whose cases could not be measured yet (printed PENDING, not met).
    if (t.pass !== true) failedTargets++;
    console.log(`  ${t.pass === null ? 'PENDING' : t.pass ? 'meets' : 'MISSES'} target: ${t.text}`);
  }
  const record = {
    suite: name,
    title: suite.title,
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model,
    cores: cpus().length,
    ...(columns.length ? { columns } : {}),
    results,
    targets,
  };
  writeFileSync(join(here, 'results', `${name}.json`), `${JSON.stringify(record, null, 2)}\n`);
}
if (wanted.length === 0) {
  // A full run refreshes the Numbers section of every README.
  execFileSync(process.execPath, [join(here, '..', 'scripts', 'bench-numbers.mjs')], { stdio: 'inherit' });
}
console.log(
  `\n${failedTargets === 0 ? 'all targets met' : `${failedTargets} target(s) missed or pending`}; results in bench/results/`,
);
