/** Matching-process count per watch name. */
export type WatchCounts = Record<string, number>;

export interface DurationStats {
  p50: number;
  p95: number;
  max: number;
}

export interface LauncherStats {
  launched: number;
  /**
   * How the launchers ended: exit code (`"0"`, `"3"`), the signal that killed them (`"SIGTERM"`),
   * or `"error:<code>"` when they could not be started (`"error:ENOENT"`).
   */
  exitCodes: Record<string, number>;
  /** Spawn to exit, per launcher, in ms. Zeros when nothing was launched. */
  durationMs: DurationStats;
}

export interface StormStats {
  /** Most matching processes alive in one sample. */
  peak: WatchCounts;
  /** Different matching processes seen (pid + start token, so a reused pid counts again). */
  distinct: WatchCounts;
  launchers: LauncherStats;
  /** First spawn until the last launcher exited, in ms. */
  timeToDoneMs: number;
}

export interface RoundResult extends StormStats {
  /** 1-based. */
  round: number;
  /** ms since the storm started. */
  startT: number;
  endT: number;
}

export interface TimelineSample {
  /** ms since the storm started (when the listing finished). */
  t: number;
  /** The round the sample belongs to; 0 before the first round (baseline) and after the last (cleanup). */
  round: number;
  counts: WatchCounts;
}

export interface CleanupResult {
  command: string;
  /** null when it was killed (timeout) or could not start. */
  exitCode: number | null;
  signal: string | null;
  durationMs: number;
  timedOut: boolean;
  /** Last 2000 characters of its stdout and stderr. */
  output: string;
  /** Set when the shell could not be started. */
  error?: string;
}

export interface ProcessRef {
  pid: number;
  startToken: string;
  cmdline: string[];
  /** The watch names it matched. */
  watches: string[];
}

export interface StormResult {
  config: {
    command: string;
    args: string[];
    concurrency: number;
    rounds: number;
    /** Watch name to pattern text (`"worker"` or `"/work(er)?/i"`). */
    watch: Record<string, string>;
    sampleEveryMs: number;
    timeoutMs: number;
    cleanup: string | null;
  };
  /** ISO time the storm started. */
  startedAt: string;
  /** The whole run, cleanup and leftover sample included, in ms. */
  durationMs: number;
  /** True when timeoutMs ran out: launchers still running were killed and later rounds skipped. */
  timedOut: boolean;
  /** Matching processes before the first launcher started. */
  baseline: WatchCounts;
  rounds: RoundResult[];
  overall: StormStats;
  cleanup: CleanupResult | null;
  /** Matching processes still alive after the cleanup command (or the last round) and the settle pause. */
  leftovers: { counts: WatchCounts; processes: ProcessRef[] };
  /** Launcher process groups that still had members at the end and were killed by the storm. */
  killedAtEnd: number;
  sampling: { samples: number; errors: number; maxListingMs: number };
  timeline: TimelineSample[];
}

export interface StormProgress {
  round: number;
  rounds: number;
  /** Launchers of this round still running. */
  running: number;
  launched: number;
  elapsedMs: number;
  /** Matching processes in the latest sample. */
  current: WatchCounts;
  /** Peak so far over the whole storm. */
  peak: WatchCounts;
  phase: 'baseline' | 'round' | 'cleanup';
}

// A type alias (not an interface) so it satisfies mitt's Record<EventType, unknown> constraint.
export type StormEvents = {
  'round-start': { round: number; t: number };
  'launcher-exit': { round: number; pid: number | undefined; outcome: string; durationMs: number };
  sample: TimelineSample;
  'round-end': RoundResult;
  timeout: { t: number; running: number };
  cleanup: CleanupResult;
};
