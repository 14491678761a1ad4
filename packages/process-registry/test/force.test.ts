import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { events as reaperEvents } from '@spawnguard/orphan-reaper';
import { afterEach, describe, expect, it } from 'vitest';
import { openRegistry, type Registry } from '../src/index.js';
import { cleanup, isAlive, marked, marker, readyLine, tempDir, waitFor } from './helpers.js';

let mark = '';
afterEach(async () => {
  await cleanup(mark);
});

/** A child that ignores SIGTERM and starts a grandchild that ignores it too; prints "gc <pid>" then "ready". */
const STUBBORN_TREE = `
const { spawn } = require('node:child_process');
process.on('SIGTERM', () => {});
const gc = spawn(process.execPath, ['-e', "process.on('SIGTERM', () => {}); setInterval(() => {}, 1e6)", process.argv[1], 'grandchild'], { stdio: 'ignore' });
gc.on('spawn', () => setTimeout(() => process.stdout.write('gc ' + gc.pid + '\\nready\\n'), 200));
setInterval(() => {}, 1e6);
`;

async function stubbornTrees(registry: Registry, count: number): Promise<number[]> {
  const pids: number[] = [];
  for (let i = 0; i < count; i++) {
    const { child } = await registry.spawn(process.execPath, ['-e', STUBBORN_TREE, mark, `tree-${i}`], {
      session: 's',
      type: 't',
    });
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
    });
    await readyLine(child);
    pids.push(child.pid!, Number(/gc (\d+)/.exec(out)![1]));
  }
  return pids;
}

const settle = <T>(promise: Promise<T>, ms: number) =>
  Promise.race([promise, new Promise<'still running'>((r) => setTimeout(() => r('still running'), ms))]);

describe('shutdown({ force: true }): a second Ctrl-C', () => {
  it('escalates a graceful shutdown in progress: every tree, SIGTERM-ignoring grandchildren included, dies at once', async () => {
    mark = marker();
    const path = join(tempDir(), 'registry.json');
    const registry = await openRegistry(path);
    const family = await stubbornTrees(registry, 3);
    expect(await marked(mark)).toHaveLength(6);

    const graceful = registry.shutdown({ graceMs: 60_000, totalTimeoutMs: 120_000 });
    // The first tree got its SIGTERM and ignores it: the graceful shutdown would wait a minute.
    await waitFor(async () => (await settle(graceful, 300)) === 'still running');
    const forced = registry.shutdown({ force: true });
    expect(forced).toBe(graceful); // the same shutdown, escalated
    const result = await settle(forced, 10_000); // a bound far below the 60 s grace, not a speed target
    expect(result).not.toBe('still running');
    if (result === 'still running') return;
    expect(result.failed).toEqual([]);
    expect(result.reaped).toHaveLength(3);
    for (const pid of family) await waitFor(() => !isAlive(pid), 3000);
    expect(await marked(mark)).toEqual([]);
    expect(registry.ownership.state).toBe('closed');
    expect(JSON.parse(readFileSync(path, 'utf8'))).toMatchObject({ owner: null, entries: [] });
  });

  it('as the first call: SIGKILL to every member, no SIGTERM at all', async () => {
    mark = marker();
    const registry = await openRegistry(join(tempDir(), 'registry.json'));
    const family = await stubbornTrees(registry, 2);
    const signals: Array<{ pid: number; signal: string }> = [];
    const onSignal = (e: { pid: number; signal: string }) => signals.push(e);
    reaperEvents.on('signal', onSignal);
    try {
      const result = await registry.shutdown({ force: true });
      expect(result.failed).toEqual([]);
      expect(result.reaped.map((r) => r.result.terminated)).toEqual([[], []]);
      expect(result.reaped.flatMap((r) => r.result.killed).sort()).toEqual([...family].sort());
      expect(signals.filter((s) => family.includes(s.pid)).every((s) => s.signal === 'SIGKILL')).toBe(true);
      for (const pid of family) await waitFor(() => !isAlive(pid), 3000);
    } finally {
      reaperEvents.off('signal', onSignal);
    }
  });

  it('validates force and refuses it with a grace period', async () => {
    const registry = await openRegistry(join(tempDir(), 'registry.json'));
    await expect(registry.shutdown({ force: 'yes' as never })).rejects.toThrow(
      /options.force must be a boolean, got "yes"/,
    );
    await expect(registry.shutdown({ force: true, graceMs: 5 })).rejects.toThrow(
      /options.graceMs cannot be combined with options.force .*got 5/,
    );
    expect(registry.ownership.state).toBe('owned');
  });
});
