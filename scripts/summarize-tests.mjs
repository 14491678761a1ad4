#!/usr/bin/env node
// Sums every package's vitest JSON report into the one closing line CI reads.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const dirs = ['packages', 'apps']
  .flatMap((group) => (existsSync(join(root, group)) ? readdirSync(join(root, group)).map((d) => join(group, d)) : []))
  .concat(['bench']);
let passed = 0;
let failed = 0;
let skipped = 0;
for (const dir of dirs) {
  const file = join(root, dir, 'test-results', 'vitest.json');
  if (!existsSync(file)) continue;
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
  for (const file of r.testResults ?? []) {
    const where = file.name.slice(root.length + 1);
    if (file.status === 'failed' && file.assertionResults.length === 0) {
      console.log(`  FAILED to load ${where}: ${firstLine(file.message)}`);
    }
    for (const t of file.assertionResults) {
      if (t.status === 'failed') console.log(`  FAILED ${where} > ${t.fullName}: ${firstLine(t.failureMessages?.[0])}`);
    }
  }
  passed += p;
  failed += f;
  skipped += s;
}
function firstLine(text) {
  return (
    String(text ?? '')
      .split('\n')
      .find((l) => l.trim() !== '') ?? ''
  );
}

console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
