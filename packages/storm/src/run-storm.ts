import { performance } from 'node:perf_hooks';
import { ancestorsOf, type ProcessInfo } from '@spawnguard/process-table';
import type { Emitter } from 'mitt';
import { killGroups, killRunningGroupsSync, type Started, sleep, start } from './launchers.js';
import { type CompiledWatch, resolveOptions, type StormOptions } from './options.js';
import { Sampler, type Snapshot } from './sampler.js';
import { durationStats, histogram, round1 } from './stats.js';
import type {
  CleanupResult,
  ProcessRef,
  RoundResult,
  StormEvents,
  StormProgress,
  StormResult,
  StormStats,
  TimelineSample,
  WatchCounts,
} from './types.js';

/** Peaks, distinct processes and launcher outcomes for one round or the whole storm. */
class Tally {
  readonly peak: WatchCounts = {};
  readonly seen = new Map<string, Set<string>>();
  readonly outcomes: string[] = [];
  readonly durations: number[] = [];
  firstSpawn = Number.POSITIVE_INFINITY;
  lastExit = Number.NEGATIVE_INFINITY;

  constructor(watches: readonly CompiledWatch[]) {
    for (const w of watches) {
      this.peak[w.name] = 0;
      this.seen.set(w.name, new Set());
    }
  }

  addSnapshot(snapshot: Snapshot): void {
    for (const [name, list] of snapshot.matches) {
      this.peak[name] = Math.max(this.peak[name] ?? 0, list.length);
      const seen = this.seen.get(name);
      for (const p of list) seen?.add(`${p.pid}:${p.startToken}`);
    }
  }

  addLauncher(spawnedAt: number, exitedAt: number, outcome: string, durationMs: number): void {
    this.firstSpawn = Math.min(this.firstSpawn, spawnedAt);
    this.lastExit = Math.max(this.lastExit, exitedAt);
    this.outcomes.push(outcome);
    this.durations.push(durationMs);
  }

  stats(): StormStats {
    const distinct: WatchCounts = {};
    for (const [name, set] of this.seen) distinct[name] = set.size;
    return {
      peak: { ...this.peak },
      distinct,
      launchers: {
        launched: this.outcomes.length,
        exitCodes: histogram(this.outcomes),
        durationMs: durationStats(this.durations),
      },
      timeToDoneMs: this.outcomes.length === 0 ? 0 : round1(this.lastExit - this.firstSpawn),
    };
  }
}

type Events = Emitter<StormEvents>;

/** Calls every listener on its own: a throwing listener breaks neither the storm nor the others. */
function safeEmit<K extends keyof StormEvents>(events: Events | undefined, type: K, payload: StormEvents[K]): void {
  if (!events) return;
  for (const handler of [...(events.all.get(type) ?? [])] as Array<(p: unknown) => void>) {
    try {
      handler(payload);
    } catch {
      // contained on purpose
    }
  }
  for (const handler of [...(events.all.get('*') ?? [])] as Array<(t: unknown, p: unknown) => void>) {
    try {
      handler(type, payload);
    } catch {
      // contained on purpose
    }
  }
}

const countsOf = (snapshot: Snapshot): WatchCounts =>
  Object.fromEntries([...snapshot.matches].map(([name, list]) => [name, list.length]));

/**
 * Fires `concurrency` copies of a launcher at once, `rounds` times, while sampling the process table,
 * and reports how many matching processes ran at the peak, how many different ones were started, how
 * the launchers ended, and what was left over after the optional cleanup command.
 *
 * Everything the storm starts (launchers, their process groups, the cleanup shell) is killed by pid
 * by the time the promise settles, also on timeout and abort. Processes that launchers detach into a
 * new session (daemons) are not the storm's to kill: they show up as leftovers.
 */
