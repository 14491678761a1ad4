/**
 * A client's config file as `import` reads it and, with --write, rewrites it: plain JSON, or TOML
 * (Codex) through smol-toml, never a parser of our own. A rewrite must lose nothing of what the
 * importer did not move, so a file that would not come back whole is left untouched, with why:
 *
 *   - JSON with comments or trailing commas (VS Code and Gemini CLI accept them): not JSON, so not
 *     read at all; the message says so.
 *   - TOML with comments: smol-toml parses to plain values and its stringify writes no comments (we
 *     checked: a parse + stringify drops every one), so such a file is planned and shown but never
 *     rewritten. A comment is found without a parser of our own: in TOML a `#` outside a string or a
 *     quoted key starts a comment, and every `#` inside one is still in the parsed keys and strings,
 *     so more `#` in the text than in the parsed data means a comment. (A `\u0023` escape would put a
 *     `#` in the data that the text does not show: such a file is refused too, as undecidable.)
 *   - Any TOML rewrite is re-parsed before it is written, and written only when every part, moved
 *     or untouched, parses back identical (same types: integers stay integers, floats floats, dates
 *     the same kind of date). Formatting is smol-toml's (key order within a table kept, tables after
 *     plain keys, `[a.b]` for sub-tables): the data is the same, the layout may not be.
 */
import { parse as parseToml, stringify as stringifyToml, TomlDate, TomlError } from 'smol-toml';
import type { Syntax } from './client-formats.js';
import { ImportError } from './import-config.js';

export interface ClientFile {
  path: string;
  syntax: Syntax;
  data: Record<string, unknown>;
  /** Why a rewrite would lose something (nothing is written then), or null. */
  notRewritable: string | null;
}

const isTable = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);

/** `#` characters in every key and string of a parsed TOML document. */
function hashesIn(value: unknown): number {
  const count = (text: string) => text.split('#').length - 1;
  if (typeof value === 'string') return count(value);
  if (Array.isArray(value)) return value.reduce((n: number, v) => n + hashesIn(v), 0);
  if (isTable(value)) return Object.entries(value).reduce((n, [k, v]) => n + count(k) + hashesIn(v), 0);
  return 0;
}

function tomlComments(path: string, text: string, data: unknown): string | null {
  const why = 'smol-toml, the TOML library the importer uses, does not keep comments: a rewrite would drop them';
  if (/\\u0023|\\U00000023/i.test(text)) {
    return `${path} spells "#" as an escape, so the importer cannot tell whether it has comments (${why})`;
  }
  const inText = text.split('#').length - 1;
  return inText > hashesIn(data) ? `${path} has comments, and ${why}` : null;
}

/** Same TOML value: same type (bigint integer, number float, date kind), same content. */
export function sameToml(a: unknown, b: unknown): boolean {
  if (a instanceof Date || b instanceof Date) {
    if (!(a instanceof TomlDate && b instanceof TomlDate)) return a instanceof Date && b instanceof Date && +a === +b;
    return (
      a.toISOString() === b.toISOString() &&
      a.isDate() === b.isDate() &&
      a.isTime() === b.isTime() &&
      a.isLocal() === b.isLocal()
    );
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => sameToml(v, b[i]));
  }
  if (isTable(a) || isTable(b)) {
    if (!(isTable(a) && isTable(b))) return false;
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && sameToml(a[k], b[k]));
  }
  return typeof a === typeof b && Object.is(a, b);
}

const JSONC_HINT =
  ' (VS Code and Gemini CLI accept comments and trailing commas, which are not JSON: a rewrite would drop them, so the importer leaves such a file alone; remove them, or move the entries by hand)';

/** Parses a client file; throws ImportError naming the file and what is wrong. */
export function parseClientFile(path: string, text: string, syntax: Syntax, what = 'config file'): ClientFile {
  if (syntax === 'json') {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (error) {
      throw new ImportError(`${what} ${path} is not valid JSON: ${(error as Error).message}${JSONC_HINT}`, path);
    }
    if (!isTable(data)) throw new ImportError(`${path} is not a JSON object`, path);
    return { path, syntax, data, notRewritable: null };
  }
  let data: Record<string, unknown>;
  try {
    // Integers as bigint: they stay integers (and exact) when written back, apart from floats.
    data = parseToml(text, { integersAsBigInt: true }) as Record<string, unknown>;
  } catch (error) {
    const detail = error instanceof TomlError ? error.message.split('\n')[0] : (error as Error).message;
    throw new ImportError(`${what} ${path} is not valid TOML: ${detail}`, path);
  }
  return { path, syntax, data, notRewritable: tomlComments(path, text, data) };
}

/** The text of `next` in the file's syntax; throws ImportError when writing it would lose something. */
export function renderClientFile(file: ClientFile, next: Record<string, unknown>): string {
  if (file.syntax === 'json') return `${JSON.stringify(next, null, 2)}\n`;
  if (file.notRewritable) throw new ImportError(file.notRewritable, file.path);
  const text = stringifyToml(next, { numbersAsFloat: true });
  let back: unknown;
  try {
    back = parseToml(text, { integersAsBigInt: true });
  } catch (error) {
    throw new ImportError(`${file.path}: the rewritten TOML does not parse (${(error as Error).message})`, file.path);
  }
  if (!sameToml(back, next)) {
    throw new ImportError(
      `${file.path}: the rewritten TOML would not read back as written (smol-toml cannot round-trip a value in it)`,
      file.path,
    );
  }
  return text;
}

/** Just the given tables in the file's syntax (to show what to paste when the file cannot be rewritten). */
export function renderFragment(syntax: Syntax, value: Record<string, unknown>): string {
  return syntax === 'json' ? `${JSON.stringify(value, null, 2)}\n` : stringifyToml(value, { numbersAsFloat: true });
}
