/** Short description of a bad value for error messages: `-1`, `"5s"`, `null`, `an object`. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return String(value);
}

const MAX_TIMER_MS = 2 ** 31 - 1; // setTimeout fires at once for anything larger

export function checkFunction(name: string, value: unknown, what: string): void {
  if (typeof value !== 'function') throw new TypeError(`${name} must be ${what}, got ${describe(value)}`);
}

export function checkTimeout(name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number') {
    throw new TypeError(`${name} must be a number of milliseconds or undefined, got ${describe(value)}`);
  }
  if (!Number.isFinite(value) || value <= 0 || value > MAX_TIMER_MS) {
    throw new RangeError(
      `${name} must be a positive finite number of milliseconds (at most ${MAX_TIMER_MS}), got ${value}`,
    );
  }
  return value;
}

export function checkKnownKeys(where: string, options: object, known: readonly string[]): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new TypeError(`${where}: unknown option ${JSON.stringify(key)}; the options are ${known.join(', ')}`);
    }
  }
}

/** Validate `{ signal }` options of get(), reset() and close(); duck-typed so polyfilled signals work. */
export function readSignal(where: string, options: unknown): AbortSignal | undefined {
  if (options === undefined) return undefined;
  if (options === null || typeof options !== 'object') {
    throw new TypeError(`${where} options must be an object like { signal }, got ${describe(options)}`);
  }
  const signal = (options as { signal?: unknown }).signal;
  if (signal === undefined) return undefined;
  if (!isSignal(signal)) throw new TypeError(`${where} options.signal must be an AbortSignal, got ${describe(signal)}`);
  return signal;
}

export function isSignal(value: unknown): value is AbortSignal {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as AbortSignal).aborted === 'boolean' &&
    typeof (value as AbortSignal).addEventListener === 'function' &&
    typeof (value as AbortSignal).removeEventListener === 'function'
  );
}
