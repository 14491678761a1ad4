import { captureWarnings } from '@spawnguard/internal/testing';
import { descendantsIn, type ProcessInfo } from '@spawnguard/process-table';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createReaper, type RunCommand, type TableLike, taskkillArgs } from '../src/index.js';

/**
 * A simulated process table for the platform branches CI cannot run (Windows, macOS). The
 * simulation only stands in for the OS: the reaper's own logic (snapshot, identity checks,
 * ordering, grace, escalation) runs unchanged.
 */
function simulated(platform: NodeJS.Platform, procs: ProcessInfo[]) {
  const live = new Map(procs.map((p) => [p.pid, { ...p }]));
  let listings = 0;
  const table: TableLike = {
    platform,
    listProcesses: async () => {
      listings++;
      return [...live.values()].map((p) => ({ ...p }));
    },
    isSameProcess: async (r) => live.get(r.pid)?.startToken === r.startToken,
    processIdentity: async (pid) => live.get(pid) ?? null,
    ancestorsOf: async () => [],
    processAgeMs: (p) => Date.now() - p.startTime,
  };
  return { table, live, listings: () => listings };
}

const me = process.pid;
const proc = (pid: number, ppid: number, extra: Partial<ProcessInfo> = {}): ProcessInfo => ({
  pid,
  ppid,
  uid: -1,
  name: `p${pid}.exe`,
  cmdline: [`p${pid}.exe`, 'spawnguard-sim'],
  startTime: 1_000_000 + pid,
  startToken: `${pid}:${1_000_000 + pid}`,
  ...extra,
});

