#!/usr/bin/env node
// Packaging gate for the package in the current folder: the manifest's metadata, publint, attw --pack,
// what the tarball holds (no tests, fixtures or source maps that point nowhere), and a pick-and-choose
// install (the packed tarball alone, plus tarballs of any workspace packages it depends on, into a fresh
// project outside the monorepo; third-party deps come from the registry), then import (ESM), require
// (CJS) and the package's smoke.cjs against each, and a type check of a .ts consumer (node16 and bundler
// resolution).
//
// Arguments (turbo passes them through after `--`, and hashes them):
//   --nodes=20,22,24,26   repeat the install / import / require / type check on each of those Node majors
//                         (scripts/node-matrix.mjs fetches them); default: the current Node only
//   --results=<folder>    also write <folder>/gate/<package>.json for the CI summary
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
import { dirname, join, resolve } from 'node:path';
import { nodeBin } from './node-matrix.mjs';
import { checkMetadata } from './package-metadata.mjs';
import { tarballProblems } from './tarball-check.mjs';

const pkgDir = process.cwd();
const root = resolve(pkgDir, '../..');
const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
const bin = (name) => join(root, 'node_modules', '.bin', name);
const run = (cmd, args, opts = {}) => {
  console.log(`$ ${[cmd, ...args].join(' ')}`);
  execFileSync(cmd, args, { stdio: 'inherit', ...opts });
};
const arg = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const majors = (arg('nodes') ?? process.versions.node.split('.')[0]).split(',').map((v) => Number(v.trim()));
const resultsDir = arg('results');
// The CI summary counts what this writes; a gate that stops early (publint, attw, a missing smoke.cjs)
// still leaves its result there, as a failure.
const report = { package: pkg.name, nodes: {} };
process.on('exit', (code) => {
  if (!resultsDir) return;
  if (
    code !== 0 &&
    !report.error &&
    Object.values(report.nodes)
      .flat()
      .every((c) => c.ok) &&
    !report.tarball?.length
  ) {
    report.error = `the gate stopped early (exit ${code}); see its log`;
  }
  const out = join(resolve(resultsDir), 'gate', `${pkg.name.replace('@spawnguard/', '')}.json`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
});
const fail = (message) => {
  console.error(`${pkg.name}: ${message}`);
  report.error = message;
  process.exit(1);
};

if (!existsSync(join(pkgDir, 'smoke.cjs')))
  fail('smoke.cjs is missing; it must call one function of the packed package');

const metadataProblems = checkMetadata(pkg, pkgDir.slice(root.length + 1));
if (metadataProblems.length) {
  fail(`package.json metadata: ${metadataProblems.join('; ')} (run: node scripts/package-metadata.mjs)`);
}

run(bin('publint'), ['--strict']);
run(bin('attw'), ['--pack', '.', '--profile', 'node16']);

// @spawnguard/internal is inlined by tsup and never published: no built file may still name it.
for (const file of readdirSync(join(pkgDir, 'dist'), { recursive: true })) {
  const path = join(pkgDir, 'dist', String(file));
  if (!/\.(c|m)?(js|ts)$/.test(path)) continue;
  if (readFileSync(path, 'utf8').includes('@spawnguard/internal')) {
    fail(`${path} still imports @spawnguard/internal; keep its types out of the public API`);
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

/** One fresh project per Node: install the tarballs alone, import, require, type check. */
function consumerChecks(major, tarballs, work) {
  const nodeDir = nodeBin(major);
  const node = join(nodeDir, 'node');
  const env = { ...process.env, PATH: `${nodeDir}:${process.env.PATH}` };
  const project = join(work, `project-node${major}`);
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'pick-and-choose', private: true }));
  const results = [];
  const check = (name, fn) => {
    try {
      fn();
      results.push({ name, ok: true });
    } catch (error) {
      console.error(`${pkg.name} on Node ${major}: ${name} FAILED: ${error.message}`);
      results.push({ name, ok: false, message: String(error.message).split('\n')[0] });
    }
  };
  const opts = { cwd: project, env };
  check('install', () =>
    run(
      'npm',
      ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--engine-strict', '--loglevel=error', ...tarballs],
      opts,
    ),
  );
  if (!results[0].ok) return results;
  copyFileSync(join(pkgDir, 'smoke.cjs'), join(project, 'smoke.cjs'));
  writeFileSync(
    join(project, 'esm.mjs'),
    `import * as m from '${pkg.name}';\nimport smoke from './smoke.cjs';\nawait smoke(m);\n` +
      `import { writeFileSync } from 'node:fs';\nwriteFileSync('esm-exports.json', JSON.stringify(Object.keys(m)));\n` +
      `console.log('esm ok on', process.version);\n`,
  );
  writeFileSync(
    join(project, 'cjs.cjs'),
    `const m = require('${pkg.name}');\nrequire('fs').writeFileSync('cjs-exports.json', JSON.stringify(Object.keys(m)));\n` +
      `require('./smoke.cjs')(m).then(() => console.log('cjs ok on', process.version), (e) => { console.error(e); process.exit(1); });\n`,
  );
  check('import', () => run(node, ['esm.mjs'], opts));
  check('require', () => run(node, ['cjs.cjs'], opts));
  // A TypeScript consumer: every runtime export must be declared, under node16 (an .mts file resolves
  // the "import" types, a .cts file the "require" types) and under bundler resolution.
  const names = (file) =>
    existsSync(join(project, file)) ? JSON.parse(readFileSync(join(project, file), 'utf8')) : [];
  const consumer = (exports) =>
    `import * as m from '${pkg.name}';\n` +
    `export const api: typeof m = m;\n` +
    `export const names: ReadonlyArray<keyof typeof m> = ${JSON.stringify(exports.filter((n) => n !== 'default'))};\n`;
  writeFileSync(join(project, 'consumer-esm.mts'), consumer(names('esm-exports.json')));
  writeFileSync(join(project, 'consumer-cjs.cts'), consumer(names('cjs-exports.json')));
  writeFileSync(join(project, 'consumer-bundler.ts'), consumer(names('esm-exports.json')));
  const compilerOptions = {
    target: 'es2022',
    lib: ['es2022'],
    strict: true,
    noEmit: true,
    skipLibCheck: false, // the package's own .d.ts files are checked too
    types: ['node'],
    typeRoots: [join(root, 'node_modules', '@types')],
  };
  const tsconfig = (file, extra, files) =>
    writeFileSync(join(project, file), JSON.stringify({ compilerOptions: { ...compilerOptions, ...extra }, files }));
  tsconfig('tsconfig.node16.json', { module: 'node16', moduleResolution: 'node16' }, [
    'consumer-esm.mts',
    'consumer-cjs.cts',
  ]);
  tsconfig('tsconfig.bundler.json', { module: 'esnext', moduleResolution: 'bundler' }, ['consumer-bundler.ts']);
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  check('types (node16)', () => run(node, [tsc, '-p', 'tsconfig.node16.json'], opts));
  check('types (bundler)', () => run(node, [tsc, '-p', 'tsconfig.bundler.json'], opts));
  return results;
}

{
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
    const unpacked = join(work, 'unpacked');
    mkdirSync(unpacked);
    execFileSync('tar', ['xzf', tarballs[0], '-C', unpacked]);
    const problems = tarballProblems(join(unpacked, 'package'));
    report.tarball = problems;
    for (const p of problems) console.error(`${pkg.name} tarball: ${p}`);
    for (const major of majors) report.nodes[major] = consumerChecks(major, tarballs, work);
    let failed = problems.length > 0;
    for (const [major, results] of Object.entries(report.nodes)) {
      const bad = results.filter((r) => !r.ok);
      failed ||= bad.length > 0;
      console.log(
        `${pkg.name} on Node ${major}: ${bad.length ? `FAILED ${bad.map((r) => r.name).join(', ')}` : results.map((r) => r.name).join(', ')}`,
      );
    }
    if (failed) process.exitCode = 1;
    else console.log(`${pkg.name}: packaging checks passed on Node ${majors.join(', ')}`);
  } catch (error) {
    report.error = String(error.message ?? error);
    throw error;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
