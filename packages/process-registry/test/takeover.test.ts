import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { processIdentity } from '@spawnguard/process-table';
import mitt from 'mitt';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type Entry,
  FORMAT,
  type Ownership,
  openRegistry,
  type RegistryEvents,
  RegistryNotOwnedError,
} from '../src/index.js';
import {
  cleanup,
  ensureBuilt,
  exited,
  familyOf,
  isAlive,
  marked,
  marker,
  sleeper,
  startDaemon,
  tempDir,
  waitFor,
} from './helpers.js';

let mark = '';
beforeAll(() => ensureBuilt(), 120_000);
afterEach(async () => {
  await cleanup(mark);
});

const fileOf = (path: string) => JSON.parse(readFileSync(path, 'utf8'));
const entry = (pid: number, startToken: string): Entry => ({
  pid,
  startToken,
  pgid: pid,
  session: 's',
  type: 't',
  spawnedAt: 1,
  command: process.execPath,
});
const writeRegistry = (path: string, owner: unknown, entries: Entry[]) =>
  writeFileSync(path, JSON.stringify({ format: FORMAT, version: 1, owner, updatedAt: 1, entries }), { mode: 0o600 });

/** Records every event of a registry's emitter, in order. */
function recorder() {
  const events = mitt<RegistryEvents>();
  const seen: Array<{ type: keyof RegistryEvents; payload: unknown }> = [];
  events.on('*', (type, payload) => seen.push({ type, payload }));
  const ofType = <K extends keyof RegistryEvents>(type: K) =>
    seen.filter((e) => e.type === type).map((e) => e.payload as RegistryEvents[K]);
  return { events, seen, ofType };
}

const longChild = (label: string) => ['-e', 'setInterval(() => {}, 1e6)', mark, label];

