import { checkMs, checkObject, checkSignal } from '@spawnguard/internal';
import type { ListOptions } from './types.js';

export const DEFAULT_TIMEOUT_MS = 5000;

/** Validates ListOptions and returns the effective timeout. */
export function checkListOptions(options: ListOptions | undefined): { signal?: AbortSignal; timeoutMs: number } {
  if (options === undefined) return { timeoutMs: DEFAULT_TIMEOUT_MS };
  const o = checkObject('options', options);
  const signal = checkSignal('signal', o.signal);
  const timeoutMs = checkMs('timeoutMs', o.timeoutMs, {
    fallback: DEFAULT_TIMEOUT_MS,
    min: 0,
    minExclusive: true,
    max: undefined,
  });
  return signal ? { signal, timeoutMs } : { timeoutMs };
}
