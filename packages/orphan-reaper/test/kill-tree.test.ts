import { readFileSync } from 'node:fs';
import { processIdentity } from '@spawnguard/process-table';
import { afterEach, describe, expect, it } from 'vitest';
import { createReaper, events, killTree, ProtectedProcessError } from '../src/index.js';
import { alive, readRoles, TestProcesses, TREE_SCRIPT, waitFor } from './helpers.js';

const ppidOf = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
};

let procs: TestProcesses;
afterEach(async () => {
  await procs?.cleanup();
});

async function startTree() {
  procs = new TestProcesses();
  const script = procs.script('tree.cjs', TREE_SCRIPT);
  const root = procs.spawn(process.execPath, [script, 'root', procs.marker]);
  const roles = await readRoles(root, ['root', 'mid', 'leaf', 'stubborn']);
  for (const pid of Object.values(roles)) procs.pids.add(pid);
  // the stubborn one must have installed its handler before we signal it
  await new Promise((r) => setTimeout(r, 200));
  return roles as { root: number; mid: number; leaf: number; stubborn: number };
}

describe.runIf(process.platform === 'linux')('killTree on real process trees', () => {
  it('kills a 3-level tree, including a grandchild that ignores SIGTERM, within grace + margin', async () => {
    const t = await startTree();
    const seen: { type: string; pid: number; signal?: string }[] = [];
    const onSignal = (e: { pid: number; signal: string }) => seen.push({ type: 'signal', ...e });
    const onKilled = (e: { pid: number; signal: string }) => seen.push({ type: 'killed', ...e });
    // Halfway through the grace: mid is long dead (it exits on SIGTERM), stubborn still waits for SIGKILL.
    let stubbornParentAfterMidDied: number | undefined;
    const probe = setTimeout(() => {
      stubbornParentAfterMidDied = ppidOf(t.stubborn);
    }, 500);
    events.on('signal', onSignal);
    events.on('killed', onKilled);
    try {
      const started = performance.now();
      const result = await killTree(t.root, { graceMs: 1000 });
      const took = performance.now() - started;

      expect(result.killed).toEqual([t.stubborn]);
      expect(result.terminated.sort()).toEqual([t.root, t.mid, t.leaf].sort());
      expect(result.gone).toEqual([]);
      expect(result.skipped).toEqual([]);
      for (const pid of Object.values(t)) expect(alive(pid)).toBe(false);
      expect(took).toBeGreaterThanOrEqual(950); // the stubborn one needed the whole grace
      expect(took).toBeLessThan(1000 + 2000);
      // the stubborn grandchild was reparented when mid died, and still killed: it was in the snapshot
      expect(stubbornParentAfterMidDied).toBeDefined();
      expect(stubbornParentAfterMidDied).not.toBe(t.mid);

      // SIGTERM deepest first (leaf/stubborn before mid before root), then SIGKILL for the stubborn one
      const terms = seen.filter((e) => e.type === 'signal' && e.signal === 'SIGTERM').map((e) => e.pid);
      expect(terms.indexOf(t.mid)).toBeGreaterThan(Math.max(terms.indexOf(t.leaf), terms.indexOf(t.stubborn)));
      expect(terms.at(-1)).toBe(t.root);
      expect(seen.filter((e) => e.signal === 'SIGKILL')).toEqual([
        { type: 'signal', pid: t.stubborn, signal: 'SIGKILL' },
        { type: 'killed', pid: t.stubborn, signal: 'SIGKILL' },
      ]);
    } finally {
      clearTimeout(probe);
      events.off('signal', onSignal);
      events.off('killed', onKilled);
    }
  });

  it('a wrong startToken (PID reuse) signals nothing and reports the root gone', async () => {
    const t = await startTree();
    const signalled: number[] = [];
    const reaper = createReaper();
    reaper.events.on('signal', (e) => signalled.push(e.pid));
    const real = (await processIdentity(t.root))!;
    const [boot, ticks] = real.startToken.split(':');
    const result = await reaper.killTree(t.root, { graceMs: 200, startToken: `${boot}:${Number(ticks) - 1}` });
    expect(result).toEqual({ terminated: [], killed: [], gone: [t.root], skipped: [] });
    expect(signalled).toEqual([]);
    for (const pid of Object.values(t)) expect(alive(pid)).toBe(true);

    // with the right token it goes
    const ok = await reaper.killTree(t.root, { graceMs: 500, startToken: real.startToken });
    expect(ok.terminated).toContain(t.root);
    for (const pid of Object.values(t)) expect(alive(pid)).toBe(false);
  });

  it('a detached root (its own process group) takes its reparented group members along', async () => {
    procs = new TestProcesses();
    const script = procs.script('tree.cjs', TREE_SCRIPT);
    const { spawn } = await import('node:child_process');
    const root = spawn(process.execPath, [script, 'root', procs.marker], {
      detached: true,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    procs.pids.add(root.pid!);
    const roles = await readRoles(root, ['root', 'mid', 'leaf', 'stubborn']);
    for (const pid of Object.values(roles)) procs.pids.add(pid);
    await new Promise((r) => setTimeout(r, 200));
    process.kill(roles.mid!, 'SIGKILL'); // leaf and stubborn leave the tree, not the group
    await waitFor(() => !alive(roles.mid!), { what: 'mid to die' });
    const result = await killTree(root.pid!, { graceMs: 500 });
    expect(result.terminated.sort()).toEqual([roles.root, roles.leaf].sort());
    expect(result.killed).toEqual([roles.stubborn]);
    for (const pid of Object.values(roles)) expect(alive(pid)).toBe(false);
  });

  it('force: SIGKILLs the whole tree at once, parents first, a SIGTERM-ignoring grandchild included, with no SIGTERM and no grace', async () => {
    const t = await startTree();
    const reaper = createReaper();
    const signals: { pid: number; signal: string }[] = [];
    reaper.events.on('signal', (e) => signals.push(e));
    const real = (await processIdentity(t.root))!;
    const result = await reaper.killTree(t.root, { force: true, startToken: real.startToken });
    // No polite signal at all: every member got SIGKILL, parents before children.
    expect(signals.every((s) => s.signal === 'SIGKILL')).toBe(true);
    expect(signals.map((s) => s.pid)).toEqual([t.root, t.mid, ...signals.slice(2).map((s) => s.pid)]);
    expect(
      signals
        .slice(2)
        .map((s) => s.pid)
        .sort(),
    ).toEqual([t.leaf, t.stubborn].sort());
    expect(result.killed.sort()).toEqual(Object.values(t).sort());
    expect(result.terminated).toEqual([]);
    expect(result.skipped).toEqual([]);
    // Gone by the time killTree resolves (it confirms, bounded): nothing waited for a grace period.
    for (const pid of Object.values(t)) expect(alive(pid)).toBe(false);
  });

  it('force: a member forked after the snapshot (still in the group) is caught by the second look', async () => {
    procs = new TestProcesses();
    // A detached root whose child keeps forking short-lived-parent grandchildren that stay in the group.
    const script = procs.script(
      'forker.cjs',
      `
const { spawn } = require('node:child_process');
const [role, marker] = process.argv.slice(2);
if (role === 'root') {
  const c = spawn(process.execPath, [__filename, 'spawner', marker], { stdio: ['ignore', 'inherit', 'inherit'] });
  process.stdout.write('root:' + process.pid + '\\n');
} else if (role === 'spawner') {
  process.stdout.write('spawner:' + process.pid + '\\n');
  setInterval(() => spawn(process.execPath, [__filename, 'leaf', marker], { stdio: 'ignore' }), 1);
} else process.on('SIGTERM', () => {});
setInterval(() => {}, 1000);
`,
    );
    const { spawn } = await import('node:child_process');
    const root = spawn(process.execPath, [script, 'root', procs.marker], {
      detached: true,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    procs.pids.add(root.pid!);
    const roles = await readRoles(root, ['root', 'spawner']);
    const { pidsCarrying } = await import('../../../test-kit/processes.js');
    // A few dozen leaves exist, more on the way (however slowly a busy machine forks them).
    await waitFor(() => pidsCarrying(procs.marker).length >= 2 + 20, { timeoutMs: 20_000, what: '20 leaves' });
    const result = await killTree(root.pid!, { force: true });
    expect(result.killed).toEqual(expect.arrayContaining([roles.root, roles.spawner]));
    expect(result.terminated).toEqual([]);
    // Nothing of the group survives: leaves forked while the kill ran were caught by the group look.
    await waitFor(() => pidsCarrying(procs.marker).every((pid) => !alive(pid)), {
      timeoutMs: 3000,
      what: 'every marked process to be gone',
    });
  });

  it('a pid that does not exist is reported gone', async () => {
    procs = new TestProcesses();
    expect(await killTree(2 ** 22 + 11, { graceMs: 10 })).toEqual({
      terminated: [],
      killed: [],
      gone: [2 ** 22 + 11],
      skipped: [],
    });
  });

  it('abort during the grace period rejects with signal.reason', async () => {
    const t = await startTree();
    const ac = new AbortController();
    const reason = new Error('shutdown cancelled');
    setTimeout(() => ac.abort(reason), 300);
    await expect(killTree(t.root, { graceMs: 10_000, signal: ac.signal })).rejects.toBe(reason);
    // SIGTERM went out; the stubborn one is still there (no SIGKILL after an abort)
    expect(alive(t.stubborn)).toBe(true);
    expect(alive(t.leaf)).toBe(false);
  });
});

describe('killTree refuses protected processes before signalling anything', () => {
  const spyReaper = () => {
    const sent: [number, string | number][] = [];
    const reaper = createReaper({
      kill: (pid, sig) => {
        sent.push([pid, sig]);
        if (sig !== 0) throw new Error(`test bug: would have sent ${sig} to ${pid}`);
      },
    });
    return { reaper, sent };
  };

  it.each([
    ['itself', () => process.pid, 'self'],
    ['its parent', () => process.ppid, 'ancestor'],
    ['pid 1', () => 1, 'pid<=1'],
    ['pid 0', () => 0, 'pid<=1'],
  ])('%s', async (_name, pid, reason) => {
    const { reaper, sent } = spyReaper();
    const error = await reaper.killTree(pid(), { graceMs: 0 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProtectedProcessError);
    expect(error).toMatchObject({ code: 'EPROTECTED', pid: pid(), reason });
    expect(sent.filter(([, s]) => s !== 0)).toEqual([]);
  });

  it.runIf(process.platform === 'linux')('every ancestor up to init', async () => {
    const { ancestorsOf } = await import('@spawnguard/process-table');
    const { reaper, sent } = spyReaper();
    for (const a of await ancestorsOf(process.pid)) {
      await expect(reaper.killTree(a.pid, { graceMs: 0 })).rejects.toBeInstanceOf(ProtectedProcessError);
    }
    expect(sent.filter(([, s]) => s !== 0)).toEqual([]);
  });
});

describe('killTree option validation', () => {
  it.each([
    [-1, {}, RangeError, /pid must be a non-negative integer, got -1/],
    ['12', {}, TypeError, /pid must be a non-negative integer, got "12"/],
    [12, { graceMs: -5 }, RangeError, /graceMs must be a finite number of milliseconds >= 0, got -5/],
    [12, { graceMs: Number.NaN }, RangeError, /got NaN/],
    [12, { graceMs: Number.POSITIVE_INFINITY }, RangeError, /got Infinity/],
    [12, { graceMs: '1s' }, TypeError, /graceMs must be a finite number of milliseconds >= 0, got "1s"/],
    [12, { startToken: 5 }, TypeError, /startToken must be a non-empty string, got 5/],
    [12, { startToken: '' }, TypeError, /startToken must be a non-empty string/],
    [12, { signal: {} }, TypeError, /signal must be an AbortSignal/],
    [12, { force: 'yes' }, TypeError, /force must be a boolean, got "yes"/],
    [12, { force: true, graceMs: 3000 }, TypeError, /graceMs cannot be combined with force: true .*got graceMs 3000/],
    [12, 'fast', TypeError, /options must be an object, got "fast"/],
  ])('killTree(%j, %j)', async (pid, options, type, message) => {
    const error = await killTree(pid as never, options as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(type);
    expect(String(error)).toMatch(message);
  });

  it('an aborted signal rejects with its reason', async () => {
    const reason = new Error('no');
    await expect(killTree(12345, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
  });
});