describe('a daemon that boots while the previous owner drains takes the registry over', () => {
  it.each([
    ['exits leaving its children (leftovers are reaped)', 'exit'],
    ['shuts its registry down, then exits', 'shutdown'],
  ])('the previous owner %s: the new one waits, owns it after the exit, and spawns', async (_name, then) => {
    mark = marker();
    const path = join(tempDir(), 'registry.json');
    const old = await startDaemon(path, mark, 2);
    const family = familyOf(old.ready);
    old.daemon.stdin!.write(`drain 1500 ${then}\n`); // alive (draining) for 1.5 s, then gone
    expect((await old.lines.next()).value).toBe('draining');

    const rec = recorder();
    const registry = await openRegistry(path, { takeover: { waitMs: 20_000, pollMs: 50 }, events: rec.events });
    // openRegistry never waits: the claim waits in the background, and says for whom.
    expect(registry.ownership).toMatchObject({ state: 'waiting', owner: { pid: old.daemon.pid } });
    expect(registry.state).toBe('not-owned');
    expect(rec.ofType('ownerWait')).toEqual([
      { path, owner: expect.objectContaining({ pid: old.daemon.pid }), waitMs: expect.any(Number) },
    ]);
    expect(isAlive(old.daemon.pid!)).toBe(true);

    // A spawn now waits for the claim instead of failing.
    const { child, entry: spawned } = await registry.spawn(process.execPath, longChild('new-helper'), {
      session: 's',
      type: 'helper',
    });
    expect(registry.ownership).toMatchObject({ state: 'owned', previousOwner: { pid: old.daemon.pid } });
    await waitFor(() => !isAlive(old.daemon.pid!)); // the claim came after the old owner stopped owning
    for (const pid of family) await waitFor(() => !isAlive(pid));
    const claimed = rec.ofType('claimed');
    expect(claimed).toHaveLength(1);
    expect(claimed[0]!.previousOwner).toMatchObject({ pid: old.daemon.pid });
    if (then === 'exit') {
      // The leftovers of the old owner were reaped by the new one, proven by identity.
      expect(claimed[0]!.leftovers.killed.map((e) => e.pid).sort()).toEqual(
        old.ready.children.map((c) => c.pid).sort(),
      );
    } else expect(claimed[0]!.leftovers.killed).toEqual([]);
    expect((await marked(mark)).map((p) => p.pid)).toEqual([child.pid]);
    expect(fileOf(path)).toMatchObject({ owner: registry.owner, entries: [spawned] });
    // The states it went through, in order.
    const states = rec.ofType('ownership').map((o) => o.state);
    expect(states[0]).toBe('waiting');
    expect(states.at(-1)).toBe('owned');
    expect(states.filter((s) => s === 'owned')).toHaveLength(1);
    await registry.shutdown({ graceMs: 1000 });
  });

  it('a hostname change on the same boot (DHCP, a re-created container) is still this host: leftovers reaped, file claimed', async () => {
    mark = marker();
    const path = join(tempDir(), 'registry.json');
    const old = await startDaemon(path, mark, 2, { SPAWNGUARD_TEST_HOSTNAME: 'name-before-dhcp' });
    expect(fileOf(path).owner.hostname).toBe('name-before-dhcp');
    old.daemon.kill('SIGKILL');
    await exited(old.daemon);
    const me = (await processIdentity(process.pid))!;
    const registry = await openRegistry(path, {
      owner: { pid: me.pid, startToken: me.startToken, hostname: 'name-after-dhcp' },
    });
    expect(registry.notOwned).toMatchObject({ reason: 'leftovers-pending', owner: { pid: old.daemon.pid } });
    const result = await registry.reapLeftovers({ graceMs: 1000 });
    expect(result.killed.map((e) => e.pid).sort()).toEqual(old.ready.children.map((c) => c.pid).sort());
    expect(result.ownerAlive).toBeNull();
    for (const pid of familyOf(old.ready)) await waitFor(() => !isAlive(pid));
    expect(registry.ownership.state).toBe('owned');
    expect(fileOf(path).owner).toEqual({ pid: me.pid, startToken: me.startToken, hostname: 'name-after-dhcp' });
  });

  it("a clean shutdown's empty file from this boot is claimed at open whatever the hostname says", async () => {
    mark = marker();
    const path = join(tempDir(), 'registry.json');
    const gone = await sleeper(mark, 'old-daemon');
    gone.child.kill('SIGKILL');
    await exited(gone.child);
    // As an earlier version wrote it at a clean shutdown: its (now dead) owner, no entries.
    writeRegistry(path, { pid: gone.pid, startToken: gone.startToken, hostname: 'old-name' }, []);
    const registry = await openRegistry(path);
    expect(registry.ownership).toMatchObject({ state: 'owned', previousOwner: { pid: gone.pid } });
    expect(fileOf(path).owner).toEqual(registry.owner);
  });

  it('a file from another boot with another hostname is another host: not claimed, nothing touched', async () => {
    mark = marker();
    const path = join(tempDir(), 'registry.json');
    const child = await sleeper(mark, 'elsewhere');
    const owner = { pid: 4242, startToken: '0b7c37e4-0000-4000-8000-000000000000:12345', hostname: 'other-host' };
    writeRegistry(path, owner, [entry(child.pid, child.startToken)]);
    const registry = await openRegistry(path, { takeover: { waitMs: 200, retryMs: 0 } });
    expect(registry.ownership).toMatchObject({ state: 'not-owned', reason: 'owner-on-other-host', owner });
    const error = await registry.spawn(process.execPath, ['-e', ''], { session: 's', type: 't' }).catch((e) => e);
    expect(error).toBeInstanceOf(RegistryNotOwnedError);
    expect(error.message).toMatch(/owner-on-other-host, owner pid 4242 on other-host/);
    expect(isAlive(child.pid)).toBe(true);
  });

  it('an owner-less, entry-less file (released at a clean shutdown) is claimed at open, not treated as corrupt', async () => {
    const dir = tempDir();
    const path = join(dir, 'registry.json');
    writeRegistry(path, null, []);
    const rec = recorder();
    const registry = await openRegistry(path, { events: rec.events });
    expect(rec.ofType('corruptFile')).toEqual([]);
    expect(readdirSync(dir)).toEqual(['registry.json']);
    expect(registry.ownership).toMatchObject({ state: 'owned', previousOwner: null });
    expect(fileOf(path).owner).toEqual(registry.owner);
  });

  it('shutdown() releases the file (owner null) when no child is left, and the next owner claims it on any host', async () => {
    mark = marker();
    const path = join(tempDir(), 'registry.json');
    const first = await openRegistry(path);
    await first.spawn(process.execPath, longChild('a'), { session: 's', type: 't' });
    await first.shutdown({ graceMs: 1000 });
    expect(fileOf(path)).toMatchObject({ owner: null, entries: [] });
    expect(first.ownership.state).toBe('closed');
    // A different owner (another process, another hostname, a token from no known boot) claims it at once.
    const next = await openRegistry(path, { owner: { pid: 77_777, startToken: 'elsewhere:1', hostname: 'other' } });
    expect(next.ownership.state).toBe('owned');
  });

  it('a released file that still names entries: each is killed only if its identity matches, then claimed', async () => {
    mark = marker();
    const path = join(tempDir(), 'registry.json');
    const leftover = await sleeper(mark, 'leftover');
    const unrelated = await sleeper(mark, 'unrelated');
    writeRegistry(path, null, [
      entry(leftover.pid, leftover.startToken),
      entry(unrelated.pid, `${unrelated.startToken}0`),
    ]);
    const registry = await openRegistry(path);
    expect(registry.notOwned).toEqual({ reason: 'leftovers-pending', owner: null });
    const result = await registry.reapLeftovers({ graceMs: 1000 });
    expect(result.killed.map((e) => e.pid)).toEqual([leftover.pid]);
    expect(result.dropped.map((e) => e.pid)).toEqual([unrelated.pid]);
    await exited(leftover.child);
    expect(isAlive(unrelated.pid)).toBe(true);
    expect(registry.state).toBe('owned');
  });
});

