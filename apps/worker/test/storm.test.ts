import { afterEach, describe, expect, it } from 'vitest';
import {
  cleanup,
  freePort,
  http,
  isDaemon,
  isHelper,
  killStarted,
  makeHome,
  processesWith,
  runCli,
  sleep,
  waitFor,
  workerArgs,
} from './helpers.js';

let home = '';
afterEach(async () => {
  killStarted();
  if (home) await cleanup(home);
  home = '';
});

/** Samples the process table while `work` runs: every distinct daemon and helper pid that ever existed. */
async function sampled<T>(
  marker: string,
  work: Promise<T>,
): Promise<{ result: T; daemons: Set<number>; helpers: Set<number> }> {
  const daemons = new Set<number>();
  const helpers = new Set<number>();
  let done = false;
  let passes = 0;
  const sampler = (async () => {
    while (!done) {
      for (const p of processesWith(marker)) {
        if (isDaemon(p)) daemons.add(p.pid);
        if (isHelper(p)) helpers.add(p.pid);
      }
      passes++;
      await sleep(25);
    }
  })();
  const result = await work;
  // A late spawn shows up in the passes that start once every launcher has exited (a pass is
  // synchronous: none is under way here): wait for 3 of them, however slow the machine is.
  const after = passes;
  await waitFor('3 samples after the launchers exited', () => passes >= after + 3, 30_000, 10);
  done = true;
  await sampler;
  return { result, daemons, helpers };
}

describe('spawn storm, defended', () => {
  it('50 concurrent hooks on a cold machine start exactly 1 daemon; 200 concurrent searches then start exactly 1 helper', async () => {
    home = makeHome();
    const port = await freePort();
    const hooks = Array.from({ length: 50 }, (_, i) =>
      runCli(['hook', `storm.${i}`, ...workerArgs(home, port), '--budget-ms', '25000'], { timeoutMs: 120_000 }),
    );
    const { result, daemons, helpers } = await sampled(home, Promise.all(hooks));
    expect(result.map((r) => r.code)).toEqual(Array(50).fill(0));
    for (const r of result) {
      expect(r.stderr).not.toMatch(/in use/i);
    }
    const now = processesWith(home);
    expect(now.filter(isDaemon)).toHaveLength(1);
    // Backends start on first use: hooks alone start none.
    expect(now.filter(isHelper)).toHaveLength(0);
    expect(daemons.size).toBe(1);
    expect(helpers.size).toBe(0);
    const undelivered = result.filter((r) => r.stderr !== '').map((r) => r.stderr);
    const status = JSON.parse((await runCli(['status', '--json', ...workerArgs(home, port)])).stdout);
    expect(undelivered).toEqual([]);
    expect(status.events.total).toBe(50);

    // 200 concurrent searches share the one helper.
    const searches = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        http(port, `/search?q=${encodeURIComponent(`helper storm ${i}`)}`, { home }),
      ),
    );
    expect(searches.map((s) => s.status)).toEqual(Array(200).fill(200));
    expect(new Set(searches.map((s) => s.json.helperPid)).size).toBe(1);
    expect(processesWith(home).filter(isHelper)).toHaveLength(1);
    const metrics = (await http(port, '/metrics', { home })).text;
    expect(metrics).toMatch(/^spawnguard_mcp_backend_starts_total\{server="demo"\} 1$/m);

    // stop: zero descendants left.
    const stop = await runCli(['stop', ...workerArgs(home, port)]);
    expect(stop.code, stop.stderr).toBe(0);
    await waitFor('nothing left', () => processesWith(home).length === 0, 5000);
  }, 240_000);
});

describe('spawn storm, naive (the field bug, reproduced and bounded)', () => {
  it('concurrent naive hooks start several daemons, each with a helper; all exit by their TTL', async () => {
    home = makeHome();
    const port = await freePort();
    // Each daemon takes 3 s to bind, as the field's did: the hooks' race for an empty port does not
    // depend on how fast this machine starts them. The TTL counts from the end of that boot.
    const env = { SPAWNGUARD_NAIVE_TTL_MS: '4000', SPAWNGUARD_BOOT_DELAY_MS: '3000' };
    const hooks = Array.from({ length: 8 }, (_, i) =>
      runCli(['hook', `naive.${i}`, '--naive', ...workerArgs(home, port), '--budget-ms', '15000'], {
        env,
        timeoutMs: 30_000,
      }),
    );
    const { result, daemons, helpers } = await sampled(home, Promise.all(hooks));
    expect(result.map((r) => r.code)).toEqual(Array(8).fill(0));
    expect(daemons.size).toBeGreaterThan(1); // no lock: every launcher that found nothing spawned
    // Losers keep running and start their helper anyway.
    await waitFor('helpers of losers', () => processesWith(home).filter(isHelper).length >= 2, 10_000);
    const health = await http(port, '/health');
    expect(health.json.naive).toBe(true);
    expect(helpers.size + processesWith(home).filter(isHelper).length).toBeGreaterThan(1);
    // Bounded: naive daemons end themselves after SPAWNGUARD_NAIVE_TTL_MS, helpers with them.
    await waitFor('naive daemons gone', () => processesWith(home).filter(isDaemon).length === 0, 20_000, 200);
    await waitFor('helpers gone', () => processesWith(home).filter(isHelper).length === 0, 5000);
  }, 60_000);

  it('naive mode says so in its logs and status, and is killable by pid', async () => {
    home = makeHome();
    const port = await freePort();
    const start = await runCli(['start', '--naive', ...workerArgs(home, port)]);
    expect(start.code, start.stderr).toBe(0);
    expect(start.stdout).toMatch(/NAIVE MODE/);
    const status = await runCli(['status', ...workerArgs(home, port)]);
    expect(status.stdout).toMatch(/running \(NAIVE MODE\)/);
    const pid = (await http(port, '/health')).json.pid as number;
    process.kill(pid, 'SIGTERM');
    await waitFor('naive daemon gone', () => processesWith(home).filter(isDaemon).length === 0, 10_000);
    await waitFor('its helper gone (stdin closed)', () => processesWith(home).filter(isHelper).length === 0, 5000);
  }, 30_000);
});
