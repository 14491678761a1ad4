/** Renders a bad value for an error message: strings quoted, objects by kind. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return `string ${JSON.stringify(value)}`;
  if (typeof value === 'number') return Object.is(value, -0) ? '-0' : String(value);
  if (typeof value === 'bigint') return `bigint ${value}n`;
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'object') return 'an object';
  return String(value);
}

/** Wrong type: TypeError; right type but out of range (NaN, Infinity, negative, fraction): RangeError. */
export function checkNumber(
  name: string,
  value: unknown,
  rule: { integer?: boolean; min: number; exclusiveMin?: boolean; what: string },
): number {
  const message = `${name} must be ${rule.what}, got ${describe(value)}`;
  if (typeof value !== 'number') throw new TypeError(message);
  const tooSmall = rule.exclusiveMin ? value <= rule.min : value < rule.min;
  if (!Number.isFinite(value) || tooSmall || (rule.integer && !Number.isSafeInteger(value))) {
    throw new RangeError(message);
  }
  return value;
}

export function checkFunction<F>(name: string, value: unknown): F {
  if (typeof value !== 'function') throw new TypeError(`${name} must be a function, got ${describe(value)}`);
  return value as F;
}