describe('the previous owner outlives the wait', () => {
  it('not-owned with a clear reason and the owner pid, then claimed by the unref timer once it exits', async () => {
    mark = marker();
    const path = join(tempDir(), 'registry.json');
    const old = await startDaemon(path, mark, 1);
    const rec = recorder();
    const registry = await openRegistry(path, {
      takeover: { waitMs: 600, pollMs: 50, retryMs: 200, graceMs: 1000 },
      events: rec.events,
    });
    expect(registry.ownership.state).toBe('waiting');
    // A spawn during the wait waits with it, and fails when the wait ends with the owner alive.
    const error = await registry
      .spawn(process.execPath, longChild('refused'), { session: 's', type: 't' })
      .catch((e) => e);
    expect(error).toBeInstanceOf(RegistryNotOwnedError);
    expect(error).toMatchObject({
      code: 'EREGISTRYNOTOWNED',
      reason: 'owner-alive',
      owner: { pid: old.daemon.pid },
      path,
    });
    expect(error.message).toContain(`pid ${old.daemon.pid}`);
    expect(error.message).toMatch(/tried again on the next spawn\(\)/);
    const o = registry.ownership as Extract<Ownership, { state: 'not-owned' }>;
    expect(o).toMatchObject({ state: 'not-owned', reason: 'owner-alive', owner: { pid: old.daemon.pid } });
    expect(o.retryAt).toEqual(expect.any(Number));
    expect(rec.ofType('notClaimed')).toEqual([
      {
        path,
        reason: 'owner-alive',
        owner: expect.objectContaining({ pid: old.daemon.pid }),
        waitedMs: expect.any(Number),
        retryAt: expect.any(Number),
      },
    ]);
    expect(rec.ofType('notClaimed')[0]!.waitedMs).toBeGreaterThanOrEqual(550);
    expect(isAlive(old.ready.children[0]!.pid)).toBe(true); // a live owner's children are never touched

    old.daemon.stdin!.write('exit\n'); // exits, leaving its child behind
    await exited(old.daemon);
    await waitFor(() => registry.ownership.state === 'owned', 10_000); // the retry timer, no spawn needed
    for (const pid of familyOf(old.ready)) await waitFor(() => !isAlive(pid));
    expect(rec.ofType('claimed')[0]!.leftovers.killed.map((e) => e.pid)).toEqual([old.ready.children[0]!.pid]);
    const { entry: spawned } = await registry.spawn(process.execPath, longChild('ok'), { session: 's', type: 't' });
    expect(fileOf(path)).toMatchObject({ owner: registry.owner, entries: [spawned] });
    await registry.shutdown({ graceMs: 1000 });
  });

  it('without a retry timer, the next spawn() claims it once the owner has exited', async () => {
    mark = marker();
    const path = join(tempDir(), 'registry.json');
    const old = await startDaemon(path, mark, 1);
    const registry = await openRegistry(path, { takeover: { waitMs: 0, retryMs: 0, graceMs: 1000 } });
    expect(registry.ownership).toMatchObject({ state: 'not-owned', reason: 'owner-alive', retryAt: null });
    await expect(registry.spawn(process.execPath, longChild('no'), { session: 's', type: 't' })).rejects.toMatchObject({
      reason: 'owner-alive',
      owner: { pid: old.daemon.pid },
    });
    old.daemon.stdin!.write('exit\n');
    await exited(old.daemon);
    expect(registry.ownership.state).toBe('not-owned'); // nothing looks by itself
    const { entry: spawned } = await registry.spawn(process.execPath, longChild('yes'), { session: 's', type: 't' });
    expect(registry.ownership.state).toBe('owned');
    expect(isAlive(old.ready.children[0]!.pid)).toBe(false);
    expect(fileOf(path).entries).toEqual([spawned]);
    await registry.shutdown({ graceMs: 1000 });
  });

  it('claim() without takeover: waits for the draining owner, reaps, and resolves with the ownership', async () => {
    mark = marker();
    const path = join(tempDir(), 'registry.json');
    const old = await startDaemon(path, mark, 1);
    const registry = await openRegistry(path);
    expect(registry.notOwned).toMatchObject({ reason: 'owner-alive', owner: { pid: old.daemon.pid } });
    old.daemon.stdin!.write('drain 800 exit\n');
    const ownership = await registry.claim({ waitMs: 20_000, pollMs: 50, graceMs: 1000 });
    expect(ownership).toMatchObject({ state: 'owned', previousOwner: { pid: old.daemon.pid } });
    expect(isAlive(old.ready.children[0]!.pid)).toBe(false);
    // A claim that cannot succeed in time resolves not-owned (it does not throw).
    const other = await openRegistry(path, { owner: { pid: process.pid, startToken: 'another-incarnation:1' } });
    expect(await other.claim({ waitMs: 200, pollMs: 50 })).toMatchObject({ state: 'not-owned', reason: 'owner-alive' });
  });

  it("a spawn's signal ends its wait (rejects with the reason) and starts nothing", async () => {
    mark = marker();
    const path = join(tempDir(), 'registry.json');
    await startDaemon(path, mark, 1);
    const registry = await openRegistry(path, { takeover: { waitMs: 20_000 } });
    const reason = new Error('hook budget spent');
    const controller = new AbortController();
    setTimeout(() => controller.abort(reason), 200);
    await expect(
      registry.spawn(process.execPath, longChild('never'), { session: 's', type: 't', signal: controller.signal }),
    ).rejects.toBe(reason);
    expect((await marked(mark)).some((p) => p.cmdline.includes('never'))).toBe(false);
    expect(registry.ownership.state).toBe('waiting'); // the claim itself goes on
    await registry.shutdown();
  });

  it('shutdown() during the wait ends it: closed, the file and the live owner untouched', async () => {
    mark = marker();
    const path = join(tempDir(), 'registry.json');
    const old = await startDaemon(path, mark, 1);
    const bytes = readFileSync(path, 'utf8');
    const registry = await openRegistry(path, { takeover: { waitMs: 60_000 } });
    const pending = registry.spawn(process.execPath, longChild('never'), { session: 's', type: 't' });
    const result = await registry.shutdown();
    expect(result).toEqual({ reaped: [], dropped: [], failed: [] });
    await expect(pending).rejects.toMatchObject({ code: 'EREGISTRYCLOSED' });
    expect(registry.ownership.state).toBe('closed');
    expect(readFileSync(path, 'utf8')).toBe(bytes);
    expect(isAlive(old.ready.children[0]!.pid)).toBe(true);
  });

  it('a background wait keeps no process alive (its timers are unref’d)', async () => {
    mark = marker();
    const path = join(tempDir(), 'registry.json');
    const old = await startDaemon(path, mark, 1);
    const dist = join(import.meta.dirname, '..', 'dist', 'index.js');
    const script = `import(${JSON.stringify(dist)}).then(async ({ openRegistry }) => {
      const r = await openRegistry(process.argv[1], { takeover: { waitMs: 60000, retryMs: 60000 } });
      console.log(r.ownership.state);
    });`;
    const probe = spawn(process.execPath, ['-e', script, path, mark], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    probe.stdout.on('data', (d) => {
      out += d;
    });
    await waitFor(() => probe.exitCode !== null, 10_000); // far less than the 60 s wait
    expect(out.trim()).toBe('waiting');
    expect(probe.exitCode).toBe(0);
    expect(isAlive(old.daemon.pid!)).toBe(true);
  });
});
