import type { ChildProcess } from 'node:child_process';
import { TestProcesses as SharedTestProcesses, waitFor } from '../../../test-kit/processes.js';

export { alive, cmdlineOf, newMarker, stateOf, waitFor } from '../../../test-kit/processes.js';

export class TestProcesses extends SharedTestProcesses {
  constructor() {
    super('spawnguard-or-');
  }
}

/**
 * root -> mid -> [leaf, stubborn]: three levels; `stubborn` ignores SIGTERM. Each prints
 * "role:pid". argv: role (start with 'root') marker
 */
export const TREE_SCRIPT = `
const { spawn } = require('node:child_process');
const [role, marker] = process.argv.slice(2);
const child = (r) => spawn(process.execPath, [__filename, r, marker], { stdio: ['ignore', 'inherit', 'inherit'] });
if (role === 'root') child('mid');
if (role === 'mid') { child('leaf'); child('stubborn'); }
if (role === 'stubborn') process.on('SIGTERM', () => {});
process.stdout.write(role + ':' + process.pid + '\\n');
setInterval(() => {}, 1000);
`;

/**
 * Starts `count` marked idle processes, `gapMs` apart, detached, then exits: they become orphans.
 * Prints their pids (oldest first) on one line. argv: marker count gapMs
 */
export const ORPHANS_SCRIPT = `
const { spawn } = require('node:child_process');
const [marker, count, gapMs] = process.argv.slice(2);
const pids = [];
const next = () => {
  if (pids.length === Number(count)) {
    process.stdout.write(pids.join(' ') + '\\n', () => process.exit(0));
    return;
  }
  const c = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', marker, 'orphan-' + pids.length], {
    detached: true,
    stdio: 'ignore',
  });
  c.unref();
  pids.push(c.pid);
  setTimeout(next, Number(gapMs));
};
next();
`;

/** Reads "role:pid" lines until every role is there. */
export async function readRoles(
  child: ChildProcess,
  roles: string[],
  timeoutMs = 10_000,
): Promise<Record<string, number>> {
  let text = '';
  child.stdout?.on('data', (d: Buffer) => {
    text += d.toString();
  });
  return waitFor(
    () => {
      const found: Record<string, number> = {};
      for (const m of text.matchAll(/(\w+):(\d+)/g)) found[m[1]!] = Number(m[2]);
      return roles.every((r) => r in found) ? found : null;
    },
    { timeoutMs, what: `roles ${roles.join(', ')}` },
  );
}
