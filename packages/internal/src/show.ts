/**
 * Renders a value for an error message, the same way in every package: strings quoted (`"5s"`),
 * numbers, bigints, booleans, `null` and `undefined` as written (`-1`, `-0`, `NaN`, `10n`), a RegExp
 * as its source, and the rest by kind (`a function`, `an array`, `an object`, `a symbol`), so a
 * message never dumps a large or secret object.
 */
export function show(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Object.is(value, -0) ? '-0' : String(value);
    case 'bigint':
      return `${value}n`;
    case 'function':
      return 'a function';
    case 'symbol':
      return 'a symbol';
    case 'object':
      if (value === null) return 'null';
      if (Array.isArray(value)) return 'an array';
      if (value instanceof RegExp) return String(value);
      return 'an object';
    default:
      return String(value);
  }
}
