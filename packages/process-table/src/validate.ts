import type { ListOptions } from './types.js';

export const DEFAULT_TIMEOUT_MS = 5000;

export function checkPid(pid: unknown, name = 'pid'): number {
  if (typeof pid !== 'number') throw new TypeError(`${name} must be a number, got ${describe(pid)}`);
  if (!Number.isSafeInteger(pid) || pid < 0) {
    throw new RangeError(`${name} must be a non-negative integer, got ${pid}`);
  }
  return pid;
}

/** Validates ListOptions and returns the effective timeout. */
export function checkListOptions(options: ListOptions | undefined): { signal?: AbortSignal; timeoutMs: number } {
  if (options === undefined) return { timeoutMs: DEFAULT_TIMEOUT_MS };
  if (options === null || typeof options !== 'object') {
    throw new TypeError(`options must be an object, got ${describe(options)}`);
  }
  const { signal, timeoutMs = DEFAULT_TIMEOUT_MS } = options;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError(`signal must be an AbortSignal, got ${describe(signal)}`);
  }
  if (typeof timeoutMs !== 'number') throw new TypeError(`timeoutMs must be a number, got ${describe(timeoutMs)}`);
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new RangeError(`timeoutMs must be a positive finite number of milliseconds, got ${timeoutMs}`);
  }
  return signal ? { signal, timeoutMs } : { timeoutMs };
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'object') return Array.isArray(value) ? 'an array' : 'an object';
  return `${typeof value} ${String(value)}`;
}
