export {
  type CompiledWatch,
  MAX_CONCURRENCY,
  type StormOptions,
  type WatchOption,
  type WatchPattern,
} from './options.js';
export type { TimelineOptions } from './report-html.js';
export { escapeHtml, renderHtml, renderTimelineSvg, timelinePeak } from './report-html.js';
export { formatExitCodes, formatTable } from './report-text.js';
export { runStorm } from './run-storm.js';
export { durationStats, percentile } from './stats.js';
export type {
  CleanupResult,
  DurationStats,
  LauncherStats,
  ProcessRef,
  RoundResult,
  StormEvents,
  StormProgress,
  StormResult,
  StormStats,
  TimelineSample,
  WatchCounts,
} from './types.js';
