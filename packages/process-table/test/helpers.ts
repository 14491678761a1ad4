import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestProcesses as SharedTestProcesses } from '../../../test-kit/processes.js';

export { alive, cmdlineOf, newMarker, stateOf, waitFor } from '../../../test-kit/processes.js';

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

export const BOOT = '6f1c2a34-0000-4000-8000-000000000001';
export const PF_KTHREAD = 0x00200000;

/** A fake procfs in a temp folder: the Linux reader is pointed at it with procRoot. */
export class FakeProc {
  readonly root = mkdtempSync(join(tmpdir(), 'spawnguard-fakeproc-'));
  constructor(uptimeSeconds = 1000.5) {
    mkdirSync(join(this.root, 'sys/kernel/random'), { recursive: true });
    writeFileSync(join(this.root, 'sys/kernel/random/boot_id'), `${BOOT}\n`);
    writeFileSync(join(this.root, 'uptime'), `${uptimeSeconds.toFixed(2)} 1800.00\n`);
    mkdirSync(join(this.root, 'self'));
    writeFileSync(join(this.root, 'meminfo'), 'MemTotal: 1 kB\n');
  }
  add(pid: number, { name = 'proc', ppid = 1, ticks = 100, state = 'S', flags = 0x400100, cmdline = ['proc'] } = {}) {
    const dir = join(this.root, String(pid));
    mkdirSync(dir);
    // 52 fields as in proc(5); field 22 (starttime) is the 20th after the name.
    const after = [state, ppid, pid, pid, 0, -1, flags, 0, 0, 0, 0, 1, 2, 0, 0, 20, 0, 1, 0, ticks, 1000, 10];
    writeFileSync(join(dir, 'stat'), `${pid} (${name}) ${after.join(' ')} 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n`);
    writeFileSync(join(dir, 'cmdline'), cmdline.length ? `${cmdline.join('\0')}\0` : '');
    return dir;
  }
  cleanup() {
    rmSync(this.root, { recursive: true, force: true });
  }
}
