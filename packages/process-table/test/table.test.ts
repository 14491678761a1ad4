import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { captureWarnings } from '@spawnguard/internal/testing';
import { afterEach, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import {
  ancestorsIn,
  childrenIn,
  createProcessTable,
  descendantsIn,
  isSameProcess,
  listProcesses,
  type ProcessInfo,
  ProcessListTimeoutError,
  parseCmdline,
  processAgeMs,
  processIdentity,
  treeOf,
} from '../src/index.js';
import { parseProcStat } from '../src/linux.js';
import { SingleFlight } from '../src/single-flight.js';
import { BOOT, FakeProc, PF_KTHREAD } from './helpers.js';

let fake: FakeProc;
beforeEach(() => {
  fake = new FakeProc();
});
afterEach(() => fake.cleanup());

describe('parseProcStat / parseCmdline', () => {
  it('reads fields after the LAST parenthesis', () => {
    const stat = '4242 (a) b (c)) R 17 4242 4242 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 123456 0 0';
    expect(parseProcStat(stat)).toEqual({
      pid: 4242,
      name: 'a) b (c)',
      state: 'R',
      ppid: 17,
      pgid: 4242,
      flags: 4194560,
      startTicks: 123456,
    });
    expect(parseProcStat('12 (x) S 1 12 12')).toBeNull(); // truncated
    expect(parseProcStat('no parens at all')).toBeNull();
    expect(parseProcStat('')).toBeNull();
  });
  it('splits cmdline on NUL and drops the trailing empty element', () => {
    expect(parseCmdline('a\0b c\0\0')).toEqual(['a', 'b c', '']);
    expect(parseCmdline('a\0')).toEqual(['a']);
    expect(parseCmdline('')).toEqual([]);
    expect(parseCmdline('setproctitle style')).toEqual(['setproctitle style']);
  });
});

describe('Linux reader on a fake /proc', () => {
  it('skips vanished and malformed entries, reads no cmdline for kernel threads', async () => {
    fake.add(1, { name: 'init', ppid: 0, ticks: 1, cmdline: ['/sbin/init'] });
    fake.add(2, { name: 'kthreadd', ppid: 0, ticks: 1, flags: PF_KTHREAD, cmdline: [] });
    fake.add(50, { name: 'kworker/0:1', ppid: 2, ticks: 5, flags: PF_KTHREAD | 0x40, cmdline: ['should not be read'] });
    fake.add(700, { name: 'we ird) (name', ppid: 1, ticks: 50_000, cmdline: ['/tmp/we ird) (name', '30'] });
    mkdirSync(join(fake.root, '800')); // vanished between readdir and open: no stat file
    const broken = fake.add(900, { name: 'broken' });
    writeFileSync(join(broken, 'stat'), '900 (broken'); // torn / unparsable
    const table = createProcessTable({ platform: 'linux', procRoot: fake.root });
    const list = await table.listProcesses();
    expect(list.map((p) => p.pid).sort((a, b) => a - b)).toEqual([1, 2, 50, 700]);
    expect(list.find((p) => p.pid === 50)?.cmdline).toEqual([]);
    const weird = list.find((p) => p.pid === 700)!;
    expect(weird).toMatchObject({ name: 'we ird) (name', ppid: 1, cmdline: ['/tmp/we ird) (name', '30'] });
    expect(weird.startToken).toBe(`${BOOT}:50000`);
    // uptime 1000.5 s, started at tick 50000 (500 s): 500.5 s old
    expect(table.processAgeMs(weird)).toBe(500_500);
    expect(Math.abs(Date.now() - weird.startTime - 500_500)).toBeLessThan(1000);
    expect(await table.processIdentity(800)).toBeNull();
    expect(await table.isSameProcess({ pid: 700, startToken: `${BOOT}:50000` })).toBe(true);
    expect(await table.isSameProcess({ pid: 700, startToken: `${BOOT}:50001` })).toBe(false);
    expect((await table.ancestorsOf(700)).map((p) => p.pid)).toEqual([1]);
  });

  it('falls back to btime when boot_id is hidden', async () => {
    rmSync(join(fake.root, 'sys'), { recursive: true });
    writeFileSync(join(fake.root, 'stat'), 'cpu 1 2 3\nbtime 1762160707\nprocesses 9\n');
    fake.add(10, { ticks: 7 });
    const table = createProcessTable({ platform: 'linux', procRoot: fake.root });
    expect((await table.processIdentity(10))?.startToken).toBe('btime-1762160707:7');
  });

  it('a timeout bounds the call between batches (no child on Linux)', async () => {
    for (let pid = 100; pid < 3100; pid++) fake.add(pid, { ticks: pid });
    const table = createProcessTable({ platform: 'linux', procRoot: fake.root });
    const abandoned: unknown[] = [];
    table.events.on('abandon', (e) => abandoned.push(e.reason));
    const error = await table.listProcesses({ timeoutMs: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProcessListTimeoutError);
    expect(abandoned).toHaveLength(1);
    // and without the tight bound it completes
    expect(await table.listProcesses()).toHaveLength(3000);
  });

  it('an unreadable uptime is a clear error', async () => {
    rmSync(join(fake.root, 'uptime'));
    fake.add(10);
    const table = createProcessTable({ platform: 'linux', procRoot: fake.root });
    await expect(table.listProcesses()).rejects.toThrow(/uptime: is \/proc mounted/);
  });
});

describe('start tokens are parsed strictly: <bootId>:<decimal digits> on Linux', () => {
  // Number() reads each of these as a number: '' as 0, '1e3' and '0x3e8' as 1000, ' 1000' as 1000.
  const bad = ['', '1e3', '0x3e8', '0X3E8', '0b1111101000', '0o1750', ' 1000', '1000 ', '\t1000', '1000\n', '+1000'];
  const worse = ['01000', '1000.0', '1000.', '1_000', '-0', 'Infinity', '9007199254740993'];

  it.each([...bad, ...worse])(
    '"<boot>:%s" is no token: not the same process, and its age comes from startTime',
    async (ticks) => {
      fake.add(5, { ticks: 0 }); // '' reads as 0
      fake.add(700, { ticks: 1000 });
      const table = createProcessTable({ platform: 'linux', procRoot: fake.root });
      const token = `${BOOT}:${ticks}`;
      expect(await table.isSameProcess({ pid: 700, startToken: token })).toBe(false);
      expect(await table.isSameProcess({ pid: 5, startToken: token })).toBe(false);
      const startTime = Date.now() - 5_000;
      const age = table.processAgeMs({ ...(await table.processIdentity(700))!, startToken: token, startTime });
      expect(age).toBeGreaterThanOrEqual(5_000);
      expect(age).toBeLessThan(60_000); // not the uptime clock: process 700 started 990 s ago by its ticks
    },
  );

  it('the one true spelling still matches, and a token of another boot, or without a boot, does not', async () => {
    fake.add(5, { ticks: 0 });
    fake.add(700, { ticks: 1000 });
    const table = createProcessTable({ platform: 'linux', procRoot: fake.root });
    expect(await table.isSameProcess({ pid: 700, startToken: `${BOOT}:1000` })).toBe(true);
    expect(await table.isSameProcess({ pid: 5, startToken: `${BOOT}:0` })).toBe(true);
    expect(await table.isSameProcess({ pid: 700, startToken: '1000' })).toBe(false);
    expect(await table.isSameProcess({ pid: 700, startToken: ':1000' })).toBe(false);
    expect(await table.isSameProcess({ pid: 700, startToken: `${BOOT}1000` })).toBe(false);
    expect(await table.isSameProcess({ pid: 700, startToken: `x${BOOT}:1000` })).toBe(false);
    expect(await table.isSameProcess({ pid: 700, startToken: `${BOOT}:1000:1000` })).toBe(false);
    await expect(table.isSameProcess({ pid: 700, startToken: '' })).rejects.toThrow(TypeError);
  });

  it('stat fields are parsed as strictly (a torn or forged stat line is skipped, not misread)', () => {
    const line = (ppid: string, ticks: string, pid = '4242') =>
      `${pid} (a) R ${ppid} 4242 4242 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 ${ticks} 0 0`;
    expect(parseProcStat(line('17', '123456'))).toMatchObject({ pid: 4242, ppid: 17, startTicks: 123456 });
    for (const [ppid, ticks, pid] of [
      ['0x11', '123456'],
      ['17', '1e5'],
      ['17', '0x1e240'],
      ['', '123456'],
      ['17', ''],
      ['17', '123456', ' 4242'],
      ['17', '123456', '4242 '],
      ['+17', '123456'],
    ] as Array<[string, string, string?]>) {
      expect(parseProcStat(line(ppid, ticks, pid)), `ppid ${ppid} ticks ${ticks} pid ${pid}`).toBeNull();
    }
  });
});

describe('SingleFlight', () => {
  /** Work that only ends when told to, or when aborted (then it takes `windDownMs` to finish). */
  function controllable(windDownMs = 0) {
    let runs = 0;
    let release: (v: string) => void = () => {};
    const aborted: unknown[] = [];
    const work = (signal: AbortSignal) => {
      runs++;
      return new Promise<string>((resolve, reject) => {
        release = resolve;
        signal.addEventListener('abort', () => {
          aborted.push(signal.reason);
          setTimeout(() => reject(signal.reason), windDownMs);
        });
      });
    };
    return { work, runs: () => runs, release: (v: string) => release(v), aborted };
  }

  it('shares one run between concurrent callers and starts a new one afterwards', async () => {
    const c = controllable();
    const done: [string, number][] = [];
    const sf = new SingleFlight(c.work, { onDone: (v, n) => done.push([v, n]) });
    const all = Promise.all([1, 2, 3].map(() => sf.run({ timeoutMs: 5000 })));
    expect(c.runs()).toBe(1);
    c.release('x');
    expect(await all).toEqual(['x', 'x', 'x']);
    expect(done).toEqual([['x', 3]]);
    expect(sf.inFlight).toBe(false);
    const next = sf.run({ timeoutMs: 5000 });
    expect(c.runs()).toBe(2);
    c.release('y');
    expect(await next).toBe('y');
  });

  it('per-caller timeout and abort; the run is aborted only when the last caller leaves', async () => {
    const c = controllable(50);
    const sf = new SingleFlight(c.work);
    const ac = new AbortController();
    const a = sf.run({ timeoutMs: 5000, signal: ac.signal });
    const b = sf.run({ timeoutMs: 30 });
    const reason = new Error('a left');
    ac.abort(reason);
    await expect(a).rejects.toBe(reason);
    expect(c.aborted).toEqual([]); // b is still waiting
    const t = performance.now();
    const error = await b.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProcessListTimeoutError);
    expect(c.aborted).toEqual([error]);
    // the last caller's rejection waited for the run to wind down (50 ms)
    expect(performance.now() - t).toBeGreaterThanOrEqual(40);
    expect(sf.inFlight).toBe(false);
    // a new caller starts a fresh run rather than joining the abandoned one
    const fresh = sf.run({ timeoutMs: 5000 });
    expect(c.runs()).toBe(2);
    c.release('z');
    expect(await fresh).toBe('z');
  });

  it('an already-aborted signal rejects without starting anything', async () => {
    const c = controllable();
    const sf = new SingleFlight(c.work);
    const reason = new Error('before');
    await expect(sf.run({ timeoutMs: 100, signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(c.runs()).toBe(0);
  });

  it('a failing run rejects every caller with its error', async () => {
    const boom = new Error('boom');
    const sf = new SingleFlight<string>(() => Promise.reject(boom));
    const results = await Promise.allSettled([sf.run({ timeoutMs: 100 }), sf.run({ timeoutMs: 100 })]);
    expect(results.map((r) => (r.status === 'rejected' ? r.reason : r.value))).toEqual([boom, boom]);
    const sync = new SingleFlight<string>(() => {
      throw boom;
    });
    await expect(sync.run({ timeoutMs: 100 })).rejects.toBe(boom);
  });
});

describe('tree helpers (pure)', () => {
  const p = (pid: number, ppid: number, startTime = 1000 + pid): ProcessInfo => ({
    pid,
    ppid,
    uid: 0,
    name: `p${pid}`,
    cmdline: [],
    startTime,
    startToken: `${pid}:${startTime}`,
  });
  const list = [p(0, 0, 0), p(1, 0, 0), p(10, 1), p(11, 10), p(12, 10), p(13, 11), p(20, 1)];

  it('descendants breadth first, parents before children, root excluded', () => {
    expect(descendantsIn(list, 10).map((x) => x.pid)).toEqual([11, 12, 13]);
    expect(descendantsIn(list, 13)).toEqual([]);
    expect(descendantsIn(list, 999)).toEqual([]);
    expect(childrenIn(list, 10).map((x) => x.pid)).toEqual([11, 12]);
  });

  it('ancestors up to and including pid 1, never pid 0', () => {
    expect(ancestorsIn(list, 13).map((x) => x.pid)).toEqual([11, 10, 1]);
    expect(ancestorsIn(list, 1)).toEqual([]);
    expect(ancestorsIn(list, 999)).toEqual([]);
  });

  it('a reused parent pid does not adopt children older than itself (Windows)', () => {
    // pid 30 died; its pid went to a newer process; its old child 31 still names ppid 30
    const reused = [p(30, 1, 5000), p(31, 30, 2000), p(32, 30, 6000)];
    expect(childrenIn(reused, 30).map((x) => x.pid)).toEqual([32]);
    expect(descendantsIn(reused, 30).map((x) => x.pid)).toEqual([32]);
    expect(ancestorsIn(reused, 31)).toEqual([]);
  });

  it('cycles do not loop', () => {
    const cyclic = [p(5, 6), p(6, 5)];
    expect(descendantsIn(cyclic, 5).map((x) => x.pid)).toEqual([6]);
    expect(ancestorsIn(cyclic, 5).map((x) => x.pid)).toEqual([6]);
  });
});

describe('validation', () => {
  it.each([
    [{ timeoutMs: -1 }, RangeError, /timeoutMs must be a finite number of milliseconds > 0, got -1/],
    [{ timeoutMs: 0 }, RangeError, /got 0/],
    [{ timeoutMs: Number.NaN }, RangeError, /got NaN/],
    [{ timeoutMs: Number.POSITIVE_INFINITY }, RangeError, /got Infinity/],
    [{ timeoutMs: '5' }, TypeError, /timeoutMs must be a finite number of milliseconds > 0, got "5"/],
    [{ signal: 'nope' }, TypeError, /signal must be an AbortSignal, got "nope"/],
    ['fast', TypeError, /options must be an object/],
  ])('listProcesses(%j)', async (options, type, message) => {
    await expect(listProcesses(options as never)).rejects.toThrow(type);
    await expect(listProcesses(options as never)).rejects.toThrow(message);
  });

  it.each([
    [-1, RangeError, /pid must be a non-negative integer, got -1/],
    [1.5, RangeError, /got 1.5/],
    [Number.NaN, RangeError, /got NaN/],
    ['1', TypeError, /pid must be a non-negative integer, got "1"/],
  ])('pid %j', async (pid, type, message) => {
    await expect(processIdentity(pid as never)).rejects.toThrow(type);
    await expect(treeOf(pid as never)).rejects.toThrow(message);
  });

  it('isSameProcess, processAgeMs and createProcessTable check their input', async () => {
    await expect(isSameProcess(null as never)).rejects.toThrow(/record must be an object/);
    await expect(isSameProcess({ pid: 1, startToken: '' })).rejects.toThrow(/record.startToken must be a non-empty/);
    await expect(isSameProcess({ pid: -3, startToken: 'x' })).rejects.toThrow(/record.pid must be a non-negative/);
    expect(() => processAgeMs(undefined as never)).toThrow(TypeError);
    expect(() => processAgeMs({ startToken: 'x', startTime: Number.NaN } as never)).toThrow(/info.startTime/);
    expect(() => createProcessTable({ platform: 'plan9' as never })).toThrow(/platform must be one of/);
    expect(() => createProcessTable({ procRoot: '' })).toThrow(/procRoot must be a non-empty path/);
    expect(() => createProcessTable({ runCommand: 1 as never })).toThrow(/runCommand must be a function/);
  });

  it('rejects with signal.reason for an aborted signal', async () => {
    const reason = new Error('stop');
    await expect(listProcesses({ signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    await expect(processIdentity(1, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    await expect(isSameProcess({ pid: 1, startToken: 'a:1' }, { signal: AbortSignal.abort(reason) })).rejects.toBe(
      reason,
    );
  });
});

describe('events', () => {
  it('one list event per shared listing; a throwing listener breaks nothing and is a coded warning', async () => {
    const warnings = await captureWarnings();
    onTestFinished(() => warnings.stop());
    fake.add(1, { ppid: 0 });
    const table = createProcessTable({ platform: 'linux', procRoot: fake.root });
    const seen: number[] = [];
    table.events.on('list', () => {
      throw new Error('bad listener');
    });
    table.events.on('*', () => {
      throw new Error('bad wildcard listener');
    });
    table.events.on('list', (e) => seen.push(e.callers));
    const all: string[] = [];
    table.events.on('*', (type) => all.push(String(type)));
    const [a, b] = await Promise.all([table.listProcesses(), table.listProcesses()]);
    expect(a).toEqual(b);
    expect(a).not.toBe(b);
    expect(seen).toEqual([2]);
    expect(all).toEqual(['list']);
    await warnings.settled();
    expect(warnings.list.map((w) => [w.code, w.event, w.package, (w.cause as Error).message])).toEqual([
      ['SPAWNGUARD_LISTENER_ERROR', 'list', '@spawnguard/process-table', 'bad listener'],
      ['SPAWNGUARD_LISTENER_ERROR', 'list', '@spawnguard/process-table', 'bad wildcard listener'],
    ]);
  });
});
