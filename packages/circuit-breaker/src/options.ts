import { checkFunction, checkInteger, checkKnownKeys, checkNumber, checkObject, show } from '@spawnguard/internal';
import type { CircuitStore } from './snapshot.js';

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit. Positive integer, default 3. */
  failureThreshold?: number;
  /** How long the circuit stays open before a probe is admitted. Finite ms >= 0, default 60_000. */
  cooldownMs?: number;
  /** Probes running at once while half-open; other calls are rejected at once. Default 1. */
  halfOpenMaxConcurrent?: number;
  /** Each failed probe multiplies the cooldown by this (>= 1, default 1: constant cooldown). */
  cooldownGrowth?: number;
  /** Cap for the grown cooldown (>= cooldownMs). Default: the larger of cooldownMs and 10 minutes. */
  maxCooldownMs?: number;
  /** Which errors count as failures. Others pass through to the caller and count as nothing. */
  isFailure?: (error: unknown) => boolean;
  /** Clock in ms since the epoch (default Date.now). Shared stores need a wall clock. */
  now?: () => number;
  /** Where the state lives; default memoryStore() (this breaker only). See fileStore(). */
  store?: CircuitStore;
  /** Names the circuit in errors and event payloads. */
  name?: string;
}

export interface ResolvedOptions {
  failureThreshold: number;
  cooldownMs: number;
  halfOpenMaxConcurrent: number;
  cooldownGrowth: number;
  maxCooldownMs: number;
  isFailure: (error: unknown) => boolean;
  now: () => number;
  store: CircuitStore | undefined;
  name: string | undefined;
}

const KNOWN = new Set([
  'failureThreshold',
  'cooldownMs',
  'halfOpenMaxConcurrent',
  'cooldownGrowth',
  'maxCooldownMs',
  'isFailure',
  'now',
  'store',
  'name',
]);
const DEFAULT_MAX_COOLDOWN_MS = 10 * 60_000;

export function resolveOptions(options: unknown): ResolvedOptions {
  const o = options === undefined ? {} : checkObject('CircuitBreaker options', options);
  // A typo (cooldown: 1000) would otherwise silently leave the 60 s default in place.
  checkKnownKeys('CircuitBreaker options', o, KNOWN);
  const given = (key: string) => o[key] !== undefined;

  const cooldownMs = given('cooldownMs') ? checkNumber('cooldownMs', o.cooldownMs, { min: 0, ms: true }) : 60_000;
  const maxCooldownMs = given('maxCooldownMs')
    ? checkNumber('maxCooldownMs', o.maxCooldownMs, { min: 0, ms: true })
    : Math.max(cooldownMs, DEFAULT_MAX_COOLDOWN_MS);
  if (maxCooldownMs < cooldownMs) {
    throw new RangeError(`maxCooldownMs must be >= cooldownMs (${cooldownMs}), got ${show(maxCooldownMs)}`);
  }
  let store: CircuitStore | undefined;
  if (given('store')) {
    const s = o.store as Record<string, unknown>;
    if (typeof s !== 'object' || s === null || typeof s.load !== 'function' || typeof s.save !== 'function') {
      throw new TypeError(`store must be an object with load() and save() methods, got ${show(o.store)}`);
    }
    store = o.store as CircuitStore;
  }
  if (given('name') && typeof o.name !== 'string') {
    throw new TypeError(`name must be a string, got ${show(o.name)}`);
  }
  return {
    failureThreshold: given('failureThreshold') ? checkInteger('failureThreshold', o.failureThreshold, { min: 1 }) : 3,
    cooldownMs,
    halfOpenMaxConcurrent: given('halfOpenMaxConcurrent')
      ? checkInteger('halfOpenMaxConcurrent', o.halfOpenMaxConcurrent, { min: 1 })
      : 1,
    cooldownGrowth: given('cooldownGrowth') ? checkNumber('cooldownGrowth', o.cooldownGrowth, { min: 1 }) : 1,
    maxCooldownMs,
    isFailure: given('isFailure') ? checkFunction<(error: unknown) => boolean>('isFailure', o.isFailure) : () => true,
    now: given('now') ? checkFunction<() => number>('now', o.now) : Date.now,
    store,
    name: o.name as string | undefined,
  };
}