export async function runStorm(options: StormOptions): Promise<StormResult> {
  const o = resolveOptions(options);
  o.signal?.throwIfAborted();

  const t0 = performance.now();
  const startedAt = new Date().toISOString();
  const since = (at: number) => round1(at - t0);

  const launchers: Started[] = [];
  const launcherPids = new Set<number>();
  const helpers = new Set<Started>(); // the cleanup shell
  const everything = () => [...launchers, ...helpers];

  // Never count the storm itself, whoever started it (a shell whose command line names the pattern,
  // npx, pnpm exec), nor its own non-launcher children (the `ps` of the sampler on macOS, cleanup).
  const ancestry = new Set<string>();
  for (const a of await ancestorsOf(process.pid).catch(() => [] as ProcessInfo[])) {
    ancestry.add(`${a.pid}:${a.startToken}`);
  }
  const excluded = (p: ProcessInfo) =>
    p.pid === process.pid ||
    ancestry.has(`${p.pid}:${p.startToken}`) ||
    (p.ppid === process.pid && !launcherPids.has(p.pid));

  const timeline: TimelineSample[] = [];
  const overall = new Tally(o.watches);
  let roundTally: Tally | null = null;
  let round = 0;
  let phase: StormProgress['phase'] = 'baseline';
  let running = 0;
  let launched = 0;

  const sampler = new Sampler(o.watches, excluded, (snapshot) => {
    const counts = countsOf(snapshot);
    const sample: TimelineSample = { t: since(snapshot.at), round: phase === 'round' ? round : 0, counts };
    timeline.push(sample);
    if (phase === 'round') {
      roundTally?.addSnapshot(snapshot);
      overall.addSnapshot(snapshot);
    }
    safeEmit(o.events, 'sample', sample);
    if (o.onProgress) {
      try {
        o.onProgress({
          round,
          rounds: o.rounds,
          running,
          launched,
          elapsedMs: since(snapshot.at),
          current: counts,
          peak: { ...overall.peak },
          phase,
        });
      } catch {
        // a progress callback must not break the storm
      }
    }
  });

  // Abort and timeout both kill what is running; abort also ends the storm with signal.reason.
  const stop = new AbortController();
  let killing: Promise<unknown> = Promise.resolve();
  const onAbort = () => {
    stop.abort();
    killing = killGroups(everything(), o.killGraceMs);
  };
  o.signal?.addEventListener('abort', onAbort, { once: true });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    const stillRunning = launchers.filter((l) => l.running);
    safeEmit(o.events, 'timeout', { t: since(performance.now()), running: stillRunning.length });
    killing = killGroups(stillRunning, o.killGraceMs);
  }, o.timeoutMs);
  // If the host process exits mid-storm, do not leave launchers running behind it.
  const onExit = () => killRunningGroupsSync(everything());
  process.once('exit', onExit);
  const checkAbort = () => {
    if (o.signal?.aborted) throw o.signal.reason;
  };

  try {
    checkAbort();
    const baseline = await sampleWithRetry(sampler, 'baseline');
    checkAbort();
    sampler.start(o.sampleEveryMs);

    const rounds: RoundResult[] = [];
    for (let r = 1; r <= o.rounds && !timedOut; r++) {
      round = r;
      roundTally = new Tally(o.watches);
      const tally = roundTally;
      const startT = since(performance.now());
      phase = 'round';
      safeEmit(o.events, 'round-start', { round: r, t: startT });
      // Spawn them all before awaiting any: this is the storm.
      const batch: Started[] = [];
      for (let i = 0; i < o.concurrency; i++) {
        const l = start(o.command, o.args, { env: o.env, cwd: o.cwd });
        launchers.push(l);
        if (l.pid !== undefined) launcherPids.add(l.pid);
        batch.push(l);
      }
      launched += batch.length;
      running = batch.length;
      await Promise.all(
        batch.map(async (l) => {
          const end = await l.done;
          running--;
          const exitedAt = performance.now();
          tally.addLauncher(l.spawnedAt, exitedAt, end.outcome, end.durationMs);
          overall.addLauncher(l.spawnedAt, exitedAt, end.outcome, end.durationMs);
          safeEmit(o.events, 'launcher-exit', {
            round: r,
            pid: l.pid,
            outcome: end.outcome,
            durationMs: round1(end.durationMs),
          });
        }),
      );
      checkAbort();
      if (o.observeMs > 0) await sleep(o.observeMs, stop.signal);
      checkAbort();
      // A listing that starts now sees everything the round left running.
      await sampler.sample();
      checkAbort();
      const result: RoundResult = { round: r, startT, endT: since(performance.now()), ...tally.stats() };
      rounds.push(result);
      safeEmit(o.events, 'round-end', result);
    }
    // timeoutMs bounds the rounds; the cleanup has its own limit and must not flip timedOut.
    clearTimeout(timer);
    await killing; // the timeout's kill, if it fired

    phase = 'cleanup';
    round = 0;
    let cleanup: CleanupResult | null = null;
    if (o.cleanup !== undefined) {
      cleanup = await runCleanup(o.cleanup, o, helpers, stop.signal);
      checkAbort();
      safeEmit(o.events, 'cleanup', cleanup);
    }
    await sleep(o.settleMs, stop.signal);
    checkAbort();

    const last = await sampleWithRetry(sampler, 'leftover');
    checkAbort();
    await sampler.stop();

    const refs = new Map<string, ProcessRef>();
    for (const [name, list] of last.matches) {
      for (const p of list) {
        const key = `${p.pid}:${p.startToken}`;
        const ref = refs.get(key) ?? { pid: p.pid, startToken: p.startToken, cmdline: p.cmdline, watches: [] };
        ref.watches.push(name);
        refs.set(key, ref);
      }
    }
    const killedAtEnd = await killGroups(everything(), o.killGraceMs);
    checkAbort();

    return {
      config: {
        command: o.command,
        args: o.args,
        concurrency: o.concurrency,
        rounds: o.rounds,
        watch: Object.fromEntries(o.watches.map((w) => [w.name, w.pattern])),
        sampleEveryMs: o.sampleEveryMs,
        timeoutMs: o.timeoutMs,
        cleanup: o.cleanup ?? null,
      },
      startedAt,
      durationMs: since(performance.now()),
      timedOut,
      baseline: countsOf(baseline),
      rounds,
      overall: overall.stats(),
      cleanup,
      leftovers: { counts: countsOf(last), processes: [...refs.values()] },
      killedAtEnd,
      sampling: {
        samples: sampler.samples,
        errors: sampler.errors,
        maxListingMs: round1(sampler.maxListingMs),
      },
      timeline,
    };
  } finally {
    clearTimeout(timer);
    o.signal?.removeEventListener('abort', onAbort);
    stop.abort();
    await sampler.stop();
    await killing;
    // On any early exit (abort, error) nothing the storm started may outlive it.
    await killGroups(everything(), o.killGraceMs);
    process.removeListener('exit', onExit);
  }
}

