import type { Emitter } from 'mitt';
import type { SpawnMutexEvents } from './events.js';

export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (value === null) return 'null';
  if (typeof value === 'object') return Array.isArray(value) ? 'an array' : 'an object';
  return String(value);
}

export function requireObject(name: string, value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null) throw new TypeError(`${name} must be an object, got ${show(value)}`);
  return value as Record<string, unknown>;
}

export function requireString(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.includes('\0')) {
    throw new TypeError(`${name} must be a non-empty path string, got ${show(value)}`);
  }
  return value;
}

export function requireFunction<T>(name: string, value: unknown): T {
  if (typeof value !== 'function') throw new TypeError(`${name} must be a function, got ${show(value)}`);
  return value as T;
}

export function requireMs(name: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new RangeError(`${name} must be a finite number of ms >= ${min}, got ${show(value)}`);
  }
  return value;
}

export function optionalSignal(value: unknown): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof AbortSignal)) throw new TypeError(`signal must be an AbortSignal, got ${show(value)}`);
  return value;
}

export function optionalEvents(value: unknown): Emitter<SpawnMutexEvents> | undefined {
  if (value === undefined) return undefined;
  const e = value as Partial<Emitter<SpawnMutexEvents>> | null;
  if (typeof e !== 'object' || e === null || !(e.all instanceof Map) || typeof e.emit !== 'function') {
    throw new TypeError(`events must be a mitt emitter (createSpawnMutexEvents()), got ${show(value)}`);
  }
  return value as Emitter<SpawnMutexEvents>;
}

/** The holder refreshes its lock every staleMs / 2 (at least every 1 s): below 2 s, a busy event loop would make a live lock look stale. */
export const MIN_STALE_MS = 2000;
