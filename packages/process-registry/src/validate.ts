import { hostname } from 'node:os';
import { checkMs, checkOptions, checkSignal, checkString, isPositiveInt, show } from '@spawnguard/internal';
import type { ClaimSettings, TakeoverSettings } from './ownership.js';
import type { OwnerRecord } from './types.js';

const DEFAULT_GRACE_MS = 3000;
const DEFAULT_TOTAL_TIMEOUT_MS = 10_000;

export function checkOwner(value: unknown): OwnerRecord {
  const owner = checkOptions('options.owner', value);
  if (!isPositiveInt(owner.pid))
    throw new TypeError(`options.owner.pid must be a positive integer, got ${show(owner.pid)}`);
  const startToken = checkString('options.owner.startToken', owner.startToken);
  const host = owner.hostname === undefined ? hostname() : checkString('options.owner.hostname', owner.hostname);
  return { pid: owner.pid, startToken, hostname: host };
}

export interface StopSettings {
  graceMs: number;
  totalTimeoutMs: number;
  signal: AbortSignal | undefined;
}

export function checkStopOptions(name: string, value: unknown): StopSettings {
  const opts = checkOptions(name, value);
  return {
    graceMs: checkMs(`${name}.graceMs`, opts.graceMs, { fallback: DEFAULT_GRACE_MS }),
    totalTimeoutMs: checkMs(`${name}.totalTimeoutMs`, opts.totalTimeoutMs, { fallback: DEFAULT_TOTAL_TIMEOUT_MS }),
    signal: checkSignal(`${name}.signal`, opts.signal),
  };
}

/** shutdown()'s options: the stop options plus `force` (SIGKILL every tree at once; no graceMs with it). */
export function checkShutdownOptions(name: string, value: unknown): StopSettings & { force: boolean } {
  const opts = checkOptions(name, value);
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
  return checkMs(name, value, { fallback, minExclusive: true });
}

/** openRegistry's `takeover`: true for the defaults, or an object; undefined / false for none. */
export function checkTakeover(value: unknown): TakeoverSettings | null {
  if (value === undefined || value === false) return null;
  if (value === true) return { ...TAKEOVER_DEFAULTS };
  const opts = checkOptions('options.takeover', value);
  const d = TAKEOVER_DEFAULTS;
  return {
    waitMs: checkMs('options.takeover.waitMs', opts.waitMs, { fallback: d.waitMs }),
    pollMs: checkPositiveMs('options.takeover.pollMs', opts.pollMs, d.pollMs),
    retryMs: checkMs('options.takeover.retryMs', opts.retryMs, { fallback: d.retryMs }),
    graceMs: checkMs('options.takeover.graceMs', opts.graceMs, { fallback: d.graceMs }),
    totalTimeoutMs: checkMs('options.takeover.totalTimeoutMs', opts.totalTimeoutMs, { fallback: d.totalTimeoutMs }),
    reap: true,
  };
}

/** claim()'s options, over the registry's takeover settings (or the defaults). */
export function checkClaimOptions(
  value: unknown,
  base: TakeoverSettings | null,
): ClaimSettings & { signal: AbortSignal | undefined } {
  const opts = checkOptions('options', value);
  const d = base ?? TAKEOVER_DEFAULTS;
  return {
    waitMs: checkMs('options.waitMs', opts.waitMs, { fallback: d.waitMs }),
    pollMs: checkPositiveMs('options.pollMs', opts.pollMs, d.pollMs),
    graceMs: checkMs('options.graceMs', opts.graceMs, { fallback: d.graceMs }),
    totalTimeoutMs: checkMs('options.totalTimeoutMs', opts.totalTimeoutMs, { fallback: d.totalTimeoutMs }),
    reap: true,
    signal: checkSignal('options.signal', opts.signal),
  };
}
