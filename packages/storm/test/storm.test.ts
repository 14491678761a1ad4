import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { captureWarnings } from '@spawnguard/internal/testing';
import mitt from 'mitt';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { runStorm, type StormEvents, type StormProgress } from '../src/index.js';
import { fixture, killMarked, marked, newMarker, tempDir, waitFor } from './helpers.js';

const node = process.execPath;
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

const owned: string[] = [];
const temps: Array<() => void> = [];
afterEach(async () => {
  for (const marker of owned.splice(0)) await killMarked(marker);
  for (const remove of temps.splice(0)) remove();
});

function killRecordedPids(dir: string): void {
  for (const file of readdirSync(dir).filter((f) => f.startsWith('pid-'))) {
    try {
      process.kill(Number(readFileSync(join(dir, file), 'utf8')), 'SIGKILL');
    } catch {}
  }
}

describe('runStorm with a launcher that starts exactly k workers', () => {
  const k = 3;

  it('observeMs counts workers that appear after their launchers exited; without it the round misses them', async () => {
    const run = async (observeMs: number) => {
      const tag = newMarker('late');
      owned.push(tag);
      const { dir, remove } = tempDir();
      temps.push(remove);
      const result = await runStorm({
        command: node,
        args: [fixture('slot-launcher.cjs'), dir, String(k)],
        env: { STORM_WORKER_TAG: tag, STORM_WORKER_DELAY_MS: '2000' },
        concurrency: 5,
        watch: { workers: tag },
        observeMs,
        settleMs: 3000,
        sampleEveryMs: 10,
      });
      await killMarked(tag);
      return result;
    };
    const missed = await run(0);
    expect(missed.overall.peak).toEqual({ workers: 0 });
    expect(missed.leftovers.counts).toEqual({ workers: k }); // they were real, just late
    const seen = await run(4000);
    expect(seen.overall.peak).toEqual({ workers: k });
    expect(seen.overall.distinct).toEqual({ workers: k });
    expect(seen.rounds[0]?.peak).toEqual({ workers: k });
  });

  it('a process between fork and exec (a copy of its launcher) is not counted as a second launcher', async () => {
    const tag = newMarker('fork');
    owned.push(tag);
    // sh runs a subshell: a fork that never execs, with sh's argv, for as long as its first sleep.
    const result = await runStorm({
      command: '/bin/sh',
      args: ['-c', '( sleep 1; sleep 0 ); exit 0', 'sh', tag],
      concurrency: 2,
      watch: { launchers: tag },
      settleMs: 0,
      sampleEveryMs: 10,
    });
    expect(result.overall.launchers.exitCodes).toEqual({ 0: 2 });
    expect(result.sampling.samples).toBeGreaterThan(20); // the subshells were there to be seen
    expect(result.overall.peak).toEqual({ launchers: 2 });
    expect(result.overall.distinct).toEqual({ launchers: 2 });
  });

  it('counts peak and distinct workers exactly, and the cleanup command leaves none', async () => {
    const tag = newMarker('worker');
    owned.push(tag);
    const { dir, remove } = tempDir();
    temps.push(remove);
    try {
      const result = await runStorm({
        command: node,
        args: [fixture('slot-launcher.cjs'), dir, String(k)],
        env: { STORM_WORKER_TAG: tag },
        concurrency: 8,
        rounds: 2,
        watch: { workers: tag },
        cleanup: `${q(node)} ${q(fixture('kill-recorded.cjs'))} ${q(dir)} ${q(tag)}`,
        sampleEveryMs: 10,
      });
      expect(result.baseline).toEqual({ workers: 0 });
      expect(result.overall.peak).toEqual({ workers: k });
      expect(result.overall.distinct).toEqual({ workers: k });
      expect(result.rounds).toHaveLength(2);
      // Round 1 started them; round 2 started none, but they were still alive.
      expect(result.rounds.map((r) => r.peak.workers)).toEqual([k, k]);
      expect(result.rounds.map((r) => r.distinct.workers)).toEqual([k, k]);
      expect(result.overall.launchers.launched).toBe(16);
      expect(result.overall.launchers.exitCodes).toEqual({ 0: 16 });
      expect(result.rounds[0]?.launchers.exitCodes).toEqual({ 0: 8 });
      expect(result.cleanup).toMatchObject({ exitCode: 0, timedOut: false });
      expect(result.cleanup?.output).toContain(`killed ${k}`);
      expect(result.leftovers.counts).toEqual({ workers: 0 });
      expect(result.leftovers.processes).toEqual([]);
      expect(result.timedOut).toBe(false);
      expect(await marked(tag)).toEqual([]);

      // The timeline has the rounds and the cleanup phase, and shows the k workers.
      expect(result.timeline.length).toBeGreaterThan(2);
      expect(result.timeline.some((s) => s.round === 1 && s.counts.workers === k)).toBe(true);
      expect(result.timeline.some((s) => s.round === 2)).toBe(true);
      expect(result.timeline.at(-1)).toMatchObject({ round: 0, counts: { workers: 0 } });
      const ts = result.timeline.map((s) => s.t);
      expect(ts).toEqual([...ts].sort((a, b) => a - b));
      expect(result.rounds[1]!.startT).toBeGreaterThanOrEqual(result.rounds[0]!.endT);
      expect(result.overall.timeToDoneMs).toBeGreaterThan(0);
      expect(result.overall.launchers.durationMs.max).toBeGreaterThanOrEqual(result.overall.launchers.durationMs.p95);
      expect(result.overall.launchers.durationMs.p95).toBeGreaterThanOrEqual(result.overall.launchers.durationMs.p50);
      expect(JSON.parse(JSON.stringify(result))).toEqual(result);
    } finally {
      killRecordedPids(dir);
    }
  });

  it('without a cleanup command reports the k detached workers as leftovers (and does not kill them)', async () => {
    const tag = newMarker('leftover');
    owned.push(tag);
    const { dir, remove } = tempDir();
    temps.push(remove);
    try {
      const result = await runStorm({
        command: node,
        args: [fixture('slot-launcher.cjs'), dir, String(k)],
        env: { STORM_WORKER_TAG: tag },
        concurrency: 6,
        rounds: 2,
        watch: [tag],
        settleMs: 50,
      });
      expect(result.cleanup).toBeNull();
      expect(result.overall.peak).toEqual({ [tag]: k });
      expect(result.leftovers.counts).toEqual({ [tag]: k });
      const recorded = readdirSync(dir)
        .filter((f) => f.startsWith('pid-'))
        .map((f) => Number(readFileSync(join(dir, f), 'utf8')))
        .sort((a, b) => a - b);
      expect(result.leftovers.processes.map((p) => p.pid).sort((a, b) => a - b)).toEqual(recorded);
      expect(result.leftovers.processes.every((p) => p.watches.includes(tag) && p.startToken.length > 0)).toBe(true);
      // Daemons that detached into their own session are not the storm's to kill.
      expect((await marked(tag)).length).toBe(k);
    } finally {
      killRecordedPids(dir);
    }
    expect(await waitFor(async () => (await marked(tag)).length === 0, 5000)).toBe(true);
  });
});

