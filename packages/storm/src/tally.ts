import type { CompiledWatch } from './options.js';
import type { Snapshot } from './sampler.js';
import { durationStats, histogram, round1 } from './stats.js';
import type { StormStats, WatchCounts } from './types.js';

/** Peaks, distinct processes and launcher outcomes for one round or the whole storm. */
export class Tally {
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

export const countsOf = (snapshot: Snapshot): WatchCounts =>
  Object.fromEntries([...snapshot.matches].map(([name, list]) => [name, list.length]));
