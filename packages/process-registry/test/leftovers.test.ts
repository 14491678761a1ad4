import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { treeOf } from '@spawnguard/process-table';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Entry, FORMAT, openRegistry, type RegistryEvents, RegistryNotOwnedError } from '../src/index.js';
import {
  cleanup,
  ensureBuilt,
  exited,
  fixture,
  isAlive,
  marked,
  marker,
  sleeper,
  tempDir,
  waitFor,
} from './helpers.js';

let mark = '';
beforeAll(() => ensureBuilt(), 120_000);
afterEach(async () => {
  await cleanup(mark);
});

interface Ready {
  pid: number;
  children: Array<{ pid: number; startToken: string; grandchild: number }>;
}

/** Starts the fixture daemon and waits for its "ready" line. */
async function startDaemon(
  path: string,
  count = 3,
): Promise<{ daemon: ChildProcess; ready: Ready; lines: AsyncIterator<string> }> {
  const daemon = spawn(process.execPath, [fixture('daemon.mjs'), path, mark, String(count)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: daemon.stdout! })[Symbol.asyncIterator]();
  const first = await lines.next();
  if (first.done || !first.value.startsWith('ready ')) throw new Error(`daemon did not get ready: ${first.value}`);
  return { daemon, ready: JSON.parse(first.value.slice('ready '.length)), lines };
}

const entry = (pid: number, startToken: string, spawnedAt = 1): Entry => ({
  pid,
  startToken,
  pgid: pid,
  session: 's',
  type: 't',
  spawnedAt,
  command: process.execPath,
});

const writeRegistry = (path: string, owner: { pid: number; startToken: string; hostname: string }, entries: Entry[]) =>
  writeFileSync(path, JSON.stringify({ format: FORMAT, version: 1, owner, updatedAt: 1, entries }));

/** The identity of a process that existed and is now gone: a genuinely dead owner. */
async function deadOwner(): Promise<{ pid: number; startToken: string; hostname: string }> {
  const gone = await sleeper(mark, 'dead-owner');
  gone.child.kill('SIGKILL');
  await exited(gone.child);
  return { pid: gone.pid, startToken: gone.startToken, hostname: hostname() };
}

describe('reapLeftovers after the owning daemon was SIGKILLed', () => {
  it('kills all 6 processes of the dead daemon (3 children + 3 grandchildren) and nothing else', async () => {
    mark = marker();
    const path = join(tempDir(), 'registry.json');
    const unrelated = await sleeper(mark, 'unrelated'); // marked, but never in any registry
    const { daemon, ready } = await startDaemon(path);
    const family = ready.children.flatMap((c) => [c.pid, c.grandchild]).sort();
    expect(new Set(family).size).toBe(6);
    const before = (await marked(mark)).map((p) => p.pid);
    expect(before.sort()).toEqual([...family, unrelated.pid, daemon.pid!].sort());

    daemon.kill('SIGKILL');
    await exited(daemon);
    // The children outlive their owner: that is the leak reapLeftovers exists for.
    expect((await marked(mark)).map((p) => p.pid).sort()).toEqual([...family, unrelated.pid].sort());

    const registry = await openRegistry(path);
    expect(registry.state).toBe('not-owned');
    expect(registry.notOwned).toMatchObject({ reason: 'leftovers-pending', owner: { pid: daemon.pid } });
    const spawnError = await registry.spawn(process.execPath, ['-e', ''], { session: 's', type: 't' }).catch((e) => e);
    expect(spawnError).toBeInstanceOf(RegistryNotOwnedError);
    expect(spawnError.message).toMatch(/call reapLeftovers\(\) before spawn\(\)/);

    const reaped: RegistryEvents['reaped'][] = [];
    registry.events.on('reaped', (e) => reaped.push(e));
    const result = await registry.reapLeftovers({ graceMs: 2000 });
    expect(result.killed.map((e) => e.pid).sort()).toEqual(ready.children.map((c) => c.pid).sort());
    expect(result.dropped).toEqual([]);
    expect(result.skipped).toEqual([]);
    expect(result.ownerAlive).toBeNull();
    expect(reaped.every((e) => e.leftover)).toBe(true);
    expect(reaped.map((e) => e.entry.pid)).toEqual(result.killed.map((e) => e.pid)); // newest first, as killed

    for (const pid of family) await waitFor(() => !isAlive(pid));
    expect((await marked(mark)).map((p) => p.pid)).toEqual([unrelated.pid]);
    expect(isAlive(unrelated.pid)).toBe(true);

    // The file is now ours and empty; spawning works.
    expect(registry.state).toBe('owned');
    const file = JSON.parse(readFileSync(path, 'utf8'));
    expect(file.owner).toEqual(registry.owner);
    expect(file.entries).toEqual([]);
  });

  it('shutdown() of a live daemon leaves 0 descendants', async () => {
    mark = marker();
    const path = join(tempDir(), 'registry.json');
    const { daemon, ready, lines } = await startDaemon(path);
    expect((await treeOf(daemon.pid!)).length).toBeGreaterThanOrEqual(6);
    daemon.stdin!.write('shutdown\n');
    const done = await lines.next();
    expect(done.value).toMatch(/^shutdown-done /);
    expect(JSON.parse(done.value.slice('shutdown-done '.length))).toEqual({ reaped: 3, failed: 0, left: 0 });
    await waitFor(async () => (await treeOf(daemon.pid!)).length === 0);
    expect(await treeOf(daemon.pid!)).toEqual([]);
    for (const c of ready.children) {
      expect(isAlive(c.pid)).toBe(false);
      expect(isAlive(c.grandchild)).toBe(false);
    }
    expect((await marked(mark)).map((p) => p.pid)).toEqual([daemon.pid]);
    expect(JSON.parse(readFileSync(path, 'utf8')).entries).toEqual([]);
    daemon.stdin!.write('exit\n');
    await exited(daemon);
    expect(daemon.exitCode).toBe(0);
  });
});

