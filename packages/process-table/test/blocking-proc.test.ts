/**
 * A /proc read that blocks (a process stuck in uninterruptible sleep: hung NFS/FUSE, heavy swap)
 * must not hang listProcesses past its timeoutMs, nor keep the process from exiting. A fake /proc
 * stands in for the real one: a FIFO where a `cmdline` or a `stat` belongs blocks a plain open(2)
 * forever. The children import the built package (dist/), so run `pnpm build` before these tests.
 */
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, constants, existsSync, openSync, readdirSync, rmSync, statSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { newMarker, pidsCarrying } from '../../../test-kit/processes.js';
import { createProcessTable, ProcessListTimeoutError } from '../src/index.js';
import { LinuxProc } from '../src/linux.js';
import { SingleFlight } from '../src/single-flight.js';
import { FakeProc, waitFor } from './helpers.js';

const root = resolve(import.meta.dirname, '..');
const DIST = join(root, 'dist', 'index.js');
const CHILD = join(root, 'test', 'children', 'list-fake-proc.mjs');
const marker = newMarker();
let fake: FakeProc | undefined;

beforeAll(() => {
  if (!existsSync(DIST)) throw new Error(`${DIST} is missing: run \`pnpm build\` before the tests`);
  const built = statSync(DIST).mtimeMs;
  const stale = readdirSync(join(root, 'src')).filter((f) => statSync(join(root, 'src', f)).mtimeMs > built);
  if (stale.length > 0) throw new Error(`dist/ is older than src/ (${stale.join(', ')}): run \`pnpm build\``);
});
afterEach(() => {
  for (const pid of pidsCarrying(marker)) process.kill(pid, 'SIGKILL');
  fake?.cleanup();
  fake = undefined;
});

interface ChildResult {
  ok: boolean;
  processes?: Array<{ pid: number; cmdline: string[] }>;
  code?: string;
  elapsedMs: number;
}

/** Runs the lister in its own process; it must print its answer and then exit by itself. */
function listInChild(procRoot: string, timeoutMs: number, exitWithinMs: number) {
  const child = spawn(process.execPath, [CHILD, marker, procRoot, String(timeoutMs)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  const started = performance.now();
  return new Promise<ChildResult & { exitedAfterMs: number }>((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `the lister did not exit within ${exitWithinMs} ms (listing timeoutMs ${timeoutMs}); ` +
            `its output: ${JSON.stringify(stdout)}; stderr: ${stderr}`,
        ),
      );
    }, exitWithinMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`lister exited with ${code ?? signal}; stderr: ${stderr}`));
      resolvePromise({ ...(JSON.parse(stdout.trim()) as ChildResult), exitedAfterMs: performance.now() - started });
    });
  });
}

describe.runIf(process.platform === 'linux')('a blocking /proc read does not hang the listing or the process', () => {
  // node starts in well under a second; the listing must answer within about timeoutMs after that.
  const TIMEOUT_MS = 500;
  const EXIT_WITHIN_MS = 6_000;

  it('a cmdline that is a FIFO: the listing answers, that process has no argv, and the lister exits', async () => {
    fake = new FakeProc();
    fake.add(1, { ppid: 0, cmdline: ['/sbin/init'] });
    const dir = fake.add(42, { cmdline: ['replaced by a FIFO'] });
    fake.add(43, { cmdline: ['after', 'the FIFO'] });
    rmSync(join(dir, 'cmdline'));
    execFileSync('mkfifo', [join(dir, 'cmdline')]);
    const result = await listInChild(fake.root, TIMEOUT_MS, EXIT_WITHIN_MS);
    expect(result).toMatchObject({ ok: true });
    expect(result.processes).toEqual([
      { pid: 1, cmdline: ['/sbin/init'] },
      { pid: 42, cmdline: [] },
      { pid: 43, cmdline: ['after', 'the FIFO'] },
    ]);
    expect(result.elapsedMs).toBeLessThan(TIMEOUT_MS + 1_000);
  });

  it('a stat that is a FIFO: that pid is skipped, the others are listed, and the lister exits', async () => {
    fake = new FakeProc();
    fake.add(1, { ppid: 0, cmdline: ['/sbin/init'] });
    const dir = fake.add(42);
    fake.add(43, { cmdline: ['still', 'listed'] });
    rmSync(join(dir, 'stat'));
    execFileSync('mkfifo', [join(dir, 'stat')]);
    const result = await listInChild(fake.root, TIMEOUT_MS, EXIT_WITHIN_MS);
    expect(result).toMatchObject({ ok: true });
    expect(result.processes).toEqual([
      { pid: 1, cmdline: ['/sbin/init'] },
      { pid: 43, cmdline: ['still', 'listed'] },
    ]);
  });

  it('a status that is a FIFO is never opened (the listing reads only stat and cmdline)', async () => {
    fake = new FakeProc();
    const dir = fake.add(42, { cmdline: ['x'] });
    execFileSync('mkfifo', [join(dir, 'status')]);
    const result = await listInChild(fake.root, TIMEOUT_MS, EXIT_WITHIN_MS);
    expect(result.processes).toEqual([{ pid: 42, cmdline: ['x'] }]);
  });
});

