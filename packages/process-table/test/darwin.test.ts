import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { darwinIdentityArgs, darwinListArgs, parsePsOutput, splitCommArgs } from '../src/darwin.js';
import { createProcessTable, ProcessListError, ProcessListTimeoutError } from '../src/index.js';
import { TestProcesses, waitFor } from './helpers.js';

const fixture = (name: string) => readFileSync(join(import.meta.dirname, 'fixtures', name));
interface Row {
  pid: number;
  ppid: number;
  pgid: number;
  uid: number;
  state: string;
  lstart: string;
  comm: string;
  args: string;
}
const rows = JSON.parse(fixture('ps-rows.json').toString()) as Row[];
const MONTHS = 'JanFebMarAprMayJunJulAugSepOctNovDec';
/** lstart is local time; the expected value is computed independently of the parser's regex. */
function lstartToMs(lstart: string): number {
  const [, mon, day, time, year] = lstart.split(/ +/) as [string, string, string, string, string];
  const [h, m, s] = time.split(':').map(Number) as [number, number, number];
  return new Date(Number(year), MONTHS.indexOf(mon) / 3, Number(day), h, m, s).getTime();
}

describe('parsePsOutput (macOS ps fixture)', () => {
  const parsed = parsePsOutput(fixture('ps-list.txt'));

  it('parses every line: numbers, state, lstart, comm and args apart', () => {
    expect(parsed).toHaveLength(rows.length);
    for (const [i, row] of rows.entries()) {
      const p = parsed[i]!;
      expect(p.pid).toBe(row.pid);
      expect(p.ppid).toBe(row.ppid);
      expect(p.pgid).toBe(row.pgid);
      expect(p.uid).toBe(row.uid);
      expect(p.state).toBe(row.state[0]);
      expect(p.startTime).toBe(lstartToMs(row.lstart));
      expect(p.startToken).toBe(`${row.pid}:${lstartToMs(row.lstart)}`);
      expect(p.cmdline.join(' ')).toBe(row.args);
    }
  });

  it('keeps argv[0] whole when it is a path with spaces and parentheses', () => {
    const helper = parsed.find((p) => p.pid === 1190)!;
    expect(helper.name).toBe('Google Chrome Helper (Renderer)');
    expect(helper.cmdline[0]).toBe(rows.find((r) => r.pid === 1190)!.comm);
    expect(helper.cmdline.slice(1)).toEqual(['--type=renderer', '--lang=en-US', '--renderer-client-id=7']);
    const weird = parsed.find((p) => p.pid === 98765)!;
    expect(weird.name).toBe('we ird) (name');
    expect(weird.cmdline).toEqual(['/tmp/we ird) (name', '30']);
  });

  it('decodes UTF-8 after splitting on byte offsets', () => {
    const node = parsed.find((p) => p.pid === 2210)!;
    expect(node.name).toBe('node');
    expect(node.cmdline).toEqual(['node', '/Users/zoë/проект/server.js', '--name=日本', 'spawnguard-fixture']);
  });

  it('handles pid 0, uid -2, a zombie, a rewritten title and a 5 kB line', () => {
    expect(parsed[0]).toMatchObject({ pid: 0, ppid: 0, name: 'kernel_task', cmdline: ['kernel_task'] });
    expect(parsed.find((p) => p.pid === 401)?.uid).toBe(-2);
    expect(parsed.find((p) => p.pid === 2211)).toMatchObject({ state: 'Z', name: '(node)', cmdline: ['<defunct>'] });
    expect(parsed.find((p) => p.pid === 2301)).toMatchObject({ name: 'sshd', cmdline: ['sshd:', 'alice', '[priv]'] });
    const java = parsed.find((p) => p.pid === 2400)!;
    expect(java.cmdline).toHaveLength(4);
    expect(java.cmdline[2]!.length).toBeGreaterThan(3000);
  });

  it('one line (ps -p): alignment is ambiguous, argv[0] = comm decides', () => {
    const [one] = parsePsOutput(fixture('ps-identity-1190.txt'));
    expect(one?.name).toBe('Google Chrome Helper (Renderer)');
    expect(one?.cmdline.slice(1)).toEqual(['--type=renderer', '--lang=en-US', '--renderer-client-id=7']);
  });

  it('skips headers, blank and garbled lines; accepts a string and CRLF', () => {
    const text = `  PID  PPID\r\n\r\ngarbage line\r\n${fixture('ps-list.txt').toString().split('\n')[1]}\r\n`;
    const out = parsePsOutput(text);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ pid: 1, name: 'launchd', cmdline: ['/sbin/launchd'] });
    expect(parsePsOutput('')).toEqual([]);
  });

  it('falls back per line when lines are not aligned', () => {
    const split = splitCommArgs(['/bin/a b /bin/a b -x', 'short x y', 'lonely']);
    expect(split).toEqual([
      { comm: '/bin/a b', args: '/bin/a b -x' },
      { comm: 'short', args: 'x y' },
      { comm: 'lonely', args: '' },
    ]);
  });

  it('builds the ps command lines', () => {
    expect(darwinListArgs()).toEqual(['-axww', '-o', 'pid=,ppid=,pgid=,uid=,state=,lstart=,comm=,args=']);
    expect(darwinIdentityArgs(42).slice(-2)).toEqual(['-p', '42']);
  });
});

