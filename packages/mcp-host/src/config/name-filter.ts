import { checkKnownKeys, checkObject, checkString, show } from '@spawnguard/internal';

/** What users write: names (or globs) to let through, or names (or globs) to leave out; never both. */
export type FilterSpec = { allow: readonly string[] } | { deny: readonly string[] };

/** `*` matches any run of characters (`/` included); every other character is itself. */
const toRegExp = (pattern: string): RegExp =>
  new RegExp(
    `^${pattern
      .split('*')
      .map((part) => part.replace(/[\\^$.|?+()[\]{}]/g, '\\$&'))
      .join('.*')}$`,
    's',
  );

/**
 * An allow- or deny-list of exact names and simple globs, checked when it is made. One concept used
 * for tool names, prompt names and resource URIs alike. Serializes as what the user wrote, so two
 * configs with the same filter compare equal.
 */
export class NameFilter {
  readonly #matchers: RegExp[];

  private constructor(
    readonly mode: 'allow' | 'deny',
    readonly patterns: readonly string[],
  ) {
    this.#matchers = patterns.map(toRegExp);
  }

  /** Checks `spec` (named `at` in errors: `servers.<name>.tools`); throws a TypeError naming what is wrong. */
  static parse(at: string, spec: unknown): NameFilter {
    const s = checkObject(at, spec);
    checkKnownKeys(at, s, ['allow', 'deny']);
    if (s.allow !== undefined && s.deny !== undefined) {
      throw new TypeError(`${at} has both allow and deny; give one (allow lists what is kept, deny what is left out)`);
    }
    const mode = s.allow !== undefined ? 'allow' : s.deny !== undefined ? 'deny' : null;
    if (mode === null)
      throw new TypeError(`${at} must have allow or deny (a list of names or globs), got ${show(spec)}`);
    const list = s[mode];
    if (!Array.isArray(list)) throw new TypeError(`${at}.${mode} must be an array of patterns, got ${show(list)}`);
    const patterns = list.map((pattern, i) => checkString(`${at}.${mode}[${i}]`, pattern));
    return new NameFilter(mode, patterns);
  }

  /** Whether `name` is let through. */
  admits(name: string): boolean {
    const matched = this.#matchers.some((re) => re.test(name));
    return this.mode === 'allow' ? matched : !matched;
  }

  /** `deny ["a","b*"]`, for error messages. */
  describe(): string {
    return `${this.mode} ${JSON.stringify(this.patterns)}`;
  }

  toJSON(): FilterSpec {
    return this.mode === 'allow' ? { allow: this.patterns } : { deny: this.patterns };
  }
}
