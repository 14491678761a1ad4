import { spawn } from 'node:child_process';
import { ancestorsOf, listProcesses, type ProcessInfo, processAgeMs } from '@spawnguard/process-table';
import { afterEach, describe, expect, it } from 'vitest';
import { createReaper, reap } from '../src/index.js';
import { alive, ORPHANS_SCRIPT, TestProcesses, waitFor } from './helpers.js';

let procs: TestProcesses;
afterEach(async () => {
  await procs?.cleanup();
});

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Starts `count` marked orphans `gapMs` apart (oldest first) through an intermediate that exits.
 * Returns their pids and the ppid they were actually reparented to: pid 1 here, but under a child
 * subreaper (systemd --user, tini, some sandboxes) it is that process instead.
 */
async function startOrphans(count: number, gapMs: number) {
  procs = new TestProcesses();
  const script = procs.script('orphans.cjs', ORPHANS_SCRIPT);
  const intermediate = procs.spawn(process.execPath, [script, procs.marker, String(count), String(gapMs)]);
  const pids = await procs.readPids(intermediate, count, 20_000);
  await waitFor(() => intermediate.exitCode !== null, { what: 'the intermediate to exit' });
  const list = await waitFor(
    async () => {
      const l = (await listProcesses()).filter((p) => pids.includes(p.pid));
      return l.length === count && l.every((p) => p.ppid !== intermediate.pid) ? l : null;
    },
    { what: 'the orphans to be reparented' },
  );
  const adopters = [...new Set(list.map((p) => p.ppid))];
  expect(adopters).toHaveLength(1);
  const adopter = adopters[0]!;
  return {
    pids,
    adopter,
    // the options that make these processes count as orphans on this machine
    orphanOptions: adopter === 1 ? {} : { subreapers: [adopter] },
    match: new RegExp(escapeRegExp(procs.marker)),
  };
}