describe('Windows branch (taskkill)', () => {
  it('builds taskkill command lines: /PID n, /F only when forcing, never /T', () => {
    expect(taskkillArgs(4242)).toEqual(['/PID', '4242']);
    expect(taskkillArgs(4242, { force: true })).toEqual(['/PID', '4242', '/F']);
  });

  it('polite taskkill deepest first, then taskkill /F for what is left after grace', async () => {
    // our ancestry: 10 -> me; the tree to kill: 100 -> 101 -> [102 (GUI, closes politely), 103 (console)]
    const sim = simulated('win32', [
      proc(10, 4),
      proc(me, 10, { startTime: 1_000_005, startToken: `${me}:x` }),
      proc(100, 10),
      proc(101, 100),
      proc(102, 101),
      proc(103, 101),
    ]);
    const calls: string[][] = [];
    const runCommand: RunCommand = async (file, args) => {
      calls.push([file, ...args]);
      const pid = Number(args[1]);
      const force = args.includes('/F');
      // console processes ignore the polite request: only 102 has a window
      if (!sim.live.has(pid)) return { exitCode: 128, stdout: '', stderr: 'ERROR: not found' };
      if (force || pid === 102) {
        sim.live.delete(pid);
        return { exitCode: 0, stdout: 'SUCCESS', stderr: '' };
      }
      return {
        exitCode: 1,
        stdout: '',
        stderr: 'ERROR: This process can only be terminated forcefully (with /F option).',
      };
    };
    const reaper = createReaper({ table: sim.table, runCommand, pollIntervalMs: 10 });
    const signals: string[] = [];
    reaper.events.on('signal', (e) => signals.push(`${e.signal} ${e.pid}`));
    const result = await reaper.killTree(100, { graceMs: 50 });

    expect(calls.slice(0, 4)).toEqual([
      ['taskkill.exe', '/PID', '103'],
      ['taskkill.exe', '/PID', '102'],
      ['taskkill.exe', '/PID', '101'],
      ['taskkill.exe', '/PID', '100'],
    ]);
    expect(calls.slice(4)).toEqual([
      ['taskkill.exe', '/PID', '103', '/F'],
      ['taskkill.exe', '/PID', '101', '/F'],
      ['taskkill.exe', '/PID', '100', '/F'],
    ]);
    expect(result.terminated).toEqual([102]);
    expect(result.killed).toEqual([103, 101, 100]);
    expect(signals.filter((s) => s.startsWith('taskkill /F'))).toEqual([
      'taskkill /F 103',
      'taskkill /F 101',
      'taskkill /F 100',
    ]);
    expect([...sim.live.keys()].sort()).toEqual([10, me].sort());
  });

  it('force: taskkill /F to every member at once, parents first, no polite taskkill, no grace', async () => {
    const sim = simulated('win32', [proc(10, 4), proc(me, 10), proc(100, 10), proc(101, 100), proc(102, 101)]);
    const calls: string[][] = [];
    const runCommand: RunCommand = async (_file, args) => {
      calls.push(args);
      if (args.includes('/F')) sim.live.delete(Number(args[1]));
      return { exitCode: 0, stdout: 'SUCCESS', stderr: '' };
    };
    const reaper = createReaper({ table: sim.table, runCommand, pollIntervalMs: 10 });
    const result = await reaper.killTree(100, { force: true });
    expect(calls).toEqual([
      ['/PID', '100', '/F'],
      ['/PID', '101', '/F'],
      ['/PID', '102', '/F'],
    ]);
    expect(result).toEqual({ terminated: [], killed: [100, 101, 102], gone: [], skipped: [] });
    expect([...sim.live.keys()].sort()).toEqual([10, me].sort());
  });

  it('a member whose pid was reused (token changed) gets no taskkill', async () => {
    const sim = simulated('win32', [proc(10, 4), proc(me, 10), proc(200, 10), proc(201, 200)]);
    const calls: string[][] = [];
    const runCommand: RunCommand = async (_file, args) => {
      calls.push(args);
      sim.live.delete(Number(args[1]));
      return { exitCode: 0, stdout: '', stderr: '' };
    };
    const reaper = createReaper({ table: sim.table, runCommand, pollIntervalMs: 10 });
    // between the snapshot and the signal, 201 exits and its pid goes to a stranger
    const original = sim.table.listProcesses;
    let first = true;
    sim.table.listProcesses = async (o) => {
      const list = await original(o);
      if (first) {
        first = false;
        sim.live.set(201, proc(201, 1, { startTime: 9_999_999, startToken: '201:stranger' }));
      }
      return list;
    };
    const result = await reaper.killTree(200, { graceMs: 50 });
    expect(calls).toEqual([['/PID', '200']]);
    expect(result.gone).toEqual([201]);
    expect(sim.live.get(201)?.startToken).toBe('201:stranger');
  });

  it('"access is denied" is reported as another user\'s process', async () => {
    const sim = simulated('win32', [proc(10, 4), proc(me, 10), proc(300, 10)]);
    const runCommand: RunCommand = async () => ({
      exitCode: 1,
      stdout: '',
      stderr: 'ERROR: The process with PID 300 could not be terminated.\r\nReason: Access is denied.',
    });
    const result = await createReaper({ table: sim.table, runCommand }).killTree(300, { graceMs: 0 });
    expect(result.skipped).toEqual([{ pid: 300, reason: 'other-user' }]);
  });

  it('reap: orphans by dead parent, including a parent pid reused by a younger process', async () => {
    const sim = simulated('win32', [
      proc(0, 0, { name: 'System Idle Process', cmdline: [] }),
      proc(4, 0, { name: 'System', cmdline: [] }),
      proc(10, 9999), // our ancestry ends here (its parent exited)
      proc(me, 10),
      proc(400, 10), // parent alive: not an orphan
      proc(401, 999), // parent gone
      proc(402, 500, { startTime: 1_000_100, startToken: '402:1000100' }),
      proc(500, 10, { startTime: 1_005_000, startToken: '500:1005000' }), // reused pid: younger than "its" child 402
    ]);
    const reaper = createReaper({
      table: sim.table,
      runCommand: async () => ({ exitCode: 0, stdout: '', stderr: '' }),
    });
    const result = await reaper.reap({ match: /spawnguard-sim/, dryRun: true });
    const reasons = Object.fromEntries(result.skipped.map((s) => [s.proc.pid, s.reason]));
    expect(reasons).toMatchObject({ 10: 'ancestor', [me]: 'self', 400: 'not-orphan', 401: 'dry-run', 402: 'dry-run' });
    expect(reasons[500]).toBe('not-orphan');
    // System (ppid 0) is the kernel's, even for a match-everything predicate
    const all = await reaper.reap({ match: () => true, dryRun: true, orphansOnly: false });
    expect(all.skipped.find((s) => s.proc.pid === 4)?.reason).toBe('kernel');
    expect(all.skipped.find((s) => s.proc.pid === 0)?.reason).toBe('pid<=1');
  });
});

