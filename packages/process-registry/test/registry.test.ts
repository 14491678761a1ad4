import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { captureWarnings, listenerWarning } from '@spawnguard/internal/testing';
import { processIdentity, treeOf } from '@spawnguard/process-table';
import { afterEach, describe, expect, it } from 'vitest';
import { openRegistry, type RegistryEvents } from '../src/index.js';
import {
  cleanup,
  exited,
  grandchildOf,
  isAlive,
  marked,
  marker,
  PARENT_CODE,
  pgidOf,
  readyLine,
  STUBBORN_CODE,
  sleeper,
  tempDir,
  waitFor,
} from './helpers.js';

let mark = '';
afterEach(async () => {
  await cleanup(mark);
});

const O_CLOEXEC = 0o2000000;
const fdFlags = (pid: number | 'self', fd: number): number =>
  Number.parseInt(/flags:\s+([0-7]+)/.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'))![1]!, 8);

const fileEntries = (path: string): Array<{ pid: number }> => JSON.parse(readFileSync(path, 'utf8')).entries;

async function spawnParent(registry: Awaited<ReturnType<typeof openRegistry>>, session: string, role = 'child') {
  const { child, entry } = await registry.spawn(process.execPath, ['-e', PARENT_CODE, mark, role], {
    session,
    type: 'worker',
  });
  return { child, entry, grandchild: await grandchildOf(child) };
}

describe('spawn', () => {
  it('records pid, start token, process group, session, type and time in the file before resolving', async () => {
    mark = marker();
    const path = join(tempDir(), 'registry.json');
    const registry = await openRegistry(path, { now: () => 4242 });
    const spawned: RegistryEvents['spawned'][] = [];
    registry.events.on('spawned', (e) => spawned.push(e));
    const { child, entry } = await registry.spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e6)', mark], {
      session: 'sess-1',
      type: 'helper',
    });
    const identity = await processIdentity(child.pid!);
    expect(entry).toEqual({
      pid: child.pid,
      startToken: identity!.startToken,
      pgid: child.pid,
      session: 'sess-1',
      type: 'helper',
      spawnedAt: 4242,
      command: process.execPath,
    });
    expect(fileEntries(path)).toEqual([entry]);
    expect(registry.entries()).toEqual([entry]);
    expect(registry.list({ session: 'sess-1' })).toEqual([entry]);
    expect(registry.list({ session: 'other' })).toEqual([]);
    expect(registry.list({ type: 'helper' })).toEqual([entry]);
    expect(spawned).toEqual([{ entry }]);
    expect(pgidOf(child.pid!)).toBe(child.pid); // leads its own process group
    expect(child.stdin).toBeNull(); // stdin ignored by default
    expect(child.stdout).not.toBeNull();
    expect(child.stderr).not.toBeNull();
  });

  it('the daemon listening socket is not inherited: only stdio, plus what the daemon itself inherited without CLOEXEC', async () => {
    mark = marker();
    const server: Server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const fd = (server as unknown as { _handle: { fd: number } })._handle.fd;
      const socketLink = readlinkSync(`/proc/self/fd/${fd}`);
      expect(socketLink).toMatch(/^socket:\[\d+\]$/);
      const registry = await openRegistry(join(tempDir(), 'registry.json'));
      // A shell that only sleeps opens no sockets of its own.
      const { child } = await registry.spawn('/bin/sh', ['-c', 'sleep 30; exit 0', mark], { session: 's', type: 'sh' });
      const links = readdirSync(`/proc/${child.pid}/fd`).map((n) => readlinkSync(`/proc/${child.pid}/fd/${n}`));
      expect(links).not.toContain(socketLink);
      // Beyond stdin/stdout/stderr the child may hold only descriptors this test process itself
      // inherited without CLOEXEC from its own parent (the OS passes those on; Node opens nothing
      // of its own without CLOEXEC). Nothing this process created reaches the child.
      const extra = readdirSync(`/proc/${child.pid}/fd`)
        .map(Number)
        .filter((n) => n > 2);
      for (const n of extra) {
        expect(readlinkSync(`/proc/self/fd/${n}`)).toBe(readlinkSync(`/proc/${child.pid}/fd/${n}`));
        expect(fdFlags('self', n) & O_CLOEXEC).toBe(0);
      }
      // What Node opens (here the listening socket) is close-on-exec: that is why it stays behind.
      expect(fdFlags('self', fd) & O_CLOEXEC).toBe(O_CLOEXEC);
      await registry.shutdown({ graceMs: 500 });
    } finally {
      server.close();
    }
  });

  it('an entry leaves the file (and entries()) when its child exits, then "exited" fires', async () => {
    mark = marker();
    const path = join(tempDir(), 'registry.json');
    const registry = await openRegistry(path);
    const exitedEvents: RegistryEvents['exited'][] = [];
    const stillInFile: boolean[] = [];
    registry.events.on('exited', (e) => {
      exitedEvents.push(e);
      stillInFile.push(fileEntries(path).some((f) => f.pid === e.entry.pid)); // the file is updated before the event
    });
    const long = await registry.spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e6)', mark, 'long'], {
      session: 's',
      type: 't',
    });
    const short = await registry.spawn(
      process.execPath,
      ['-e', 'setTimeout(() => process.exit(3), 300)', mark, 'short'],
      {
        session: 's',
        type: 't',
      },
    );
    expect(fileEntries(path).map((e) => e.pid)).toEqual([long.entry.pid, short.entry.pid]);
    await waitFor(() => exitedEvents.length === 1);
    expect(exitedEvents[0]).toEqual({ entry: short.entry, code: 3, signal: null, members: [] });
    expect(fileEntries(path).map((e) => e.pid)).toEqual([long.entry.pid]);
    expect(registry.entries()).toEqual([long.entry]);
    long.child.kill('SIGTERM');
    await waitFor(() => exitedEvents.length === 2);
    expect(exitedEvents[1]).toEqual({ entry: long.entry, code: null, signal: 'SIGTERM', members: [] });
    expect(fileEntries(path)).toEqual([]);
    expect(stillInFile).toEqual([false, false]);
  });

  it('a command that cannot start rejects with the spawn error and records nothing', async () => {
    const path = join(tempDir(), 'registry.json');
    const registry = await openRegistry(path);
    await expect(
      registry.spawn(join(tempDir(), 'no-such-binary'), [], { session: 's', type: 't' }),
    ).rejects.toMatchObject({ code: 'ENOENT' });
    expect(registry.entries()).toEqual([]);
    expect(fileEntries(path)).toEqual([]);
  });

  it('an already aborted signal rejects with its reason and starts nothing', async () => {
    mark = marker();
    const registry = await openRegistry(join(tempDir(), 'registry.json'));
    const reason = new Error('not now');
    await expect(
      registry.spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e6)', mark], {
        session: 's',
        type: 't',
        signal: AbortSignal.abort(reason),
      }),
    ).rejects.toBe(reason);
    expect(await marked(mark)).toEqual([]);
  });

  it('a throwing listener breaks neither spawn nor the other listeners; it is a coded process warning', async () => {
    mark = marker();
    const registry = await openRegistry(join(tempDir(), 'registry.json'));
    const warnings = await captureWarnings();
    try {
      let second = 0;
      const bug = new Error('listener bug');
      registry.events.on('spawned', () => {
        throw bug;
      });
      registry.events.on('spawned', () => second++);
      let wildcard = 0;
      registry.events.on('*', () => wildcard++);
      const { entry } = await registry.spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e6)', mark], {
        session: 's',
        type: 't',
      });
      expect(entry.pid).toBeGreaterThan(0);
      expect(second).toBe(1);
      expect(wildcard).toBe(1);
      await warnings.settled();
      expect(warnings.entries()).toEqual([listenerWarning('@spawnguard/process-registry', 'spawned', bug)]);
    } finally {
      warnings.stop();
    }
  });
});

