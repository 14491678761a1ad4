import { isAbsolute } from 'node:path';

/** Value checks for options: each throws a TypeError or RangeError naming the option and the value. */

const MAX_TIMER_MS = 2 ** 31 - 1;

export const show = (value: unknown): string => {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (value === null || typeof value !== 'object') return String(value);
  try {
    const text = JSON.stringify(value);
    return text.length > 80 ? `${text.slice(0, 77)}...` : text;
  } catch {
    return Object.prototype.toString.call(value);
  }
};

export function plainObject(name: string, value: unknown): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new TypeError(`${name} must be an object, got ${show(value)}`);
  }
  return value as Record<string, unknown>;
}

export function noUnknown(name: string, value: Record<string, unknown>, known: Set<string>): void {
  for (const key of Object.keys(value)) {
    if (!known.has(key)) throw new TypeError(`${name}.${key} is not an option (known: ${[...known].join(', ')})`);
  }
}

export function string(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new TypeError(`${name} must be a non-empty string, got ${show(value)}`);
  }
  if (value.includes('\0')) throw new TypeError(`${name} must not contain NUL bytes, got ${show(value)}`);
  return value;
}

export function absolute(name: string, value: unknown): string {
  const path = string(name, value);
  if (!isAbsolute(path)) throw new TypeError(`${name} must be an absolute path, got ${show(value)}`);
  return path;
}

export function ms(name: string, value: unknown, fallback: number, { zero = true } = {}): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number of milliseconds, got ${show(value)}`);
  if (!Number.isFinite(value) || value < 0 || (!zero && value === 0) || value > MAX_TIMER_MS) {
    throw new RangeError(
      `${name} must be a finite number of milliseconds ${zero ? '>= 0' : '> 0'} and at most ${MAX_TIMER_MS}, got ${show(value)}`,
    );
  }
  return value;
}

export function int(name: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') throw new TypeError(`${name} must be an integer, got ${show(value)}`);
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`${name} must be an integer >= ${min}, got ${show(value)}`);
  }
  return value;
}

export function bool(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new TypeError(`${name} must be true or false, got ${show(value)}`);
  return value;
}