describe('macOS branch (signals, identity checked through one listing)', () => {
  it('SIGTERM, then SIGKILL for the survivor; one listing verifies all tokens', async () => {
    const uid = process.getuid?.() ?? 501;
    const sim = simulated('darwin', [
      proc(1, 0, { uid: 0 }),
      proc(me, 1, { uid }),
      proc(600, 1, { uid, pgid: 600 }),
      proc(601, 600, { uid, pgid: 600 }),
      proc(602, 601, { uid, pgid: 600 }),
    ]);
    const sent: string[] = [];
    const kill = (pid: number, sig: NodeJS.Signals | 0) => {
      if (!sim.live.has(pid)) throw Object.assign(new Error('ESRCH'), { code: 'ESRCH' });
      if (sig === 0) return;
      sent.push(`${sig} ${pid}`);
      if (sig === 'SIGKILL' || pid !== 602) sim.live.delete(pid); // 602 ignores SIGTERM
    };
    const reaper = createReaper({ table: sim.table, kill, pollIntervalMs: 10 });
    const result = await reaper.killTree(600, { graceMs: 60 });
    expect(sent).toEqual(['SIGTERM 602', 'SIGTERM 601', 'SIGTERM 600', 'SIGKILL 602']);
    expect(result).toEqual({ terminated: [601, 600], killed: [602], gone: [], skipped: [] });
    expect(sim.live.has(602)).toBe(false);
  });

  it('kill(pid, 0) = EPERM means alive but not ours: skipped as other-user', async () => {
    const uid = process.getuid?.() ?? 501;
    const sim = simulated('darwin', [proc(1, 0, { uid: 0 }), proc(me, 1, { uid }), proc(700, 1, { uid })]);
    const kill = (_pid: number, sig: NodeJS.Signals | 0) => {
      if (sig !== 0) throw new Error('must not signal');
      throw Object.assign(new Error('EPERM'), { code: 'EPERM' });
    };
    const reaper = createReaper({ table: sim.table, kill });
    const reaped = await reaper.reap({ match: /spawnguard-sim/, orphansOnly: false });
    expect(reaped.skipped.map((s) => [s.proc.pid, s.reason])).toEqual([
      [1, 'pid<=1'],
      [me, 'self'],
      [700, 'other-user'],
    ]);
    const tree = await reaper.killTree(700, { graceMs: 0 });
    expect(tree.skipped).toEqual([{ pid: 700, reason: 'other-user' }]);
  });

  it('children born during the grace period are killed too', async () => {
    const uid = process.getuid?.() ?? 501;
    const sim = simulated('darwin', [proc(1, 0, { uid: 0 }), proc(me, 1, { uid }), proc(800, 1, { uid })]);
    const sent: string[] = [];
    const kill = (pid: number, sig: NodeJS.Signals | 0) => {
      if (!sim.live.has(pid)) throw Object.assign(new Error('ESRCH'), { code: 'ESRCH' });
      if (sig === 0) return;
      sent.push(`${sig} ${pid}`);
      if (sig === 'SIGTERM' && pid === 800) {
        // a supervisor that respawns a worker instead of exiting
        sim.live.set(801, proc(801, 800, { uid }));
        return;
      }
      sim.live.delete(pid);
    };
    const reaper = createReaper({ table: sim.table, kill, pollIntervalMs: 10 });
    const result = await reaper.killTree(800, { graceMs: 30 });
    expect(sent).toEqual(['SIGTERM 800', 'SIGKILL 801', 'SIGKILL 800']);
    expect(result.killed.sort()).toEqual([800, 801]);
    expect(descendantsIn(await sim.table.listProcesses(), 800)).toEqual([]);
  });
});

describe('events', () => {
  it('a throwing listener breaks neither the kill nor the other listeners; it is a coded process warning', async () => {
    const warnings = await captureWarnings();
    onTestFinished(() => warnings.stop());
    const uid = process.getuid?.() ?? 501;
    const sim = simulated('darwin', [proc(1, 0, { uid: 0 }), proc(me, 1, { uid }), proc(900, 1, { uid })]);
    const kill = (pid: number, sig: NodeJS.Signals | 0) => {
      if (sig !== 0) sim.live.delete(pid);
    };
    const reaper = createReaper({ table: sim.table, kill, pollIntervalMs: 5 });
    const seen: string[] = [];
    reaper.events.on('*', () => {
      throw new Error('bad listener');
    });
    reaper.events.on('signal', (e) => seen.push(`signal ${e.pid} ${e.signal}`));
    reaper.events.on('killed', (e) => seen.push(`killed ${e.pid} ${e.signal}`));
    reaper.events.on('skipped', (e) => seen.push(`skipped ${e.pid} ${e.reason}`));
    const result = await reaper.reap({ match: /spawnguard-sim/, orphansOnly: false, graceMs: 100 });
    expect(result.killed.map((p) => p.pid)).toEqual([900]);
    expect(seen).toEqual(['skipped 1 pid<=1', `skipped ${me} self`, 'signal 900 SIGTERM', 'killed 900 SIGTERM']);
    await warnings.settled();
    expect(warnings.list.map((w) => [w.code, w.event, w.package, (w.cause as Error).message])).toEqual(
      ['skipped', 'skipped', 'signal', 'killed'].map((event) => [
        'SPAWNGUARD_LISTENER_ERROR',
        event,
        '@spawnguard/orphan-reaper',
        'bad listener',
      ]),
    );
  });
});

describe('createReaper validation', () => {
  it.each([
    [{ table: {} }, TypeError, /table must provide listProcesses and isSameProcess/],
    [{ kill: 'x' }, TypeError, /kill must be a function/],
    [{ runCommand: 3 }, TypeError, /runCommand must be a function/],
    [{ pollIntervalMs: -1 }, RangeError, /pollIntervalMs must be a finite number of milliseconds > 0, got -1/],
    [{ pollIntervalMs: 0 }, RangeError, /pollIntervalMs must be a finite number of milliseconds > 0, got 0/],
    ['x', TypeError, /options must be an object/],
  ])('%j', (options, type, message) => {
    expect(() => createReaper(options as never)).toThrow(type);
    expect(() => createReaper(options as never)).toThrow(message);
  });
});
