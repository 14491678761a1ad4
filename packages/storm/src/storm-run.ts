import { performance } from 'node:perf_hooks';
import { pause, safeEmit } from '@spawnguard/internal';
import { ancestorsOf, type ProcessInfo } from '@spawnguard/process-table';
import { killGroups, killRunningGroupsSync, type Started, start } from './launchers.js';
import type { ResolvedOptions } from './options.js';
import type { Sampler, Snapshot } from './sampler.js';
import { round1 } from './stats.js';
import { countsOf, Tally } from './tally.js';
import type { RoundResult, StormEvents, StormProgress, TimelineSample } from './types.js';

const PACKAGE = '@spawnguard/storm';

/**
 * One storm's state while it runs: what it started, where it is (phase, round, launchers running),
 * the timeline and tallies, and the guards (abort, timeout, process exit) that kill what it started.
 * runStorm() drives it; the sampler reports into it.
 */
export class StormRun {
  readonly t0 = performance.now();
  readonly launchers: Started[] = [];
  readonly launcherPids = new Set<number>();
  /** The cleanup shell. */
  readonly helpers = new Set<Started>();
  readonly timeline: TimelineSample[] = [];
  readonly overall: Tally;
  /** Aborted when the storm ends early or finishes: pending pauses end, the cleanup shell is killed. */
  readonly stop = new AbortController();
  phase: StormProgress['phase'] = 'baseline';
  round = 0;
  timedOut = false;
  /** The kill started by an abort or the timeout, awaited before the cleanup and at the end. */
  killing: Promise<unknown> = Promise.resolve();
  #roundTally: Tally | null = null;
  #running = 0;
  #launched = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #onExit = () => killRunningGroupsSync(this.everything());
  readonly #onAbort = () => {
    this.stop.abort();
    this.killing = killGroups(this.everything(), this.o.killGraceMs);
  };

  constructor(readonly o: ResolvedOptions) {
    this.overall = new Tally(o.watches);
  }

  since(at: number): number {
    return round1(at - this.t0);
  }

  everything(): Started[] {
    return [...this.launchers, ...this.helpers];
  }

  emit<K extends keyof StormEvents>(type: K, payload: StormEvents[K]): void {
    safeEmit(PACKAGE, this.o.events, type, payload);
  }

  /**
   * Never count the storm itself, whoever started it (a shell whose command line names the pattern,
   * npx, pnpm exec), nor its own non-launcher children (the `ps` of the sampler on macOS, cleanup).
   */
  async exclusion(): Promise<(p: ProcessInfo) => boolean> {
    const ancestry = new Set<string>();
    for (const a of await ancestorsOf(process.pid).catch(() => [] as ProcessInfo[])) {
      ancestry.add(`${a.pid}:${a.startToken}`);
    }
    return (p) =>
      p.pid === process.pid ||
      ancestry.has(`${p.pid}:${p.startToken}`) ||
      (p.ppid === process.pid && !this.launcherPids.has(p.pid));
  }

  /** The sampler's callback: the timeline, the tallies while a round runs, events and progress. */
  readonly onSnapshot = (snapshot: Snapshot): void => {
    const counts = countsOf(snapshot);
    const inRound = this.phase === 'round';
    const sample: TimelineSample = { t: this.since(snapshot.at), round: inRound ? this.round : 0, counts };
    this.timeline.push(sample);
    if (inRound) {
      this.#roundTally?.addSnapshot(snapshot);
      this.overall.addSnapshot(snapshot);
    }
    this.emit('sample', sample);
    if (this.o.onProgress) {
      try {
        this.o.onProgress({
          round: this.round,
          rounds: this.o.rounds,
          running: this.#running,
          launched: this.#launched,
          elapsedMs: this.since(snapshot.at),
          current: counts,
          peak: { ...this.overall.peak },
          phase: this.phase,
        });
      } catch {
        // a progress callback must not break the storm
      }
    }
  };

  /** Abort and timeout both kill what is running; abort also ends the storm with signal.reason. */
  arm(): void {
    this.o.signal?.addEventListener('abort', this.#onAbort, { once: true });
    this.#timer = setTimeout(() => {
      this.timedOut = true;
      const stillRunning = this.launchers.filter((l) => l.running);
      this.emit('timeout', { t: this.since(performance.now()), running: stillRunning.length });
      this.killing = killGroups(stillRunning, this.o.killGraceMs);
    }, this.o.timeoutMs);
    // If the host process exits mid-storm, do not leave launchers running behind it.
    process.once('exit', this.#onExit);
  }

  /** timeoutMs bounds the rounds; the cleanup has its own limit and must not flip timedOut. */
  endRounds(): void {
    clearTimeout(this.#timer);
  }

  checkAbort(): void {
    if (this.o.signal?.aborted) throw this.o.signal.reason;
  }

  /** One round: every launcher at once, wait for them all, observe, one more sample; then round-end. */
  async runRound(r: number, sampler: Sampler): Promise<RoundResult> {
    const { o } = this;
    this.round = r;
    const tally = new Tally(o.watches);
    this.#roundTally = tally;
    const startT = this.since(performance.now());
    this.phase = 'round';
    this.emit('round-start', { round: r, t: startT });
    // Spawn them all before awaiting any: this is the storm.
    const batch: Started[] = [];
    for (let i = 0; i < o.concurrency; i++) {
      const l = start(o.command, o.args, { env: o.env, cwd: o.cwd });
      this.launchers.push(l);
      if (l.pid !== undefined) this.launcherPids.add(l.pid);
      batch.push(l);
    }
    this.#launched += batch.length;
    this.#running = batch.length;
    await Promise.all(
      batch.map(async (l) => {
        const end = await l.done;
        this.#running--;
        const exitedAt = performance.now();
        tally.addLauncher(l.spawnedAt, exitedAt, end.outcome, end.durationMs);
        this.overall.addLauncher(l.spawnedAt, exitedAt, end.outcome, end.durationMs);
        this.emit('launcher-exit', { round: r, pid: l.pid, outcome: end.outcome, durationMs: round1(end.durationMs) });
      }),
    );
    this.checkAbort();
    if (o.observeMs > 0) await pause(o.observeMs, this.stop.signal);
    this.checkAbort();
    // A listing that starts now sees everything the round left running.
    await sampler.sample();
    this.checkAbort();
    const result: RoundResult = { round: r, startT, endT: this.since(performance.now()), ...tally.stats() };
    this.emit('round-end', result);
    return result;
  }

  /** On any exit (done, abort, error) nothing the storm started may outlive it. */
  async release(sampler: Sampler): Promise<void> {
    clearTimeout(this.#timer);
    this.o.signal?.removeEventListener('abort', this.#onAbort);
    this.stop.abort();
    await sampler.stop();
    await this.killing;
    await killGroups(this.everything(), this.o.killGraceMs);
    process.removeListener('exit', this.#onExit);
  }
}