describe('reapSession and shutdown', () => {
  it('reapSession kills the whole trees of one session, newest first, and leaves the others', async () => {
    mark = marker();
    const path = join(tempDir(), 'registry.json');
    let clock = 1000;
    const registry = await openRegistry(path, { now: () => clock++ });
    const a1 = await spawnParent(registry, 'A');
    const b1 = await spawnParent(registry, 'B');
    const a2 = await spawnParent(registry, 'A');
    expect(await marked(mark)).toHaveLength(6);
    const reaped: number[] = [];
    registry.events.on('reaped', (e) => reaped.push(e.entry.pid));
    const result = await registry.reapSession('A', { graceMs: 2000 });
    expect(result.reaped.map((r) => r.entry.pid)).toEqual([a2.entry.pid, a1.entry.pid]);
    expect(reaped).toEqual([a2.entry.pid, a1.entry.pid]);
    expect(result.dropped).toEqual([]);
    expect(result.failed).toEqual([]);
    for (const p of [a1.entry.pid, a1.grandchild, a2.entry.pid, a2.grandchild]) await waitFor(() => !isAlive(p));
    const left = (await marked(mark)).map((p) => p.pid).sort();
    expect(left).toEqual([b1.entry.pid, b1.grandchild].sort());
    expect(registry.entries().map((e) => e.pid)).toEqual([b1.entry.pid]);
    expect(fileEntries(path).map((e) => e.pid)).toEqual([b1.entry.pid]);
  });

  it('shutdown leaves no descendants, empties the file and closes the registry', async () => {
    mark = marker();
    const path = join(tempDir(), 'registry.json');
    const registry = await openRegistry(path);
    for (const session of ['x', 'y', 'x']) await spawnParent(registry, session);
    expect((await treeOf(process.pid)).filter((p) => p.cmdline.includes(mark))).toHaveLength(6);
    const result = await registry.shutdown({ graceMs: 2000 });
    expect(result.reaped).toHaveLength(3);
    expect(result.failed).toEqual([]);
    await waitFor(async () => (await treeOf(process.pid)).every((p) => !p.cmdline.includes(mark)));
    expect(await marked(mark)).toEqual([]);
    expect(registry.entries()).toEqual([]);
    expect(fileEntries(path)).toEqual([]);
    expect(registry.state).toBe('closed');
    expect(await registry.shutdown()).toBe(result); // idempotent
  });

  it('shutdown is bounded by totalTimeoutMs even when a child ignores SIGTERM', async () => {
    mark = marker();
    const registry = await openRegistry(join(tempDir(), 'registry.json'));
    const stubborn = STUBBORN_CODE;
    const { child } = await registry.spawn(process.execPath, ['-e', stubborn, mark, 'stubborn'], {
      session: 's',
      type: 't',
    });
    await readyLine(child); // its SIGTERM handler is installed
    const started = Date.now();
    const result = await registry.shutdown({ graceMs: 60_000, totalTimeoutMs: 1500 });
    expect(Date.now() - started).toBeLessThan(1500 + 3000); // generous sanity bound, not a benchmark
    expect(result.reaped.length + result.failed.length).toBe(1);
    await exited(child);
    expect(child.signalCode).toBe('SIGKILL');
  });

  it('an aborted shutdown rejects with the reason, keeps refusing spawns, and can be retried', async () => {
    mark = marker();
    const registry = await openRegistry(join(tempDir(), 'registry.json'));
    const stubborn = STUBBORN_CODE;
    const first = await registry.spawn(process.execPath, ['-e', stubborn, mark, '1'], { session: 's', type: 't' });
    const second = await registry.spawn(process.execPath, ['-e', stubborn, mark, '2'], { session: 's', type: 't' });
    await Promise.all([readyLine(first.child), readyLine(second.child)]);
    const controller = new AbortController();
    const reason = new Error('operator gave up');
    setTimeout(() => controller.abort(reason), 300);
    await expect(registry.shutdown({ graceMs: 30_000, signal: controller.signal })).rejects.toBe(reason);
    expect(registry.state).toBe('owned');
    await expect(registry.spawn(process.execPath, ['-e', ''], { session: 's', type: 't' })).rejects.toMatchObject({
      code: 'EREGISTRYCLOSED',
    });
    const result = await registry.shutdown({ graceMs: 200 });
    expect(result.failed).toEqual([]);
    await Promise.all([exited(first.child), exited(second.child)]);
    expect(registry.state).toBe('closed');
    expect(registry.entries()).toEqual([]);
  });

  it('pruneDead drops entries whose process is gone or whose pid was reused, and signals nothing', async () => {
    mark = marker();
    const path = join(tempDir(), 'registry.json');
    const first = await openRegistry(path);
    const alive = await sleeper(mark, 'alive');
    const reused = await sleeper(mark, 'reused');
    const gone = await sleeper(mark, 'gone');
    gone.child.kill('SIGKILL');
    await exited(gone.child);
    const entry = (pid: number, startToken: string) => ({
      pid,
      startToken,
      pgid: pid,
      session: 's',
      type: 't',
      spawnedAt: 1,
      command: 'node',
    });
    // The same owner reopening its file adopts the entries (e.g. a registry reopened in-process).
    const { writeFileSync } = await import('node:fs');
    writeFileSync(
      path,
      JSON.stringify({
        format: 'spawnguard-process-registry',
        version: 1,
        owner: first.owner,
        updatedAt: 1,
        entries: [
          entry(alive.pid, alive.startToken),
          entry(reused.pid, 'some-older-incarnation'),
          entry(gone.pid, gone.startToken),
        ],
      }),
    );
    const registry = await openRegistry(path);
    expect(registry.entries()).toHaveLength(3);
    const dropped: RegistryEvents['dropped'][] = [];
    registry.events.on('dropped', (e) => dropped.push(e));
    const result = await registry.pruneDead();
    expect(result.map((e) => e.pid)).toEqual([reused.pid, gone.pid]);
    expect(dropped.map((d) => [d.entry.pid, d.reason])).toEqual([
      [reused.pid, 'pid-reused'],
      [gone.pid, 'gone'],
    ]);
    expect(registry.entries().map((e) => e.pid)).toEqual([alive.pid]);
    expect(fileEntries(path).map((e) => e.pid)).toEqual([alive.pid]);
    expect(isAlive(alive.pid)).toBe(true);
    expect(isAlive(reused.pid)).toBe(true);
  });
});