describe('runStorm reports how launchers end', () => {
  it('a failing launcher shows up in the exit-code histogram', async () => {
    const marker = newMarker('fail');
    owned.push(marker);
    const result = await runStorm({
      command: node,
      args: ['-e', 'process.exit(3)', marker],
      concurrency: 4,
      rounds: 2,
      watch: { launchers: marker },
      settleMs: 0,
    });
    expect(result.overall.launchers.exitCodes).toEqual({ 3: 8 });
    expect(result.rounds.map((r) => r.launchers.exitCodes)).toEqual([{ 3: 4 }, { 3: 4 }]);
    // The launchers themselves match the watch: they are counted like any other process.
    expect(result.overall.distinct.launchers).toBeLessThanOrEqual(8);
    expect(result.leftovers.counts).toEqual({ launchers: 0 });
  });

  it('a launcher that cannot be started is reported as error:ENOENT', async () => {
    const { dir, remove } = tempDir();
    temps.push(remove);
    const result = await runStorm({
      command: join(dir, 'no-such-launcher'),
      concurrency: 2,
      watch: newMarker('enoent'),
      settleMs: 0,
    });
    expect(result.overall.launchers.exitCodes).toEqual({ 'error:ENOENT': 2 });
  });

  it('timeoutMs kills launchers still running (their whole group) and skips later rounds', async () => {
    const marker = newMarker('timeout');
    owned.push(marker);
    const events = mitt<StormEvents>();
    const timeouts: unknown[] = [];
    events.on('timeout', (e) => timeouts.push(e));
    const started = Date.now();
    const result = await runStorm({
      command: node,
      args: [fixture('sleeper-launcher.cjs'), marker],
      concurrency: 3,
      rounds: 3,
      watch: { launchers: `sleeper-launcher.cjs ${marker}`, children: `${marker}-child` },
      timeoutMs: 2500,
      killGraceMs: 500,
      settleMs: 0,
      events,
    });
    expect(Date.now() - started).toBeLessThan(2500 + 10_000);
    expect(result.timedOut).toBe(true);
    expect(timeouts).toHaveLength(1);
    expect(result.rounds).toHaveLength(1);
    expect(result.overall.launchers.exitCodes).toEqual({ SIGTERM: 3 });
    expect(result.overall.peak).toEqual({ launchers: 3, children: 3 });
    expect(result.leftovers.counts).toEqual({ launchers: 0, children: 0 });
    expect(await marked(marker)).toEqual([]);
  });

  it('a launcher that ignores SIGTERM is SIGKILLed after killGraceMs', async () => {
    const marker = newMarker('stubborn');
    owned.push(marker);
    const result = await runStorm({
      command: node,
      args: [fixture('stubborn-launcher.cjs'), marker],
      concurrency: 2,
      watch: marker,
      timeoutMs: 1500,
      killGraceMs: 300,
      settleMs: 0,
    });
    expect(result.overall.launchers.exitCodes).toEqual({ SIGKILL: 2 });
    expect(await marked(marker)).toEqual([]);
  });
});

