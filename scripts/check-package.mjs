#!/usr/bin/env node
// Packaging gate for the package in the current folder: publint, attw --pack, and a
// pick-and-choose install (the packed tarball alone, plus tarballs of any workspace packages it
// depends on, into a fresh project outside the monorepo; third-party deps come from the registry),
// then import (ESM) and require (CJS) and run the package's smoke.cjs against each.
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const pkgDir = process.cwd();
const root = resolve(pkgDir, '../..');
const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
const bin = (name) => join(root, 'node_modules', '.bin', name);
const run = (cmd, args, opts = {}) => {
  console.log(`$ ${[cmd, ...args].join(' ')}`);
  execFileSync(cmd, args, { stdio: 'inherit', ...opts });
};

if (!existsSync(join(pkgDir, 'smoke.cjs'))) {
  console.error(`${pkg.name}: smoke.cjs is missing; it must call one function of the packed package`);
  process.exit(1);
}

run(bin('publint'), ['--strict']);
run(bin('attw'), ['--pack', '.', '--profile', 'node16']);

// @spawnguard/internal is inlined by tsup and never published: no built file may still name it.
for (const file of readdirSync(join(pkgDir, 'dist'), { recursive: true })) {
  const path = join(pkgDir, 'dist', String(file));
  if (!/\.(c|m)?(js|ts)$/.test(path)) continue;
  if (readFileSync(path, 'utf8').includes('@spawnguard/internal')) {
    console.error(`${pkg.name}: ${path} still imports @spawnguard/internal; keep its types out of the public API`);
    process.exit(1);
  }
}

/** Workspace packages this one depends on at run time, transitively. */
function workspaceDeps(manifest, seen = new Set()) {
  for (const [name, range] of Object.entries(manifest.dependencies ?? {})) {
    if (!String(range).startsWith('workspace:') || seen.has(name)) continue;
    const dir = join(root, 'packages', name.replace('@spawnguard/', ''));
    seen.add(dir);
    workspaceDeps(JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')), seen);
  }
  return seen;
}

const work = mkdtempSync(join(tmpdir(), 'spawnguard-pack-'));
try {
  const tarballs = [];
  for (const dir of [pkgDir, ...workspaceDeps(pkg)]) {
    const before = new Set(readdirSync(work));
    run('pnpm', ['pack', '--pack-destination', work], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
    const made = readdirSync(work).filter((f) => f.endsWith('.tgz') && !before.has(f));
    if (made.length !== 1) throw new Error(`pnpm pack in ${dir} made ${made.length} tarballs`);
    tarballs.push(join(work, made[0]));
  }
  const project = join(work, 'project');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'pick-and-choose', private: true }));
  run('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error', ...tarballs], {
    cwd: project,
  });
  copyFileSync(join(pkgDir, 'smoke.cjs'), join(project, 'smoke.cjs'));
  writeFileSync(
    join(project, 'esm.mjs'),
    `import * as m from '${pkg.name}';\nimport smoke from './smoke.cjs';\nawait smoke(m);\nconsole.log('esm ok');\n`,
  );
  writeFileSync(
    join(project, 'cjs.cjs'),
    `const m = require('${pkg.name}');\nrequire('./smoke.cjs')(m).then(() => console.log('cjs ok'), (e) => { console.error(e); process.exit(1); });\n`,
  );
  run('node', ['esm.mjs'], { cwd: project });
  run('node', ['cjs.cjs'], { cwd: project });
  console.log(`${pkg.name}: packaging checks passed`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
