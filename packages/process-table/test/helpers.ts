import { TestProcesses as SharedTestProcesses } from '../../../test-kit/processes.ts';

export { alive, cmdlineOf, newMarker, stateOf, waitFor } from '../../../test-kit/processes.ts';

export class TestProcesses extends SharedTestProcesses {
  constructor() {
    super('spawnguard-pt-');
  }
}

/**
 * A node script that builds a chain: each level prints its pid and starts the next one.
 * argv: depth marker [ignore-term-at-depth]
 */
export const TREE_SCRIPT = `
const { spawn } = require('node:child_process');
const [depth, marker, ignoreAt] = process.argv.slice(2);
if (ignoreAt !== undefined && ignoreAt === depth) process.on('SIGTERM', () => {});
if (Number(depth) > 1) {
  spawn(process.execPath, [__filename, String(Number(depth) - 1), marker, ...(ignoreAt ? [ignoreAt] : [])], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
}
process.stdout.write(process.pid + '\\n');
setInterval(() => {}, 1000);
`;
