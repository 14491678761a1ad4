import { performance } from 'node:perf_hooks';
import { pause } from '@spawnguard/internal';
import { runCleanup } from './cleanup.js';
import { killGroups } from './launchers.js';
import { resolveOptions, type StormOptions } from './options.js';
import { Sampler, type Snapshot } from './sampler.js';
import { round1 } from './stats.js';
import { StormRun } from './storm-run.js';
import { countsOf } from './tally.js';
import type { CleanupResult, ProcessRef, RoundResult, StormResult } from './types.js';

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
  const run = new StormRun(o);
  const startedAt = new Date().toISOString();
  const sampler = new Sampler(o.watches, await run.exclusion(), run.onSnapshot);
  run.arm();
  try {
    run.checkAbort();
    const baseline = await sampleWithRetry(sampler, 'baseline');
    run.checkAbort();
    sampler.start(o.sampleEveryMs);

    const rounds: RoundResult[] = [];
    for (let r = 1; r <= o.rounds && !run.timedOut; r++) rounds.push(await run.runRound(r, sampler));
    run.endRounds();
    await run.killing; // the timeout's kill, if it fired

    run.phase = 'cleanup';
    run.round = 0;
    let cleanup: CleanupResult | null = null;
    if (o.cleanup !== undefined) {
      cleanup = await runCleanup(o.cleanup, o, run.helpers, run.stop.signal);
      run.checkAbort();
      run.emit('cleanup', cleanup);
    }
    await pause(o.settleMs, run.stop.signal);
    run.checkAbort();

    const last = await sampleWithRetry(sampler, 'leftover');
    run.checkAbort();
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
    const killedAtEnd = await killGroups(run.everything(), o.killGraceMs);
    run.checkAbort();

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
      durationMs: run.since(performance.now()),
      timedOut: run.timedOut,
      baseline: countsOf(baseline),
      rounds,
      overall: run.overall.stats(),
      cleanup,
      leftovers: { counts: countsOf(last), processes: [...refs.values()] },
      killedAtEnd,
      sampling: {
        samples: sampler.samples,
        errors: sampler.errors,
        maxListingMs: round1(sampler.maxListingMs),
      },
      timeline: run.timeline,
    };
  } finally {
    await run.release(sampler);
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
