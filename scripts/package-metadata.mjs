#!/usr/bin/env node
// The registry metadata every public package carries (repository with its directory, homepage, bugs,
// keywords, license, publishConfig.access, sideEffects, files). `checkMetadata` is the packaging
// gate's check; run this file to write the fields into every public package.json:
//
//   node scripts/package-metadata.mjs            write (only these fields; the file is re-read just before)
//   node scripts/package-metadata.mjs --check    exit 1 when a package lacks them
//
// Other fields (dependencies, exports, scripts ...) are never touched.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const REPOSITORY = 'https://github.com/spawnguard/spawnguard';
const COMMON_KEYWORDS = ['spawnguard', 'spawn', 'daemon', 'process', 'storm'];
/** What someone searching the registry for this package's job would type. */
const KEYWORDS = {
  'bind-or-die': ['port', 'bind', 'eaddrinuse', 'singleton', 'unix-socket'],
  'circuit-breaker': ['circuit-breaker', 'resilience', 'cross-process', 'crash-loop'],
  'connection-memo': ['single-flight', 'memoize', 'connection', 'dedupe'],
  'orphan-reaper': ['orphan', 'kill', 'process-tree', 'cleanup', 'leak'],
  'process-registry': ['child-process', 'registry', 'shutdown', 'cleanup'],
  'process-table': ['ps', 'pid', 'proc', 'process-list', 'pid-reuse'],
  'spawn-mutex': ['singleton', 'lock', 'mutex', 'lockfile', 'spawn-once'],
  storm: ['load-test', 'concurrency', 'cli', 'testing'],
};

/** What a package's metadata must be; `dir` is its folder relative to the repository root. */
export function expectedMetadata(pkg, dir) {
  return {
    license: 'MIT',
    repository: { type: 'git', url: `git+${REPOSITORY}.git`, directory: dir },
    homepage: `${REPOSITORY}/tree/main/${dir}#readme`,
    bugs: { url: `${REPOSITORY}/issues` },
    publishConfig: { ...pkg.publishConfig, access: 'public' },
    sideEffects: false,
    // README and package.json are always packed; CHANGELOG.md is written by `changeset version`.
    files: ['dist', 'README.md', 'CHANGELOG.md'],
    keywords: [...new Set([...COMMON_KEYWORDS, ...(pkg.keywords ?? []), ...(KEYWORDS[dir.split('/').pop()] ?? [])])],
  };
}

export function checkMetadata(pkg, dir) {
  if (pkg.private) return [];
  const want = expectedMetadata(pkg, dir);
  const problems = [];
  for (const [key, value] of Object.entries(want)) {
    if (key === 'keywords') {
      const missing = COMMON_KEYWORDS.filter((k) => !pkg.keywords?.includes(k));
      if (missing.length) problems.push(`keywords lack ${missing.join(', ')}`);
    } else if (JSON.stringify(pkg[key]) !== JSON.stringify(value)) {
      problems.push(`${key} is ${JSON.stringify(pkg[key])}, expected ${JSON.stringify(value)}`);
    }
  }
  if (typeof pkg.description !== 'string' || pkg.description.length < 10) problems.push('no description');
  if (!pkg.engines?.node) problems.push('no engines.node');
  return problems;
}

/** Rewrites only the metadata keys, keeping every other key where it was; new keys go after "license". */
function withMetadata(pkg, dir) {
  const want = expectedMetadata(pkg, dir);
  const out = {};
  const anchor = 'license' in pkg ? 'license' : 'description';
  for (const [key, value] of Object.entries(pkg)) {
    out[key] = key in want ? want[key] : value;
    if (key === anchor) for (const k of Object.keys(want)) if (!(k in pkg)) out[k] = want[k];
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const root = resolve(import.meta.dirname, '..');
  const check = process.argv.includes('--check');
  const only = process.argv.slice(2).filter((a) => !a.startsWith('--')); // e.g. packages/storm
  let bad = 0;
  for (const name of readdirSync(join(root, 'packages'))) {
    const dir = `packages/${name}`;
    if (only.length && !only.includes(dir)) continue;
    const file = join(root, dir, 'package.json');
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, 'utf8'));
    if (pkg.private) continue;
    if (check) {
      for (const p of checkMetadata(pkg, dir)) console.error(`${pkg.name}: ${p}`);
      bad += checkMetadata(pkg, dir).length;
      continue;
    }
    // Others edit these files too: re-read right before writing, change only our keys.
    const text = readFileSync(file, 'utf8');
    const next = `${JSON.stringify(withMetadata(JSON.parse(text), dir), null, 2)}\n`;
    if (next !== text) {
      writeFileSync(file, next);
      console.log(`${dir}/package.json: metadata written`);
    }
  }
  if (bad) process.exit(1);
}
