export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (value instanceof RegExp) return String(value);
  if (typeof value === 'object') return Array.isArray(value) ? 'an array' : 'an object';
  return `${typeof value} ${String(value)}`;
}

export function checkPid(pid: unknown, name = 'pid'): number {
  if (typeof pid !== 'number') throw new TypeError(`${name} must be a number, got ${describe(pid)}`);
  if (!Number.isSafeInteger(pid) || pid < 0) throw new RangeError(`${name} must be a non-negative integer, got ${pid}`);
  return pid;
}

/** A non-negative finite number of milliseconds, or the default when undefined. */
export function checkMs(value: unknown, name: string, fallback?: number): number | undefined {
  if (value === undefined) return fallback;
  if (typeof value !== 'number')
    throw new TypeError(`${name} must be a number of milliseconds, got ${describe(value)}`);
  if (!Number.isFinite(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative finite number of milliseconds, got ${value}`);
  }
  return value;
}

export function checkSignal(signal: unknown): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  if (!(signal instanceof AbortSignal)) throw new TypeError(`signal must be an AbortSignal, got ${describe(signal)}`);
  return signal;
}

export function checkBoolean(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new TypeError(`${name} must be a boolean, got ${describe(value)}`);
  return value;
}

export function checkObject(value: unknown, name: string): Record<string, unknown> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object')
    throw new TypeError(`${name} must be an object, got ${describe(value)}`);
  return value as Record<string, unknown>;
}