describe.runIf(process.platform === 'linux')('reap, real orphans', () => {
  it('orphans get reparented to init or to a subreaper (documented in the README)', async () => {
    const o = await startOrphans(1, 0);
    // Not our ancestor chain: the adopter is pid 1, or a subreaper that is not us.
    expect(o.adopter).not.toBe(process.pid);
    const ancestors = (await ancestorsOf(process.pid)).map((p) => p.pid);
    if (o.adopter !== 1) expect(ancestors).toContain(o.adopter); // a subreaper adopts only its descendants
    console.info(`orphans were reparented to pid ${o.adopter}`);
  });

  it('keepNewest: 2 of 6 kills exactly the 4 oldest', async () => {
    const o = await startOrphans(6, 60);
    const signalled: number[] = [];
    const reaper = createReaper();
    reaper.events.on('signal', (e) => signalled.push(e.pid));
    const result = await reaper.reap({ match: o.match, keepNewest: 2, graceMs: 2000, ...o.orphanOptions });
    expect(result.matched.map((p) => p.pid).sort()).toEqual([...o.pids].sort());
    expect(result.killed.map((p) => p.pid)).toEqual(o.pids.slice(0, 4)); // oldest first
    expect(result.kept.map((p) => p.pid)).toEqual([o.pids[5], o.pids[4]]); // newest first
    expect(result.skipped).toEqual(result.kept.map((proc) => ({ proc, reason: 'kept-newest' })));
    expect(signalled.sort()).toEqual(o.pids.slice(0, 4).sort());
    for (const pid of o.pids.slice(0, 4)) expect(alive(pid)).toBe(false);
    for (const pid of o.pids.slice(4)) expect(alive(pid)).toBe(true);
  });

  it('olderThanMs kills exactly the ones older than the threshold', async () => {
    const o = await startOrphans(6, 250);
    const infos = (await listProcesses()).filter((p) => o.pids.includes(p.pid));
    const ages = new Map(infos.map((p) => [p.pid, processAgeMs(p)]));
    // a threshold halfway between the 3rd and 4th oldest: ~125 ms of margin on either side
    const threshold = (ages.get(o.pids[2]!)! + ages.get(o.pids[3]!)!) / 2;
    const result = await reap({ match: o.match, olderThanMs: threshold, graceMs: 2000, ...o.orphanOptions });
    expect(result.killed.map((p) => p.pid)).toEqual(o.pids.slice(0, 3));
    expect(result.skipped.map((s) => [s.proc.pid, s.reason])).toEqual(
      o.pids
        .slice(3)
        .reverse()
        .map((pid) => [pid, 'too-young']),
    );
    for (const pid of o.pids.slice(0, 3)) expect(alive(pid)).toBe(false);
    for (const pid of o.pids.slice(3)) expect(alive(pid)).toBe(true);
  });

  it('an injected clock decides ages (now - startTime)', async () => {
    const o = await startOrphans(3, 50);
    const infos = (await listProcesses()).filter((p) => o.pids.includes(p.pid));
    const newest = Math.max(...infos.map((p) => p.startTime));
    // an hour from now everything is older than 30 minutes; at "newest" nothing is
    const later = await reap({
      match: o.match,
      olderThanMs: 1_800_000,
      dryRun: true,
      now: () => newest + 3_600_000,
      ...o.orphanOptions,
    });
    expect(later.skipped.map((s) => s.reason)).toEqual(['dry-run', 'dry-run', 'dry-run']);
    const early = await reap({
      match: o.match,
      olderThanMs: 1,
      dryRun: true,
      now: () => newest - 10_000,
      ...o.orphanOptions,
    });
    expect(early.skipped.map((s) => s.reason)).toEqual(['too-young', 'too-young', 'too-young']);
  });

  it('dryRun kills nothing and says what it would have done', async () => {
    const o = await startOrphans(6, 20);
    const signalled: number[] = [];
    const reaper = createReaper();
    reaper.events.on('signal', (e) => signalled.push(e.pid));
    const result = await reaper.reap({ match: o.match, keepNewest: 1, dryRun: true, ...o.orphanOptions });
    expect(result.killed).toEqual([]);
    expect(result.kept.map((p) => p.pid)).toEqual([o.pids[5]]);
    expect(result.skipped.filter((s) => s.reason === 'dry-run').map((s) => s.proc.pid)).toEqual(o.pids.slice(0, 5));
    expect(signalled).toEqual([]);
    for (const pid of o.pids) expect(alive(pid)).toBe(true);
  });

  it('orphansOnly: a live parent makes a process a non-orphan; orphansOnly: false takes it', async () => {
    procs = new TestProcesses();
    const child = procs.node('setInterval(() => {}, 1000); process.stdout.write(process.pid + "\\n")');
    const [pid] = await procs.readPids(child, 1);
    const match = new RegExp(escapeRegExp(procs.marker));
    const first = await reap({ match, graceMs: 1000 });
    expect(first.skipped.map((s) => [s.proc.pid, s.reason])).toEqual([[pid, 'not-orphan']]);
    expect(alive(pid!)).toBe(true);
    // and when the test runner is named a subreaper, its children count as adopted orphans
    const asSubreaper = await reap({ match, dryRun: true, subreapers: [process.pid] });
    expect(asSubreaper.skipped.map((s) => s.reason)).toEqual(['dry-run']);
    const exited = new Promise((r) => child.once('exit', r));
    const second = await reap({ match, orphansOnly: false, graceMs: 1000 });
    expect(second.killed.map((p) => p.pid)).toEqual([pid]);
    await exited;
    expect(alive(pid!)).toBe(false);
  });

  it('/./ with dryRun never touches the runner, its ancestors or pid 1', async () => {
    procs = new TestProcesses();
    const signalled: number[] = [];
    const reaper = createReaper();
    reaper.events.on('signal', (e) => signalled.push(e.pid));
    const result = await reaper.reap({ match: /./, dryRun: true, orphansOnly: false });
    const reasonOf = (pid: number) => result.skipped.find((s) => s.proc.pid === pid)?.reason;
    expect(reasonOf(process.pid)).toBe('self');
    expect(reasonOf(1)).toBe('pid<=1');
    const ancestors = (await ancestorsOf(process.pid)).filter((p) => p.pid > 1);
    expect(ancestors.length).toBeGreaterThan(0);
    for (const a of ancestors) expect(reasonOf(a.pid)).toBe('ancestor');
    // kernel threads are matched by name and refused
    const kthreadd = result.matched.find((p) => p.pid === 2 && p.cmdline.length === 0);
    if (kthreadd) expect(reasonOf(2)).toBe('kernel');
    expect(result.killed).toEqual([]);
    expect(signalled).toEqual([]);
    // every matched process is accounted for exactly once
    expect(result.skipped).toHaveLength(result.matched.length);
    const allowed = new Set(['self', 'ancestor', 'pid<=1', 'kernel', 'other-user', 'gone', 'dry-run']);
    expect(result.skipped.every((s) => allowed.has(s.reason))).toBe(true);
    expect(alive(process.pid)).toBe(true);
  });

  it.runIf(process.getuid?.() === 0)("another user's process is never killed, whatever match says", async () => {
    procs = new TestProcesses();
    // as root we can start a process as nobody (65534): a real other-user process
    const other = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', procs.marker], {
      uid: 65534,
      gid: 65534,
      stdio: 'ignore',
    });
    procs.pids.add(other.pid!);
    const match = new RegExp(escapeRegExp(procs.marker));
    await waitFor(async () => (await listProcesses()).some((p) => p.pid === other.pid && p.uid === 65534), {
      what: 'the nobody process',
    });
    const result = await reap({ match, orphansOnly: false, graceMs: 500 });
    expect(result.skipped.map((s) => [s.proc.pid, s.reason])).toEqual([[other.pid, 'other-user']]);
    expect(result.killed).toEqual([]);
    expect(alive(other.pid!)).toBe(true);
  });

  it('a zombie is matched but reported gone', async () => {
    procs = new TestProcesses();
    const sh = procs.spawn('/bin/sh', ['-c', `sleep 0.05 & exec sleep 30`, procs.marker]);
    const zombie = await waitFor(
      async () => (await listProcesses()).find((p) => p.ppid === sh.pid && p.state === 'Z'),
      { what: 'a zombie' },
    );
    const result = await reap({ match: (p: ProcessInfo) => p.pid === zombie.pid, orphansOnly: false, graceMs: 100 });
    expect(result.skipped.map((s) => s.reason)).toEqual(['gone']);
    expect(result.killed).toEqual([]);
  });

  it('a predicate match, and a stateful /g RegExp, work', async () => {
    const o = await startOrphans(2, 20);
    const byPredicate = await reap({ match: (p) => o.pids.includes(p.pid), dryRun: true, ...o.orphanOptions });
    expect(byPredicate.matched.map((p) => p.pid).sort()).toEqual([...o.pids].sort());
    const global = new RegExp(escapeRegExp(procs.marker), 'g');
    const byGlobal = await reap({ match: global, dryRun: true, ...o.orphanOptions });
    expect(byGlobal.matched).toHaveLength(2);
  });
});

