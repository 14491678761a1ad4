#!/usr/bin/env node
// Sums every package's vitest JSON reports (one per Node major: test-results/vitest-node<major>.json),
// the packaging gate's results and the release rehearsal's into the one closing line CI reads.
//
//   node scripts/summarize-tests.mjs [--nodes=24,20] [--results=<folder>]
//
// --nodes: the Node majors the suite must have run on; a package with tests but no report for one
//          of them counts as a failure (a suite that never ran is not a pass). Default: whatever
//          reports exist.
// --results: the folder given to check-package.mjs and release-rehearse.mjs (gate/*.json, rehearsal.json).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const arg = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const resultsDir = arg('results') && resolve(arg('results'));

const dirs = ['packages', 'apps']
  .flatMap((group) => (existsSync(join(root, group)) ? readdirSync(join(root, group)).map((d) => join(group, d)) : []))
  .concat(['bench'])
  .filter((dir) => existsSync(join(root, dir, 'package.json')));
const manifest = (dir) => JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8'));
const hasTests = (dir) => Boolean(manifest(dir).scripts?.test);

const reportsOf = (dir) =>
  existsSync(join(root, dir, 'test-results'))
    ? readdirSync(join(root, dir, 'test-results'))
        .map((f) => /^vitest-node(\d+)\.json$/.exec(f)?.[1])
        .filter(Boolean)
    : [];
const majors = arg('nodes')
  ? arg('nodes').split(',')
  : [...new Set(dirs.flatMap(reportsOf))].sort((a, b) => Number(b) - Number(a));

const total = { passed: 0, failed: 0, skipped: 0 };
const perVersion = [];
const failures = [];

for (const major of majors) {
  const sum = { passed: 0, failed: 0, skipped: 0 };
  console.log(`\n=== test suite on Node ${major}`);
  for (const dir of dirs) {
    const file = join(root, dir, 'test-results', `vitest-node${major}.json`);
    if (!existsSync(file)) {
      if (arg('nodes') && hasTests(dir)) {
        console.log(`${dir.padEnd(28)} NO REPORT (its tests did not run on Node ${major})`);
        failures.push(`Node ${major}: ${dir} has no test report`);
        sum.failed += 1;
      }
      continue;
    }
    const r = JSON.parse(readFileSync(file, 'utf8'));
    // A suite that failed to load counts as a failure even when it reported no test.
    const broken = (r.testResults ?? []).filter((f) => f.status === 'failed' && f.assertionResults.length === 0).length;
    const p = r.numPassedTests;
    const f = r.numFailedTests + broken;
    const s = r.numPendingTests + r.numTodoTests;
    console.log(
      `${dir.padEnd(28)} ${String(p).padStart(4)} passed ${String(f).padStart(3)} failed ${String(s).padStart(3)} skipped`,
    );
    // Name what failed: CI shows only the tail of the log, and a count alone does not say where to look.
    for (const t of r.testResults ?? []) {
      const where = t.name.slice(root.length + 1);
      if (t.status === 'failed' && t.assertionResults.length === 0) {
        failures.push(`Node ${major}: FAILED to load ${where}: ${firstLine(t.message)}`);
      }
      for (const a of t.assertionResults) {
        if (a.status === 'failed')
          failures.push(`Node ${major}: FAILED ${where} > ${a.fullName}: ${firstLine(a.failureMessages?.[0])}`);
      }
    }
    sum.passed += p;
    sum.failed += f;
    sum.skipped += s;
  }
  perVersion.push([`test suite, Node ${major}`, sum]);
}

if (resultsDir && existsSync(join(resultsDir, 'gate'))) {
  console.log('\n=== packaging gate (packed tarball installed alone; import, require, types)');
  const sum = { passed: 0, failed: 0, skipped: 0 };
  for (const file of readdirSync(join(resultsDir, 'gate')).sort()) {
    const r = JSON.parse(readFileSync(join(resultsDir, 'gate', file), 'utf8'));
    const cells = [];
    const count = (ok, what) => {
      if (ok) sum.passed += 1;
      else {
        sum.failed += 1;
        failures.push(`gate: ${r.package}: ${what}`);
      }
    };
    count(r.tarball?.length === 0, `tarball: ${(r.tarball ?? ['not checked']).join('; ')}`);
    if (r.error) count(false, r.error);
    for (const [major, checks] of Object.entries(r.nodes ?? {})) {
      const bad = checks.filter((c) => !c.ok);
      for (const c of checks) count(c.ok, `Node ${major} ${c.name}${c.message ? `: ${c.message}` : ''}`);
      cells.push(`node${major} ${bad.length ? `FAILED (${bad.map((c) => c.name).join(', ')})` : 'ok'}`);
    }
    console.log(`${r.package.padEnd(30)} tarball ${r.tarball?.length === 0 ? 'ok' : 'FAILED'}  ${cells.join('  ')}`);
  }
  // Every package with a gate must have left a result: a gate that never ran is not a pass.
  for (const dir of dirs.filter((d) => manifest(d).scripts?.['check:packages'])) {
    const name = manifest(dir).name;
    if (existsSync(join(resultsDir, 'gate', `${name.replace('@spawnguard/', '')}.json`))) continue;
    console.log(`${name.padEnd(30)} NO RESULT (its packaging gate did not run)`);
    failures.push(`gate: ${name}: no result`);
    sum.failed += 1;
  }
  perVersion.push(['packaging gate', sum]);
}

if (resultsDir && existsSync(join(resultsDir, 'rehearsal.json'))) {
  const r = JSON.parse(readFileSync(join(resultsDir, 'rehearsal.json'), 'utf8'));
  console.log(`\n=== release rehearsal (local registry, installed by name; Node ${r.node ?? '?'})`);
  const sum = { passed: 0, failed: 0, skipped: 0 };
  for (const c of r.checks ?? []) {
    if (c.ok) sum.passed += 1;
    else {
      sum.failed += 1;
      failures.push(`rehearsal: ${c.name}${c.message ? `: ${c.message}` : ''}`);
    }
  }
  for (const line of r.lines ?? []) console.log(line);
  if (r.error) {
    sum.failed += 1;
    failures.push(`rehearsal: ${r.error}`);
  }
  perVersion.push(['release rehearsal', sum]);
}

if (failures.length) {
  console.log('\n=== failures');
  for (const f of failures) console.log(`  ${f.split('\n').slice(0, 8).join('\n      ')}`);
}
console.log('\n=== totals');
for (const [what, s] of perVersion) {
  console.log(
    `${what.padEnd(28)} ${String(s.passed).padStart(4)} passed ${String(s.failed).padStart(3)} failed ${String(s.skipped).padStart(3)} skipped`,
  );
  total.passed += s.passed;
  total.failed += s.failed;
  total.skipped += s.skipped;
}

function firstLine(text) {
  return (
    String(text ?? '')
      .split('\n')
      .find((l) => l.trim() !== '') ?? ''
  );
}

console.log(`${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
if (total.failed > 0) process.exitCode = 1;
