import { isAbsolute } from 'node:path';
import { show } from './show.js';

/**
 * Option checks, the same in every package. Every one takes `(name, value, ...)`, returns the value
 * checked, and throws a TypeError (wrong type) or RangeError (right type, out of range) whose
 * message names the option and the value: `timeoutMs must be a finite number of milliseconds > 0, got -1`.
 */

/** setTimeout fires at once for anything larger. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export interface NumberRule {
  /** Whole numbers only (Number.isSafeInteger). */
  integer?: boolean;
  min?: number;
  /** `> min` instead of `>= min`. */
  minExclusive?: boolean;
  max?: number;
  /** Says "of milliseconds" in the message. */
  ms?: boolean;
  /** Returned when the value is undefined (without it, undefined is a TypeError). */
  fallback?: number;
}

/**
 * What a number following `rule` is, for messages: `a positive integer`, `an integer from 0 to 255`,
 * `a finite number of milliseconds >= 0`.
 */
export function describeRule(rule: NumberRule): string {
  const kind = `${rule.integer ? 'an integer' : 'a finite number'}${rule.ms ? ' of milliseconds' : ''}`;
  const { min, max } = rule;
  if (rule.integer && !rule.ms && max === undefined && !rule.minExclusive && (min === 0 || min === 1)) {
    return min === 0 ? 'a non-negative integer' : 'a positive integer';
  }
  if (min !== undefined && max !== undefined && !rule.minExclusive && rule.integer) {
    return `${kind} from ${min} to ${max}`;
  }
  const low = min === undefined ? '' : ` ${rule.minExclusive ? '>' : '>='} ${min}`;
  const high = max === undefined ? '' : `${low ? ' and' : ''} <= ${max}`;
  return `${kind}${low}${high}`;
}

export function checkNumber(name: string, value: unknown, rule: NumberRule = {}): number {
  if (value === undefined && rule.fallback !== undefined) return rule.fallback;
  if (typeof value !== 'number') throw new TypeError(`${name} must be ${describeRule(rule)}, got ${show(value)}`);
  const { min, max } = rule;
  if (
    !Number.isFinite(value) ||
    (rule.integer && !Number.isSafeInteger(value)) ||
    (min !== undefined && (rule.minExclusive ? value <= min : value < min)) ||
    (max !== undefined && value > max)
  ) {
    throw new RangeError(`${name} must be ${describeRule(rule)}, got ${show(value)}`);
  }
  return value;
}

/** An integer, by default >= 0. */
export function checkInteger(name: string, value: unknown, rule: Omit<NumberRule, 'integer' | 'ms'> = {}): number {
  return checkNumber(name, value, { min: 0, ...rule, integer: true });
}

/** A duration: a finite number of milliseconds, by default >= 0 (pass `max: MAX_TIMER_MS` for a timer's delay). */
export function checkMs(name: string, value: unknown, rule: Omit<NumberRule, 'ms'> = {}): number {
  return checkNumber(name, value, { min: 0, ...rule, ms: true });
}

/** A pid: a non-negative integer. */
export function checkPid(name: string, value: unknown): number {
  return checkNumber(name, value, { integer: true, min: 0 });
}

/** A non-null, non-array object. */
export function checkObject(name: string, value: unknown): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new TypeError(`${name} must be an object, got ${show(value)}`);
  }
  return value as Record<string, unknown>;
}

/** An options bag: undefined reads as `{}`. */
export function checkOptions(name: string, value: unknown): Record<string, unknown> {
  return value === undefined ? {} : checkObject(name, value);
}

/** A non-empty string without NUL bytes. */
export function checkString(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new TypeError(`${name} must be a non-empty string, got ${show(value)}`);
  }
  if (value.includes('\0')) throw new TypeError(`${name} must not contain NUL bytes, got ${show(value)}`);
  return value;
}

/** `what` describes the function wanted: `a function ({ signal }) => Promise<connection>`. */
export function checkFunction<F>(name: string, value: unknown, what = 'a function'): F {
  if (typeof value !== 'function') throw new TypeError(`${name} must be ${what}, got ${show(value)}`);
  return value as F;
}

/** A boolean; `fallback`, when given, for undefined. */
export function checkBoolean(name: string, value: unknown, fallback?: boolean): boolean {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'boolean') throw new TypeError(`${name} must be a boolean, got ${show(value)}`);
  return value;
}

/** A whole number > 0 (a safe integer): a pid or a process group read from a file, say. */
export function isPositiveInt(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}

/** Duck-typed, so a polyfilled or other realm's AbortSignal works too. */
export function isSignal(value: unknown): value is AbortSignal {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as AbortSignal).aborted === 'boolean' &&
    typeof (value as AbortSignal).addEventListener === 'function' &&
    typeof (value as AbortSignal).removeEventListener === 'function'
  );
}

/** An AbortSignal or undefined. */
export function checkSignal(name: string, value: unknown): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (!isSignal(value)) throw new TypeError(`${name} must be an AbortSignal, got ${show(value)}`);
  return value;
}

/**
 * A mitt emitter (or undefined): `on`, `off`, `emit` and mitt's `all` Map (without `mittMap`
 * false, an emitter of the user's own with mitt's API is accepted too). `hint` follows "emitter".
 */
export function checkEmitter<E>(
  name: string,
  value: unknown,
  { hint = '', mittMap = true }: { hint?: string; mittMap?: boolean } = {},
): E | undefined {
  if (value === undefined) return undefined;
  const e = value as { all?: unknown; on?: unknown; off?: unknown; emit?: unknown } | null;
  if (
    e === null ||
    typeof e !== 'object' ||
    (mittMap && !(e.all instanceof Map)) ||
    typeof e.on !== 'function' ||
    typeof e.off !== 'function' ||
    typeof e.emit !== 'function'
  ) {
    throw new TypeError(`${name} must be a mitt emitter${hint}, got ${show(value)}`);
  }
  return value as E;
}

/** Every key of `options` is one of `known`: a typo is a TypeError, `options.idle is not an option (known: ...)`. */
export function checkKnownKeys(name: string, options: object, known: Iterable<string>): void {
  const list = [...known];
  for (const key of Object.keys(options)) {
    if (!list.includes(key)) throw new TypeError(`${name}.${key} is not an option (known: ${list.join(', ')})`);
  }
}

/** A non-empty absolute path without NUL bytes. */
export function checkAbsolutePath(name: string, value: unknown): string {
  const path = checkString(name, value);
  if (!isAbsolute(path)) throw new TypeError(`${name} must be an absolute path, got ${show(value)}`);
  return path;
}