/** The baseline and leftover samples are the report's anchors: retry a failed listing, then give up loudly. */
async function sampleWithRetry(sampler: Sampler, what: string): Promise<Snapshot> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const snapshot = await sampler.sample();
    if (snapshot) return snapshot;
  }
  throw new Error(`storm: could not list processes for the ${what} sample (3 attempts failed)`);
}

async function runCleanup(
  command: string,
  o: {
    env: Record<string, string | undefined> | undefined;
    cwd: string | undefined;
    cleanupTimeoutMs: number;
    killGraceMs: number;
  },
  helpers: Set<Started>,
  stop: AbortSignal,
): Promise<CleanupResult> {
  const shell = start(command, [], { env: o.env, cwd: o.cwd, shell: true, captureOutput: true });
  helpers.add(shell);
  let timedOut = false;
  const kill = () => killGroups([shell], o.killGraceMs);
  const timer = setTimeout(() => {
    timedOut = true;
    void kill();
  }, o.cleanupTimeoutMs);
  stop.addEventListener('abort', kill, { once: true });
  try {
    const end = await shell.done;
    const result: CleanupResult = {
      command,
      exitCode: end.exitCode,
      signal: end.signal,
      durationMs: round1(end.durationMs),
      timedOut,
      output: shell.output(),
    };
    if (end.outcome.startsWith('error:')) result.error = end.outcome.slice('error:'.length);
    return result;
  } finally {
    clearTimeout(timer);
    stop.removeEventListener('abort', kill);
  }
}