let procs: TestProcesses;
afterEach(async () => {
  await procs?.cleanup();
});

describe.runIf(process.platform !== 'win32')('darwin table end to end, ps replaced by a real script', () => {
  /** A fake `ps`: logs each call (one line per run), then prints the fixture or, for -p, one row. */
  function fakePs(extra = '') {
    const log = join(procs.dir, 'calls.log');
    const path = procs.script(
      'ps',
      `#!/bin/sh
echo "$$ $*" >> '${log}'
${extra}
case "$*" in
  *"-p 1190"*) cat '${join(import.meta.dirname, 'fixtures', 'ps-identity-1190.txt')}' ;;
  *"-p "*) exit 1 ;;
  *) cat '${join(import.meta.dirname, 'fixtures', 'ps-list.txt')}' ;;
esac
`,
    );
    const calls = () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').filter(Boolean) : []);
    return { path, calls };
  }

  it('lists, finds one pid, says null for a missing one, and walks trees', async () => {
    procs = new TestProcesses();
    const ps = fakePs();
    const table = createProcessTable({ platform: 'darwin', command: ps.path });
    const list = await table.listProcesses();
    expect(list.map((p) => p.pid)).toEqual(rows.map((r) => r.pid));
    expect((await table.processIdentity(1190))?.name).toBe('Google Chrome Helper (Renderer)');
    expect(await table.processIdentity(4242)).toBeNull();
    expect(await table.isSameProcess({ pid: 1190, startToken: list.find((p) => p.pid === 1190)!.startToken })).toBe(
      true,
    );
    expect(await table.isSameProcess({ pid: 1190, startToken: '1190:0' })).toBe(false);
    expect((await table.treeOf(1184)).map((p) => p.pid)).toEqual([1190]);
    expect((await table.ancestorsOf(1190)).map((p) => p.pid)).toEqual([1184, 1]);
    expect(ps.calls().some((c) => c.includes('-axww -o pid=,ppid=,pgid=,uid=,state=,lstart=,comm=,args='))).toBe(true);
    const age = table.processAgeMs(list[1]!);
    expect(age).toBeCloseTo(Date.now() - list[1]!.startTime, -3);
  });

  it('start tokens are <pid>:<startTime> in decimal: anything else is not that process, without running ps', async () => {
    procs = new TestProcesses();
    const ps = fakePs();
    const table = createProcessTable({ platform: 'darwin', command: ps.path });
    const good = (await table.processIdentity(1190))!.startToken;
    const [, time] = good.split(':');
    const before = ps.calls().length;
    const bad = [
      '',
      ` 1190:${time}`,
      `1190: ${time}`,
      `1190:${time} `,
      `1190:+${time}`,
      `1190:0${time}`,
      `1190:${Number(time) / 1000}e3`,
      `1190:0x${Number(time).toString(16)}`,
      `0x4a6:${time}`,
      `1190:`,
      `:${time}`,
      `1190:${time}:1`,
      `1191:${time}`, // another pid's token can never be pid 1190's
      'garbage',
    ];
    for (const startToken of bad.slice(1)) {
      expect(await table.isSameProcess({ pid: 1190, startToken }), startToken).toBe(false);
    }
    await expect(table.isSameProcess({ pid: 1190, startToken: '' })).rejects.toThrow(TypeError);
    expect(ps.calls().length - before).toBe(0);
    expect(await table.isSameProcess({ pid: 1190, startToken: good })).toBe(true);
    expect(ps.calls().length - before).toBe(1);
  });

  it('single-flight: 5 concurrent callers, one ps run', async () => {
    procs = new TestProcesses();
    const ps = fakePs('sleep 0.3');
    const table = createProcessTable({ platform: 'darwin', command: ps.path });
    const seen: number[] = [];
    table.events.on('list', (e) => seen.push(e.callers));
    const results = await Promise.all(Array.from({ length: 5 }, () => table.listProcesses()));
    expect(ps.calls()).toHaveLength(1);
    expect(seen).toEqual([5]);
    // each caller has its own array, the records are shared
    expect(new Set(results).size).toBe(5);
    expect(results[1]![0]).toBe(results[0]![0]);
    await table.listProcesses();
    expect(ps.calls()).toHaveLength(2);
  });

  it('timeout: the ps child is killed and reaped, the call rejects with ProcessListTimeoutError', async () => {
    procs = new TestProcesses();
    const pidFile = join(procs.dir, 'ps.pid');
    const ps = fakePs(`echo $$ > '${pidFile}'; exec sleep 30`);
    const table = createProcessTable({ platform: 'darwin', command: ps.path });
    const abandoned: unknown[] = [];
    table.events.on('abandon', (e) => abandoned.push(e.reason));
    const t = performance.now();
    const error = await table.listProcesses({ timeoutMs: 300 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProcessListTimeoutError);
    expect(error).toMatchObject({ code: 'EPROCLISTTIMEOUT', timeoutMs: 300 });
    expect(performance.now() - t).toBeLessThan(3000);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    expect(pid).toBeGreaterThan(0);
    expect(existsSync(`/proc/${pid}`)).toBe(false); // killed and reaped: not even a zombie
    expect(abandoned).toEqual([error]);
  });

  it("abort: one caller's signal rejects that caller only; the run stops when all have left", async () => {
    procs = new TestProcesses();
    const pidFile = join(procs.dir, 'ps.pid');
    const ps = fakePs(`echo $$ > '${pidFile}'; sleep 0.5`);
    const table = createProcessTable({ platform: 'darwin', command: ps.path });
    const a = new AbortController();
    const first = table.listProcesses({ signal: a.signal });
    const second = table.listProcesses();
    const reason = new Error('first caller left');
    setTimeout(() => a.abort(reason), 50);
    await expect(first).rejects.toBe(reason);
    expect((await second).length).toBe(rows.length);
    expect(ps.calls()).toHaveLength(1);

    // Now everyone leaves: the child is killed (it would otherwise sleep 30 s).
    const slow = fakePs(`echo $$ > '${pidFile}'; exec sleep 30`);
    const table2 = createProcessTable({ platform: 'darwin', command: slow.path });
    const b = new AbortController();
    const c = new AbortController();
    const p1 = table2.listProcesses({ signal: b.signal });
    const p2 = table2.listProcesses({ signal: c.signal });
    await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '', {
      what: 'fake ps to start',
    });
    const pid = Number(readFileSync(pidFile, 'utf8'));
    b.abort(new Error('b'));
    c.abort(new Error('c'));
    await expect(p1).rejects.toThrow('b');
    await expect(p2).rejects.toThrow('c');
    expect(existsSync(`/proc/${pid}`)).toBe(false);
  });

  it('ps failing or printing nothing readable is a ProcessListError', async () => {
    procs = new TestProcesses();
    const failing = procs.script('ps-fail', '#!/bin/sh\necho "ps: bad option" >&2\nexit 2\n');
    await expect(createProcessTable({ platform: 'darwin', command: failing }).listProcesses()).rejects.toMatchObject({
      code: 'EPROCLIST',
      exitCode: 2,
      stderr: 'ps: bad option\n',
    });
    const empty = procs.script('ps-empty', '#!/bin/sh\necho hello\n');
    await expect(createProcessTable({ platform: 'darwin', command: empty }).listProcesses()).rejects.toBeInstanceOf(
      ProcessListError,
    );
  });
});