describe('runStorm honours its signal', () => {
  it('abort mid-storm rejects with signal.reason and leaves no launcher or group member behind', async () => {
    const marker = newMarker('abort');
    owned.push(marker);
    const controller = new AbortController();
    const reason = new Error('stop the storm');
    let sawAll = false;
    const run = runStorm({
      command: node,
      args: [fixture('sleeper-launcher.cjs'), marker],
      concurrency: 4,
      rounds: 5,
      watch: { children: `${marker}-child` },
      signal: controller.signal,
      killGraceMs: 500,
      onProgress: (p) => {
        if (p.current.children === 4 && !sawAll) {
          sawAll = true;
          controller.abort(reason);
        }
      },
    });
    await expect(run).rejects.toBe(reason);
    expect(sawAll).toBe(true);
    expect(await marked(marker)).toEqual([]);
  });

  it('an already-aborted signal rejects before anything starts', async () => {
    const marker = newMarker('preabort');
    const reason = new Error('too late');
    await expect(
      runStorm({ command: node, args: ['-e', '', marker], watch: marker, signal: AbortSignal.abort(reason) }),
    ).rejects.toBe(reason);
  });
});

describe('runStorm events and progress', () => {
  it('emits typed events in order, and a throwing listener breaks neither the storm nor other listeners; it is a coded warning', async () => {
    const warnings = await captureWarnings();
    onTestFinished(() => warnings.stop());
    const marker = newMarker('events');
    owned.push(marker);
    const events = mitt<StormEvents>();
    const seen: string[] = [];
    events.on('round-start', () => {
      throw new Error('listener bug');
    });
    events.on('round-start', (e) => seen.push(`start ${e.round}`));
    events.on('launcher-exit', (e) => seen.push(`exit ${e.round} ${e.outcome}`));
    events.on('round-end', (e) => seen.push(`end ${e.round} ${e.launchers.launched}`));
    events.on('cleanup', (e) => seen.push(`cleanup ${e.exitCode}`));
    let samples = 0;
    events.on('sample', () => samples++);
    const progress: StormProgress[] = [];
    const result = await runStorm({
      command: node,
      args: ['-e', '', marker],
      concurrency: 2,
      rounds: 2,
      watch: marker,
      cleanup: 'exit 0',
      settleMs: 0,
      events,
      onProgress: (p) => {
        progress.push(p);
        throw new Error('progress bug');
      },
    });
    expect(seen).toEqual([
      'start 1',
      'exit 1 0',
      'exit 1 0',
      'end 1 2',
      'start 2',
      'exit 2 0',
      'exit 2 0',
      'end 2 2',
      'cleanup 0',
    ]);
    expect(samples).toBe(result.timeline.length);
    expect(samples).toBe(result.sampling.samples);
    expect(progress.length).toBe(samples);
    expect(progress[0]?.phase).toBe('baseline');
    expect(progress.some((p) => p.phase === 'round' && p.round === 2)).toBe(true);
    expect(progress.at(-1)?.phase).toBe('cleanup');
    await warnings.settled();
    expect(warnings.list.map((w) => [w.code, w.event, w.package, (w.cause as Error).message])).toEqual([
      ['SPAWNGUARD_LISTENER_ERROR', 'round-start', '@spawnguard/storm', 'listener bug'],
      ['SPAWNGUARD_LISTENER_ERROR', 'round-start', '@spawnguard/storm', 'listener bug'],
    ]);
  });

  it('timeoutMs bounds the rounds only: a slow cleanup is not a storm timeout', async () => {
    const result = await runStorm({
      command: node,
      args: ['-e', ''],
      concurrency: 1,
      watch: newMarker('slow-cleanup'),
      timeoutMs: 2000,
      cleanup: 'sleep 3',
      settleMs: 0,
    });
    expect(result.timedOut).toBe(false);
    expect(result.cleanup).toMatchObject({ exitCode: 0, timedOut: false });
    expect(result.cleanup?.durationMs).toBeGreaterThanOrEqual(2900);
  });

  it('a cleanup command that outlives cleanupTimeoutMs is killed and reported', async () => {
    const marker = newMarker('hung-cleanup');
    owned.push(marker);
    const result = await runStorm({
      command: node,
      args: ['-e', ''],
      concurrency: 1,
      watch: marker,
      cleanup: `${q(node)} -e 'setTimeout(()=>{},60000)' ${marker}`,
      cleanupTimeoutMs: 500,
      killGraceMs: 200,
      settleMs: 0,
    });
    expect(result.cleanup).toMatchObject({ exitCode: null, timedOut: true });
    expect(result.cleanup?.signal).toMatch(/^SIG(TERM|KILL)$/);
    expect(await marked(marker)).toEqual([]);
  });

  it('reports a cleanup command that fails, with its output', async () => {
    const result = await runStorm({
      command: node,
      args: ['-e', ''],
      concurrency: 1,
      watch: newMarker('cleanup-fail'),
      cleanup: 'echo cleanup-said-no >&2; exit 7',
      settleMs: 0,
    });
    expect(result.cleanup).toMatchObject({ exitCode: 7, signal: null, timedOut: false });
    expect(result.cleanup?.output).toContain('cleanup-said-no');
  });

  it('never counts the storm process itself or its ancestors, even when their command line matches', async () => {
    // The vitest worker running this test has "vitest" in its command line, and so do its parents.
    const result = await runStorm({
      command: node,
      args: ['-e', ''],
      concurrency: 1,
      watch: { self: String(process.pid), vitest: 'vitest' },
      settleMs: 0,
    });
    const selfSeen = result.leftovers.processes.filter((p) => p.pid === process.pid || p.pid === process.ppid);
    expect(selfSeen).toEqual([]);
  });
});
