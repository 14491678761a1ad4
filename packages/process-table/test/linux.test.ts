import { chmodSync, copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ancestorsOf,
  childrenOf,
  isSameProcess,
  listProcesses,
  type ProcessInfo,
  processAgeMs,
  processIdentity,
  treeOf,
} from '../src/index.js';
import { TestProcesses, TREE_SCRIPT, waitFor } from './helpers.js';

const statField = (pid: number, field: number) =>
  readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[field - 3];

const linux = process.platform === 'linux';
let procs: TestProcesses;
afterEach(async () => {
  await procs?.cleanup();
});

/** Two reads of one process agree on everything but `state`, which the scheduler may change in between. */
const stable = (info: ProcessInfo | null | undefined) => (info ? { ...info, state: undefined } : info);

const IDLE = 'setInterval(() => {}, 1000); process.stdout.write(String(process.pid) + "\\n")';

describe.runIf(linux)('Linux /proc listing, real processes', () => {
  it('finds a spawned child with the right ppid, cmdline and start time', async () => {
    procs = new TestProcesses();
    const before = Date.now();
    const child = procs.node(IDLE, ['extra arg', '']);
    const after = Date.now(); // spawn() forks synchronously: the process started inside [before, after]
    await procs.readPids(child, 1);
    const list = await listProcesses();
    const found = list.filter((p) => p.cmdline.includes(procs.marker));
    expect(found).toHaveLength(1);
    const info = found[0]!;
    expect(info.pid).toBe(child.pid);
    expect(info.ppid).toBe(process.pid);
    // The kernel's comm: 'node' up to Node 22; Node 24 names its main thread 'MainThread' (26:
    // 'node-MainThread'). The listing must report whatever the kernel says.
    expect(info.name).toBe(readFileSync(`/proc/${child.pid}/comm`, 'utf8').trim());
    // argv survives exactly, spaces and an empty argument included
    expect(info.cmdline).toEqual([process.execPath, '-e', IDLE, procs.marker, 'extra arg', '']);
    // Within a second of the spawn (the /proc estimate has 10 ms resolution).
    expect(info.startTime).toBeGreaterThan(before - 1000);
    expect(info.startTime).toBeLessThan(after + 1000);
    expect(info.uid).toBe(process.getuid!());
    expect(info.startToken).toMatch(/^[0-9a-f-]+:\d+$/);
    expect(info.pgid).toBe(process.pid === info.pid ? info.pid : Number(statField(child.pid!, 5)));
    expect(info.state).toMatch(/^[RSD]$/);
    // the listing also contains this process (argv as the kernel has it) and pid 1
    const self = list.find((p) => p.pid === process.pid);
    expect(self?.cmdline).toEqual(readFileSync('/proc/self/cmdline', 'utf8').split('\0').slice(0, -1));
    expect(list.find((p) => p.pid === 1)?.ppid).toBe(0);
  });

  it('parses names with spaces and parentheses (comm written by the process)', async () => {
    procs = new TestProcesses();
    const child = procs.node(
      `require('fs').writeFileSync('/proc/self/comm', 'a) b (c'); process.stdout.write(process.pid + '\\n'); setInterval(() => {}, 1000)`,
    );
    const [pid] = await procs.readPids(child, 1);
    const info = (await listProcesses()).find((p) => p.pid === pid);
    expect(info?.name).toBe('a) b (c');
    expect(info?.ppid).toBe(process.pid);
    expect(info?.cmdline).toContain(procs.marker);
    const identity = await processIdentity(pid!);
    expect(stable(identity)).toEqual(stable(info));
  });

  it('parses an executable whose file name has spaces and parentheses', async () => {
    procs = new TestProcesses();
    const exe = join(procs.dir, 'we ird) (name');
    copyFileSync('/bin/sleep', exe);
    chmodSync(exe, 0o755);
    // sleep takes the marker nowhere, so it travels in argv[0] (sleep ignores its own name)
    const child = procs.spawn(exe, ['30']);
    // spawn() returns after exec succeeded, so comm is already the new file name
    expect(readFileSync(`/proc/${child.pid}/comm`, 'utf8')).toBe('we ird) (name\n');
    const info = (await listProcesses()).find((p) => p.pid === child.pid);
    expect(info?.name).toBe('we ird) (name');
    expect(info?.cmdline).toEqual([exe, '30']);
    expect(info?.ppid).toBe(process.pid);
  });

  it('processIdentity reads one pid; null for a pid that does not exist', async () => {
    procs = new TestProcesses();
    const child = procs.node(IDLE);
    const [pid] = await procs.readPids(child, 1);
    const one = await processIdentity(pid!);
    const fromList = (await listProcesses()).find((p) => p.pid === pid);
    expect(stable(one)).toEqual(stable(fromList));
    expect(one?.state).toMatch(/^[RSD]$/);
    // pid_max is at most 2^22 on Linux
    expect(await processIdentity(2 ** 22 + 7)).toBeNull();
  });

  it('isSameProcess: true while alive, false after exit, false for another token or boot', async () => {
    procs = new TestProcesses();
    const child = procs.node(IDLE);
    const [pid] = await procs.readPids(child, 1);
    const info = (await processIdentity(pid!))!;
    expect(await isSameProcess(info)).toBe(true);
    const [boot, ticks] = info.startToken.split(':');
    expect(await isSameProcess({ pid: pid!, startToken: `${boot}:${Number(ticks) + 1}` })).toBe(false);
    expect(await isSameProcess({ pid: pid!, startToken: `00000000-0000-0000-0000-000000000000:${ticks}` })).toBe(false);
    expect(await isSameProcess({ pid: pid!, startToken: 'garbage' })).toBe(false);
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
    expect(await isSameProcess(info)).toBe(false);
  });

  it('a zombie is listed with state Z and is not "the same process" any more', async () => {
    procs = new TestProcesses();
    // sh forks a short sleep, then execs a long sleep that never reaps it: a zombie child.
    const child = procs.spawn('/bin/sh', ['-c', 'sleep 0.05 & exec sleep 30', procs.marker]);
    const parent = child.pid!;
    const zombie = await waitFor(async () => (await childrenOf(parent)).find((p) => p.state === 'Z'), {
      what: 'a zombie child',
      timeoutMs: 5000,
    });
    expect(zombie.cmdline).toEqual([]);
    expect(zombie.ppid).toBe(parent);
    expect(await isSameProcess(zombie)).toBe(false);
    expect((await processIdentity(zombie.pid))?.state).toBe('Z');
  });

  it('treeOf, childrenOf and ancestorsOf on a real 3-level tree', async () => {
    procs = new TestProcesses();
    const script = procs.script('tree.cjs', TREE_SCRIPT);
    const root = procs.spawn(process.execPath, [script, '3', procs.marker]);
    const pids = await procs.readPids(root, 3);
    const [a, b, c] = pids as [number, number, number]; // printed in start order: root, child, grandchild
    expect(a).toBe(root.pid);
    await waitFor(async () => (await treeOf(a)).length === 2, { what: 'tree of 3' });

    const tree = await treeOf(a);
    expect(tree.map((p) => p.pid)).toEqual([b, c]); // parents before children, root excluded
    expect(tree.every((p) => p.cmdline.includes(procs.marker))).toBe(true);
    expect((await childrenOf(a)).map((p) => p.pid)).toEqual([b]);
    expect((await childrenOf(c)).map((p) => p.pid)).toEqual([]);
    expect((await treeOf(process.pid)).map((p) => p.pid)).toEqual(expect.arrayContaining([a, b, c]));

    const up = await ancestorsOf(c);
    expect(up.slice(0, 3).map((p) => p.pid)).toEqual([b, a, process.pid]);
    expect(up.at(-1)?.pid).toBe(1);
    expect(await ancestorsOf(2 ** 22 + 7)).toEqual([]);
  });

  it('processAgeMs uses the monotonic uptime clock and grows with time', async () => {
    procs = new TestProcesses();
    const before = performance.now();
    const child = procs.node(IDLE);
    const [pid] = await procs.readPids(child, 1);
    const info = (await processIdentity(pid!))!;
    await new Promise((r) => setTimeout(r, 300));
    const age = processAgeMs(info);
    const elapsed = performance.now() - before;
    // 10 ms tick resolution plus the time between the two clock reads
    expect(age).toBeGreaterThanOrEqual(290);
    expect(age).toBeLessThanOrEqual(elapsed + 50);
    // a token from another boot falls back to the wall clock
    expect(processAgeMs({ ...info, startToken: 'other-boot:1', startTime: Date.now() - 5000 })).toBeGreaterThanOrEqual(
      5000,
    );
  });
});