describe('reap option validation', () => {
  it.each([
    [undefined, TypeError, /options must be an object with a match/],
    [{}, TypeError, /match must be a RegExp or a function \(proc\) => boolean, got undefined/],
    [{ match: 'node' }, TypeError, /match must be a RegExp or a function .* got "node"/],
    [{ match: /x/, olderThanMs: -1 }, RangeError, /olderThanMs must be a finite number of milliseconds >= 0, got -1/],
    [{ match: /x/, olderThanMs: Number.NaN }, RangeError, /olderThanMs .* got NaN/],
    [{ match: /x/, olderThanMs: Number.POSITIVE_INFINITY }, RangeError, /olderThanMs .* got Infinity/],
    [{ match: /x/, keepNewest: -1 }, RangeError, /keepNewest must be a non-negative integer, got -1/],
    [{ match: /x/, keepNewest: 1.5 }, RangeError, /keepNewest must be a non-negative integer, got 1.5/],
    [{ match: /x/, keepNewest: '2' }, TypeError, /keepNewest must be a non-negative integer, got "2"/],
    [{ match: /x/, graceMs: -1 }, RangeError, /graceMs must be a finite number of milliseconds >= 0/],
    [{ match: /x/, orphansOnly: 'yes' }, TypeError, /orphansOnly must be a boolean, got "yes"/],
    [{ match: /x/, dryRun: 1 }, TypeError, /dryRun must be a boolean, got 1/],
    [{ match: /x/, signal: 'x' }, TypeError, /signal must be an AbortSignal/],
    [{ match: /x/, subreapers: 7 }, TypeError, /subreapers must be an array of pids/],
    [{ match: /x/, subreapers: [1, -2] }, RangeError, /subreapers\[1\] must be a non-negative integer, got -2/],
    [{ match: /x/, now: 5 }, TypeError, /now must be a function, got 5/],
  ])('reap(%j)', async (options, type, message) => {
    const error = await reap(options as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(type);
    expect(String(error)).toMatch(message);
  });

  it('an aborted signal rejects with its reason', async () => {
    const reason = new Error('stop');
    await expect(reap({ match: /x/, signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
  });
});
