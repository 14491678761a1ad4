import type { DurationStats } from './types.js';

/** Nearest-rank percentile (p in 0..100) of an unsorted list; 0 for an empty list. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] ?? 0;
}

export function durationStats(values: readonly number[]): DurationStats {
  return {
    p50: round1(percentile(values, 50)),
    p95: round1(percentile(values, 95)),
    max: round1(values.length === 0 ? 0 : Math.max(...values)),
  };
}

export function histogram(keys: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const key of keys) out[key] = (out[key] ?? 0) + 1;
  return out;
}

/** Milliseconds to one decimal: enough for a report, stable in JSON. */
export function round1(ms: number): number {
  return Math.round(ms * 10) / 10;
}