describe('identity decides, never the pid alone', () => {
  it('a recorded pid now used by an unrelated process (wrong start token) is dropped, not killed', async () => {
    mark = marker();
    const path = join(tempDir(), 'registry.json');
    const unrelated = await sleeper(mark, 'reused-pid');
    const leftover = await sleeper(mark, 'real-leftover');
    const vanished = await deadOwner();
    writeRegistry(path, await deadOwner(), [
      entry(unrelated.pid, `${unrelated.startToken}-earlier-incarnation`, 1),
      entry(leftover.pid, leftover.startToken, 2),
      entry(vanished.pid, vanished.startToken, 3),
    ]);
    const registry = await openRegistry(path);
    const dropped: RegistryEvents['dropped'][] = [];
    registry.events.on('dropped', (e) => dropped.push(e));
    const result = await registry.reapLeftovers({ graceMs: 1000 });
    expect(result.killed.map((e) => e.pid)).toEqual([leftover.pid]);
    expect(result.dropped.map((e) => e.pid)).toEqual([vanished.pid, unrelated.pid]); // newest first
    expect(dropped.map((d) => [d.entry.pid, d.reason])).toEqual([
      [vanished.pid, 'gone'],
      [unrelated.pid, 'pid-reused'],
    ]);
    await exited(leftover.child);
    expect(isAlive(unrelated.pid)).toBe(true);
    expect(unrelated.child.exitCode).toBeNull();
    expect(registry.state).toBe('owned');
  });

  it('a proven leftover that killTree refuses (another user) is kept recorded, not forgotten', async () => {
    mark = marker();
    const path = join(tempDir(), 'registry.json');
    const foreign = await sleeper(mark, 'runs-as-nobody', 65534);
    writeRegistry(path, await deadOwner(), [entry(foreign.pid, foreign.startToken)]);
    const registry = await openRegistry(path);
    const result = await registry.reapLeftovers({ graceMs: 500 });
    expect(result.killed).toEqual([]);
    expect(result.dropped).toEqual([]);
    expect(result.skipped).toEqual([
      { entry: entry(foreign.pid, foreign.startToken), reason: expect.stringMatching(/^kill-failed: .*other-user/) },
    ]);
    expect(isAlive(foreign.pid)).toBe(true);
    // Adopted: the file is ours now and still names it, so shutdown() or the next boot can try again.
    expect(registry.state).toBe('owned');
    expect(registry.entries()).toEqual([entry(foreign.pid, foreign.startToken)]);
    expect(JSON.parse(readFileSync(path, 'utf8')).entries).toEqual([entry(foreign.pid, foreign.startToken)]);
    const stop = await registry.shutdown({ graceMs: 200 });
    expect(stop.failed.map((f) => f.entry.pid)).toEqual([foreign.pid]);
    expect(stop.failed[0]!.error.message).toMatch(/other-user/);
    expect(isAlive(foreign.pid)).toBe(true);
  });

  it('a live previous owner: its children are not touched and the file is not taken over', async () => {
    mark = marker();
    const path = join(tempDir(), 'registry.json');
    const otherDaemon = await sleeper(mark, 'other-daemon');
    const itsChild = await sleeper(mark, 'its-child');
    const owner = { pid: otherDaemon.pid, startToken: otherDaemon.startToken, hostname: hostname() };
    writeRegistry(path, owner, [entry(itsChild.pid, itsChild.startToken)]);
    const bytes = readFileSync(path, 'utf8');

    const registry = await openRegistry(path);
    expect(registry.state).toBe('not-owned');
    expect(registry.notOwned).toEqual({ reason: 'owner-alive', owner });
    const result = await registry.reapLeftovers({ graceMs: 500 });
    expect(result).toEqual({
      killed: [],
      dropped: [],
      skipped: [{ entry: entry(itsChild.pid, itsChild.startToken), reason: 'owner-alive' }],
      ownerAlive: owner,
    });
    const error = await registry.spawn(process.execPath, ['-e', ''], { session: 's', type: 't' }).catch((e) => e);
    expect(error).toBeInstanceOf(RegistryNotOwnedError);
    expect(error).toMatchObject({ code: 'EREGISTRYNOTOWNED', reason: 'owner-alive', owner, path });
    expect(readFileSync(path, 'utf8')).toBe(bytes);
    expect(isAlive(itsChild.pid)).toBe(true);
    // shutdown() of a registry that never owned the file signals nothing and leaves the file alone.
    const other = await openRegistry(path);
    expect((await other.shutdown()).reaped).toEqual([]);
    expect(readFileSync(path, 'utf8')).toBe(bytes);

    // The caller decides: here it stops the other daemon, then asks again.
    otherDaemon.child.kill('SIGKILL');
    await exited(otherDaemon.child);
    const second = await registry.reapLeftovers({ graceMs: 1000 });
    expect(second.killed.map((e) => e.pid)).toEqual([itsChild.pid]);
    expect(second.ownerAlive).toBeNull();
    await exited(itsChild.child);
    expect(registry.state).toBe('owned');
  });

  it('a file written on another host is not taken over (liveness cannot be proven here)', async () => {
    mark = marker();
    const path = join(tempDir(), 'registry.json');
    const child = await sleeper(mark, 'elsewhere');
    const owner = { pid: 12345, startToken: 'x', hostname: `${hostname()}-other` };
    writeRegistry(path, owner, [entry(child.pid, child.startToken)]);
    const registry = await openRegistry(path);
    expect(registry.notOwned).toEqual({ reason: 'owner-on-other-host', owner });
    const result = await registry.reapLeftovers();
    expect(result.skipped).toEqual([{ entry: entry(child.pid, child.startToken), reason: 'owner-on-other-host' }]);
    expect(result.ownerAlive).toEqual(owner);
    expect(isAlive(child.pid)).toBe(true);
  });

  it('a dead owner with no entries (clean shutdown) is taken over at open', async () => {
    mark = marker();
    const path = join(tempDir(), 'registry.json');
    writeRegistry(path, await deadOwner(), []);
    const registry = await openRegistry(path);
    expect(registry.state).toBe('owned');
    expect(await registry.reapLeftovers()).toEqual({ killed: [], dropped: [], skipped: [], ownerAlive: null });
    expect(JSON.parse(readFileSync(path, 'utf8')).owner).toEqual(registry.owner);
  });
});
