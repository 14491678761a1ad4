import {
  checkEmitter,
  checkFunction,
  checkInteger,
  checkMs,
  checkObject,
  checkSignal,
  checkString,
  show,
} from '@spawnguard/internal';
import type { Emitter } from 'mitt';
import type { StormEvents, StormProgress } from './types.js';

/** Above this many concurrent launchers the storm refuses to run: it is a test tool, not a fork bomb. */
export const MAX_CONCURRENCY = 500;

export type WatchPattern = string | RegExp;
/** One pattern, a list of patterns (named by their text), or named patterns `{ workers: /x/, helpers: 'y' }`. */
export type WatchOption = WatchPattern | WatchPattern[] | Record<string, WatchPattern>;

export interface StormOptions {
  /** The launcher to start N times at once (no shell: `command` + `args`). */
  command: string;
  args?: string[];
  /** Launchers started at once per round. Integer 1..500. Default 10. */
  concurrency?: number;
  /** Rounds, run one after the other. Integer >= 1. Default 1. */
  rounds?: number;
  /** What to count, matched against each process's argv joined with spaces. String = substring. */
  watch: WatchOption;
  /** Pause after each process-table sample before the next. Default 15 ms. Listings never overlap. */
  sampleEveryMs?: number;
  /** Hard limit on the whole storm; launchers still running then are killed. Default 120 000 ms. */
  timeoutMs?: number;
  /** Extra environment for the launchers (merged over process.env). */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Shell command run once after the last round, e.g. to stop the daemons the launchers started. */
  cleanup?: string;
  /** Limit on the cleanup command. Default 30 000 ms. */
  cleanupTimeoutMs?: number;
  /** Wait after the cleanup (or the last round) before the leftover sample. Default 300 ms. */
  settleMs?: number;
  /**
   * Keep sampling this long after a round's launchers have all exited, counting it in that round:
   * what the launchers started detached (daemons, their helpers) can appear after the launchers are
   * gone, especially on a loaded machine. Default 0.
   */
  observeMs?: number;
  /** SIGTERM to SIGKILL grace when the storm kills launchers (timeout, abort, end). Default 1000 ms. */
  killGraceMs?: number;
  signal?: AbortSignal;
  onProgress?: (progress: StormProgress) => void;
  /** A mitt emitter to receive typed events (see StormEvents). */
  events?: Emitter<StormEvents>;
}

export interface CompiledWatch {
  name: string;
  /** The pattern as text: the string itself, or `/source/flags`. */
  pattern: string;
  test: (cmdline: string) => boolean;
}

export interface ResolvedOptions {
  command: string;
  args: string[];
  concurrency: number;
  rounds: number;
  watches: CompiledWatch[];
  sampleEveryMs: number;
  timeoutMs: number;
  env: Record<string, string | undefined> | undefined;
  cwd: string | undefined;
  cleanup: string | undefined;
  cleanupTimeoutMs: number;
  settleMs: number;
  observeMs: number;
  killGraceMs: number;
  signal: AbortSignal | undefined;
  onProgress: ((progress: StormProgress) => void) | undefined;
  events: Emitter<StormEvents> | undefined;
}

function compilePattern(name: string, pattern: unknown, where: string): CompiledWatch {
  if (typeof pattern === 'string') {
    if (pattern.length === 0) throw new RangeError(`${where} must not be an empty string`);
    return { name, pattern, test: (cmdline) => cmdline.includes(pattern) };
  }
  if (pattern instanceof RegExp) {
    // A copy without g/y: a stateful lastIndex would make test() alternate between true and false.
    const re = new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ''));
    return { name, pattern: String(pattern), test: (cmdline) => re.test(cmdline) };
  }
  throw new TypeError(`${where} must be a string or a RegExp, got ${show(pattern)}`);
}

export function compileWatch(watch: unknown): CompiledWatch[] {
  if (typeof watch === 'string' || watch instanceof RegExp) {
    return [compilePattern(String(watch), watch, 'watch')];
  }
  if (Array.isArray(watch)) {
    if (watch.length === 0) throw new RangeError('watch must name at least one pattern, got an empty array');
    const compiled = watch.map((p, i) => compilePattern(String(p), p, `watch[${i}]`));
    const names = new Set(compiled.map((c) => c.name));
    if (names.size !== compiled.length) throw new RangeError('watch lists the same pattern twice');
    return compiled;
  }
  if (watch !== null && typeof watch === 'object') {
    const entries = Object.entries(watch);
    if (entries.length === 0) throw new RangeError('watch must name at least one pattern, got an empty object');
    return entries.map(([name, p]) => {
      if (name.length === 0) throw new RangeError('watch names must not be empty');
      return compilePattern(name, p, `watch.${name}`);
    });
  }
  throw new TypeError(
    `watch must be a string, a RegExp, an array of them or an object of named patterns, got ${show(watch)}`,
  );
}

export function resolveOptions(options: StormOptions): ResolvedOptions {
  checkObject('runStorm options', options);
  const { args = [], env, cleanup } = options;
  const command = checkString('command', options.command);
  if (!Array.isArray(args) || !args.every((a) => typeof a === 'string')) {
    throw new TypeError(`args must be an array of strings, got ${show(args)}`);
  }
  if (env !== undefined && (env === null || typeof env !== 'object' || Array.isArray(env))) {
    throw new TypeError(`env must be an object of strings, got ${show(env)}`);
  }
  const cwd = options.cwd === undefined ? undefined : checkString('cwd', options.cwd);
  if (cleanup !== undefined && (typeof cleanup !== 'string' || cleanup.trim().length === 0)) {
    throw new TypeError(`cleanup must be a non-empty shell command string, got ${show(cleanup)}`);
  }
  const signal = checkSignal('signal', options.signal);
  const onProgress =
    options.onProgress === undefined
      ? undefined
      : checkFunction<ResolvedOptions['onProgress']>('onProgress', options.onProgress);
  const events = checkEmitter<Emitter<StormEvents>>('events', options.events, { mittMap: false });
  if (options.watch === undefined) throw new TypeError('watch is required: which processes should the storm count?');
  return {
    command,
    args: [...args],
    concurrency: checkInteger('concurrency', options.concurrency, { min: 1, max: MAX_CONCURRENCY, fallback: 10 }),
    rounds: checkInteger('rounds', options.rounds, { min: 1, fallback: 1 }),
    watches: compileWatch(options.watch),
    sampleEveryMs: checkMs('sampleEveryMs', options.sampleEveryMs, { min: 1, fallback: 15 }),
    timeoutMs: checkMs('timeoutMs', options.timeoutMs, { minExclusive: true, fallback: 120_000 }),
    env,
    cwd,
    cleanup,
    cleanupTimeoutMs: checkMs('cleanupTimeoutMs', options.cleanupTimeoutMs, { minExclusive: true, fallback: 30_000 }),
    settleMs: checkMs('settleMs', options.settleMs, { fallback: 300 }),
    observeMs: checkMs('observeMs', options.observeMs, { fallback: 0 }),
    killGraceMs: checkMs('killGraceMs', options.killGraceMs, { fallback: 1000 }),
    signal,
    onProgress,
    events,
  };
}
