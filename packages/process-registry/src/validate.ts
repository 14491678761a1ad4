import { hostname } from 'node:os';
import { isAbsolute } from 'node:path';
import type { Emitter } from 'mitt';
import type { ClaimSettings, TakeoverSettings } from './ownership.js';
import type { OwnerRecord, RegistryEvents } from './types.js';

const DEFAULT_GRACE_MS = 3000;
const DEFAULT_TOTAL_TIMEOUT_MS = 10_000;

const show = (value: unknown): string => {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (value === null || typeof value !== 'object') return String(value);
  try {
    return JSON.stringify(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
};

export function checkPath(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new TypeError(`${name} must be a non-empty string, got ${show(value)}`);
  }
  if (!isAbsolute(value)) throw new TypeError(`${name} must be an absolute path, got ${show(value)}`);
  if (value.includes('\0')) throw new TypeError(`${name} must not contain NUL bytes, got ${show(value)}`);
  return value;
}

export function checkString(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new TypeError(`${name} must be a non-empty string, got ${show(value)}`);
  }
  return value;
}

export function checkMs(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number of milliseconds, got ${show(value)}`);
  if (!Number.isFinite(value) || value < 0) {
    throw new RangeError(`${name} must be a finite number >= 0, got ${show(value)}`);
  }
  return value;
}

export function checkObject(name: string, value: unknown): Record<string, unknown> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new TypeError(`${name} must be an object, got ${show(value)}`);
  }
  return value as Record<string, unknown>;
}

export function checkSignal(name: string, value: unknown): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof AbortSignal)) throw new TypeError(`${name} must be an AbortSignal, got ${show(value)}`);
  return value;
}

export function checkFunction<T>(name: string, value: unknown): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw new TypeError(`${name} must be a function, got ${show(value)}`);
  return value as T;
}

export function isPositiveInt(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}

export function checkOwner(value: unknown): OwnerRecord {
  const owner = checkObject('options.owner', value);
  if (!isPositiveInt(owner.pid))
    throw new TypeError(`options.owner.pid must be a positive integer, got ${show(owner.pid)}`);
  const startToken = checkString('options.owner.startToken', owner.startToken);
  const host = owner.hostname === undefined ? hostname() : checkString('options.owner.hostname', owner.hostname);
  return { pid: owner.pid, startToken, hostname: host };
}

export function checkEmitter(value: unknown): Emitter<RegistryEvents> | undefined {
  if (value === undefined) return undefined;
  const candidate = value as Partial<Emitter<RegistryEvents>> | null;
  if (
    candidate === null ||
    typeof candidate !== 'object' ||
    !(candidate.all instanceof Map) ||
    typeof candidate.on !== 'function' ||
    typeof candidate.emit !== 'function'
  ) {
    throw new TypeError(`options.events must be a mitt emitter, got ${show(value)}`);
  }
  return candidate as Emitter<RegistryEvents>;
}

export interface StopSettings {
  graceMs: number;
  totalTimeoutMs: number;
  signal: AbortSignal | undefined;
}

export function checkStopOptions(name: string, value: unknown): StopSettings {
  const opts = checkObject(name, value);
  return {
    graceMs: checkMs(`${name}.graceMs`, opts.graceMs, DEFAULT_GRACE_MS),
    totalTimeoutMs: checkMs(`${name}.totalTimeoutMs`, opts.totalTimeoutMs, DEFAULT_TOTAL_TIMEOUT_MS),
    signal: checkSignal(`${name}.signal`, opts.signal),
  };
}

/** shutdown()'s options: the stop options plus `force` (SIGKILL every tree at once; no graceMs with it). */
export function checkShutdownOptions(name: string, value: unknown): StopSettings & { force: boolean } {
  const opts = checkObject(name, value);
  const stop = checkStopOptions(name, value);
  if (opts.force !== undefined && typeof opts.force !== 'boolean') {
    throw new TypeError(`${name}.force must be a boolean, got ${show(opts.force)}`);
  }
  const force = opts.force === true;
  if (force && opts.graceMs !== undefined && opts.graceMs !== 0) {
    throw new TypeError(
      `${name}.graceMs cannot be combined with ${name}.force (a forced shutdown sends SIGKILL at once, with no grace), got ${show(opts.graceMs)}`,
    );
  }
  return { ...stop, force };
}

export const TAKEOVER_DEFAULTS: TakeoverSettings = {
  waitMs: 15_000,
  pollMs: 100,
  retryMs: 5000,
  graceMs: DEFAULT_GRACE_MS,
  totalTimeoutMs: DEFAULT_TOTAL_TIMEOUT_MS,
  reap: true,
};

function checkPositiveMs(name: string, value: unknown, fallback: number): number {
  const ms = checkMs(name, value, fallback);
  if (ms <= 0) throw new RangeError(`${name} must be a finite number > 0, got ${show(value)}`);
  return ms;
}

/** openRegistry's `takeover`: true for the defaults, or an object; undefined / false for none. */
export function checkTakeover(value: unknown): TakeoverSettings | null {
  if (value === undefined || value === false) return null;
  if (value === true) return { ...TAKEOVER_DEFAULTS };
  const opts = checkObject('options.takeover', value);
  const d = TAKEOVER_DEFAULTS;
  return {
    waitMs: checkMs('options.takeover.waitMs', opts.waitMs, d.waitMs),
    pollMs: checkPositiveMs('options.takeover.pollMs', opts.pollMs, d.pollMs),
    retryMs: checkMs('options.takeover.retryMs', opts.retryMs, d.retryMs),
    graceMs: checkMs('options.takeover.graceMs', opts.graceMs, d.graceMs),
    totalTimeoutMs: checkMs('options.takeover.totalTimeoutMs', opts.totalTimeoutMs, d.totalTimeoutMs),
    reap: true,
  };
}

/** claim()'s options, over the registry's takeover settings (or the defaults). */
export function checkClaimOptions(
  value: unknown,
  base: TakeoverSettings | null,
): ClaimSettings & { signal: AbortSignal | undefined } {
  const opts = checkObject('options', value);
  const d = base ?? TAKEOVER_DEFAULTS;
  return {
    waitMs: checkMs('options.waitMs', opts.waitMs, d.waitMs),
    pollMs: checkPositiveMs('options.pollMs', opts.pollMs, d.pollMs),
    graceMs: checkMs('options.graceMs', opts.graceMs, d.graceMs),
    totalTimeoutMs: checkMs('options.totalTimeoutMs', opts.totalTimeoutMs, d.totalTimeoutMs),
    reap: true,
    signal: checkSignal('options.signal', opts.signal),
  };
}

export { show };
