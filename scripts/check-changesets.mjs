#!/usr/bin/env node
// Every pending changeset must parse: front matter naming existing, publishable packages with a
// bump type, then a summary. A formatter once turned the front matter into a heading silently.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const publishable = new Set(
  readdirSync(join(root, 'packages'))
    .map((d) => join(root, 'packages', d, 'package.json'))
    .filter(existsSync)
    .map((f) => JSON.parse(readFileSync(f, 'utf8')))
    .filter((p) => !p.private)
    .map((p) => p.name),
);
let bad = 0;
for (const file of readdirSync(join(root, '.changeset')).filter((f) => f.endsWith('.md') && f !== 'README.md')) {
  const text = readFileSync(join(root, '.changeset', file), 'utf8');
  const m = /^---\n([\s\S]*?)\n---\n([\s\S]*)$/.exec(text);
  const problems = [];
  if (!m) problems.push('no front matter (--- / "pkg": bump / ---)');
  else {
    for (const line of m[1].split('\n').filter(Boolean)) {
      const entry = /^"(.+)": (major|minor|patch)$/.exec(line.trim());
      if (!entry) problems.push(`bad line ${JSON.stringify(line)}`);
      else if (!publishable.has(entry[1])) problems.push(`unknown or private package ${entry[1]}`);
    }
    if (!m[2].trim()) problems.push('empty summary');
  }
  for (const p of problems) console.error(`.changeset/${file}: ${p}`);
  bad += problems.length;
}
if (bad) process.exit(1);
console.log('changesets ok');
