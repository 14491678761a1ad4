/**
 * Real node processes sharing one fileStore: a circuit opened by one short-lived process is seen
 * by the next one, and the half-open probe is leased to one process at a time. The children
 * import the built package (dist/), so run `pnpm build` before these tests.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const DIST = join(root, 'dist', 'index.js');
const CHILD = join(root, 'test', 'children', 'child.mjs');
// Every child carries this in its argv, so we can prove none is left behind.
const MARKER = `spawnguard-test-${randomUUID()}`;
const CHILD_TIMEOUT_MS = 15_000;

interface CallResult {
  ok: boolean;
  value?: string;
  name?: string;
  code?: string;
  state?: string;
  retryAfterMs?: number;
  message?: string;
}

interface ChildOutput {
  mode: string;
  pid: number;
  startedAt: number;
  fnCalls: number;
  state: string;
  storeProblems: Array<{ operation: string; code?: string; reason?: string; message?: string }>;
  storeResets: Array<{ reason: string; location?: string; message: string }>;
  results?: CallResult[];
  result?: CallResult;
  first?: CallResult;
  second?: CallResult;
  fnCallsBeforeWait?: number;
}

const started = new Set<ChildProcess>();
let dir: string;
let store: string;

beforeAll(() => {
  if (!existsSync(DIST)) throw new Error(`${DIST} is missing: run \`pnpm build\` before the tests`);
  const built = statSync(DIST).mtimeMs;
  const stale = readdirSync(join(root, 'src')).filter((f) => statSync(join(root, 'src', f)).mtimeMs > built);
  if (stale.length > 0) throw new Error(`dist/ is older than src/ (${stale.join(', ')}): run \`pnpm build\``);
});
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'spawnguard-cb-procs-'));
  store = join(dir, 'daemon-circuit.json');
});
afterEach(() => {
  for (const child of started) {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined)
      process.kill(child.pid, 'SIGKILL');
  }
  started.clear();
  rmSync(dir, { recursive: true, force: true });
});
afterAll(() => {
  // Linux: no process with our marker may survive the tests.
  if (process.platform !== 'linux') return;
  const survivors = readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(MARKER);
      } catch {
        return false;
      }
    });
  expect(survivors).toEqual([]);
});

function startChild(mode: string, cooldownMs: number, extra: string[] = [], timeoutMs = CHILD_TIMEOUT_MS) {
  const child = spawn(process.execPath, [CHILD, MARKER, mode, store, String(cooldownMs), ...extra], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  started.add(child);
  let stdout = '';
  let stderr = '';
  const lineWaiters: Array<{ test: (line: string) => boolean; resolve: (line: string) => void }> = [];
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    for (const line of chunk.split('\n')) {
      for (const waiter of lineWaiters.filter((w) => w.test(line))) {
        lineWaiters.splice(lineWaiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<ChildOutput>((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child ${mode} did not finish within ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) {
        reject(new Error(`child ${mode} exited with ${code ?? signal}; stderr: ${stderr}`));
        return;
      }
      const last = stdout.trim().split('\n').at(-1) ?? '';
      resolvePromise(JSON.parse(last) as ChildOutput);
    });
  });
  exited.catch(() => {}); // observed by whoever awaits it; never an unhandled rejection
  const waitForLine = (test: (line: string) => boolean) =>
    new Promise<string>((resolveLine, reject) => {
      const timer = setTimeout(() => reject(new Error(`child ${mode}: expected line never came`)), CHILD_TIMEOUT_MS);
      lineWaiters.push({
        test,
        resolve: (line) => {
          clearTimeout(timer);
          resolveLine(line);
        },
      });
    });
  return { child, exited, waitForLine };
}

const runChild = (mode: string, cooldownMs: number, extra: string[] = []) => startChild(mode, cooldownMs, extra).exited;
const readState = () => JSON.parse(readFileSync(store, 'utf8'));
const sleepUntil = (epochMs: number) => new Promise((r) => setTimeout(r, Math.max(0, epochMs - Date.now())));

describe('two real processes sharing a fileStore', () => {
  it('the first opens the circuit; the second is rejected without running fn, then probes after the cooldown and closes it', async () => {
    // 1.5 s, not less: the second process must start (node boot on a busy 2-core box) within it.
    const cooldownMs = 1_500;
    const first = await runChild('fail', cooldownMs, ['3']);
    expect(first.fnCalls).toBe(3);
    expect(first.results?.map((r) => r.message)).toEqual([
      'daemon crashed (1)',
      'daemon crashed (2)',
      'daemon crashed (3)',
    ]);
    expect(first.state).toBe('open');
    expect(first.storeProblems).toEqual([]);
    const opened = readState();
    expect(opened).toMatchObject({ format: '@spawnguard/circuit-breaker', state: 'open', failures: 3 });
    expect(statSync(store).mode & 0o777).toBe(0o600);

    const second = await runChild('call-wait-call', cooldownMs);
    const lateBy = second.startedAt - opened.openedAt;
    expect(second.first, `second process started ${lateBy} ms after the circuit opened`).toMatchObject({
      ok: false,
      name: 'BrokenCircuitError',
      code: 'EBROKENCIRCUIT',
      state: 'open',
    });
    expect(second.first?.retryAfterMs).toBeGreaterThan(0);
    expect(second.first?.retryAfterMs).toBeLessThanOrEqual(cooldownMs);
    expect(second.fnCallsBeforeWait).toBe(0);
    expect(second.second).toEqual({ ok: true, value: 'probe ok' });
    expect(second.fnCalls).toBe(1);
    expect(second.state).toBe('closed');
    expect(readState()).toMatchObject({ state: 'closed', failures: 0, probe: null, generation: opened.generation + 1 });

    // And a third process finds it closed and runs fn.
    const third = await runChild('call', cooldownMs);
    expect(third.result).toEqual({ ok: true, value: 'called' });
  });

  it('while one process probes, another is rejected as half-open; the probe’s success closes it for all', async () => {
    const cooldownMs = 2_000;
    await runChild('fail', cooldownMs, ['3']);
    await sleepUntil(readState().openedAt + cooldownMs + 20);

    const prober = startChild('probe-hold', cooldownMs);
    await prober.waitForLine((line) => line.includes('"probing"'));
    const lease = readState().probe;
    expect(lease.owner.startsWith(`${prober.child.pid}.`)).toBe(true);

    const other = await runChild('call', cooldownMs);
    expect(other.result).toMatchObject({ ok: false, code: 'EBROKENCIRCUIT', state: 'halfOpen' });
    expect(other.result?.retryAfterMs).toBeGreaterThan(0);
    expect(other.result?.retryAfterMs).toBeLessThanOrEqual(cooldownMs);
    expect(other.fnCalls).toBe(0);

    prober.child.stdin?.write('go\n');
    const probed = await prober.exited;
    expect(probed.result).toEqual({ ok: true, value: 'probed' });
    expect(probed.state).toBe('closed');
    expect(readState()).toMatchObject({ state: 'closed', probe: null });

    const after = await runChild('call', cooldownMs);
    expect(after.result).toEqual({ ok: true, value: 'called' });
  });

  it('a prober killed mid-probe leaves a lease that expires; the next process probes and closes the circuit', async () => {
    const cooldownMs = 2_000;
    await runChild('fail', cooldownMs, ['3']);
    await sleepUntil(readState().openedAt + cooldownMs + 20);

    const prober = startChild('probe-hold', cooldownMs);
    await prober.waitForLine((line) => line.includes('"probing"'));
    const pid = prober.child.pid!;
    const gone = new Promise((r) => prober.child.once('exit', r));
    process.kill(pid, 'SIGKILL');
    await gone;
    const lease = readState().probe;
    expect(lease).toMatchObject({ owner: expect.stringMatching(new RegExp(`^${pid}\\.`)) });

    const blocked = await runChild('call', cooldownMs);
    expect(blocked.result).toMatchObject({ ok: false, state: 'halfOpen' });
    expect(blocked.fnCalls).toBe(0);

    await sleepUntil(lease.until + 20);
    const next = await runChild('call', cooldownMs);
    expect(next.result).toEqual({ ok: true, value: 'called' });
    expect(next.state).toBe('closed');
    expect(readState()).toMatchObject({ state: 'closed', probe: null });
  });
});

describe('a launcher facing a FIFO where the state file belongs', () => {
  it('neither hangs nor crashes: the circuit is decided from memory, the FIFO is left alone and named', async () => {
    execFileSync('mkfifo', ['-m', '600', store]);
    // A hook's budget is a few seconds; a node child boots in well under that even when loaded.
    const child = await startChild('fail', 60_000, ['3'], 8_000).exited;
    expect(child.fnCalls).toBe(3);
    expect(child.state).toBe('open'); // from memory: the third failure opened it in this process
    expect(child.storeResets).toEqual([
      { reason: 'foreign', location: store, message: expect.stringContaining(`${store} is a FIFO`) },
    ]);
    expect(child.storeProblems).toMatchObject([
      { operation: 'save', code: 'ECIRCUITSTORE', reason: 'foreign', message: expect.stringContaining(store) },
    ]);
    expect(lstatSync(store).isFIFO()).toBe(true);
    expect(readdirSync(dir)).toEqual(['daemon-circuit.json']); // no temp file, no lease left behind
  });
});