describe.runIf(process.platform === 'linux')(
  'a cmdline read that really blocks (stands in for a process in D state)',
  () => {
    // A FIFO that this test holds open for writing, read without O_NONBLOCK: open(2) returns at once
    // (there is a writer) and read(2) blocks until the test writes, exactly like a cmdline read that
    // waits for a stuck process's memory-map lock. No signal can interrupt either.
    let writer: number | undefined;
    afterEach(() => {
      if (writer !== undefined) closeSync(writer);
      writer = undefined;
    });

    function stuckProc() {
      fake = new FakeProc();
      fake.add(1, { ppid: 0, cmdline: ['/sbin/init'] });
      const dir = fake.add(42, { ticks: 4200 });
      fake.add(43, { cmdline: ['fine'] });
      const fifo = join(dir, 'cmdline');
      rmSync(fifo);
      execFileSync('mkfifo', [fifo]);
      writer = openSync(fifo, constants.O_RDWR); // a writer that never writes until told
      const proc = new LinuxProc(fake.root, { cmdlineOpenFlags: constants.O_RDONLY });
      const flight = new SingleFlight((signal) => proc.list(signal));
      return { proc, flight, fifo };
    }

    it('the listing rejects at its timeout; later listings skip that process instead of blocking again', async () => {
      const { proc, flight } = stuckProc();
      const started = performance.now();
      const error = await flight.run({ timeoutMs: 300 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ProcessListTimeoutError);
      expect(performance.now() - started).toBeLessThan(300 + 1_000); // + ABANDON_WAIT_MS at most
      expect(proc.cmdlines.inFlight).toBe(1); // the blocked read, left to the kernel

      // The next listing answers at once: the stuck process is listed without argv, not read again.
      const list = await flight.run({ timeoutMs: 2_000 });
      expect(list.map((p) => [p.pid, p.cmdline])).toEqual([
        [1, ['/sbin/init']],
        [42, []],
        [43, ['fine']],
      ]);
      expect(proc.cmdlines.inFlight).toBe(1);

      // processIdentity waits for that read, but no longer than its own bound.
      const identity = proc.identity(42, AbortSignal.timeout(200));
      await expect(identity).rejects.toMatchObject({ name: 'TimeoutError' });

      // The kernel answers at last: the read finishes and closes its fd; the process is read again.
      writeSync(writer!, 'finally\0answered\0');
      await waitFor(() => proc.cmdlines.inFlight === 0, { what: 'the blocked read to finish' });
      writeSync(writer!, 'read\0again\0');
      const again = await flight.run({ timeoutMs: 2_000 });
      expect(again.find((p) => p.pid === 42)?.cmdline).toEqual(['read', 'again']);
      expect(proc.cmdlines.inFlight).toBe(0);
    });

    it('processIdentity shares a read in flight, and returns once it ends within its bound', async () => {
      const { proc } = stuckProc();
      const first = proc.identity(42, AbortSignal.timeout(5_000));
      const second = proc.identity(42, AbortSignal.timeout(5_000));
      expect(proc.cmdlines.inFlight).toBe(1);
      writeSync(writer!, 'one\0read\0');
      expect((await first)?.cmdline).toEqual(['one', 'read']);
      expect((await second)?.cmdline).toEqual(['one', 'read']);
    });

    it('through createProcessTable (O_NONBLOCK), a FIFO whose writer never writes gives no argv at once', async () => {
      stuckProc();
      const table = createProcessTable({ platform: 'linux', procRoot: fake!.root });
      expect((await table.processIdentity(42, { timeoutMs: 500 }))?.cmdline).toEqual([]);
      expect((await table.ancestorsOf(42, { timeoutMs: 500 })).map((p) => p.pid)).toEqual([1]);
    });
  },
);
