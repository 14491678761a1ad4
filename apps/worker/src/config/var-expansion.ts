/**
 * `${VAR}` and `${VAR:-default}` in servers.json, with Claude Code's syntax and edge cases, so an
 * entry moved from a `.mcp.json` means what it meant there. What Claude Code does (its
 * services/mcp/envExpansion.ts: one `replace(/\$\{([^}]+)\}/g, ...)` pass, the body split with
 * `split(':-', 2)`, a value used when `!== undefined`), and so what this does:
 *
 *   - `${NAME}`          the value of NAME; NAME unset: missing (Claude Code keeps the text and
 *                        reports it; the host refuses to start that server, naming NAME).
 *   - `${NAME:-default}` the value of NAME when it is set, else `default`. Set to the empty string
 *                        counts as set: the result is empty, the default is NOT used (unlike sh).
 *   - `${NAME:-}`        NAME, else the empty string (never missing).
 *   - `$NAME`, `$`, `$(`, `$$`: a `$` not followed by `{` is literal text; there is no escape.
 *   - `${` with no `}` after it (unterminated), and `${}` (empty body): literal text.
 *   - Nested braces are not nested: the body runs to the FIRST `}`. `${A:-${B}}` is the expression
 *     `${A:-${B}` followed by a literal `}`: A set gives "<A>}", A unset gives the literal "${B}"
 *     (one pass: the default is not expanded again).
 *   - The default ends at a second `:-` (Claude Code's `split(':-', 2)` drops the rest):
 *     `${A:-x:-y}` with A unset gives "x".
 *   - A name is whatever the body holds before the first `:-`: any characters but `}`, spaces
 *     included, never trimmed. The env file only defines names of letters, digits and `_` (not
 *     starting with a digit), so any other name can only come from the worker's environment.
 *     `${:-x}` looks up the empty name, which is never set: "x".
 *
 * Where a value comes from (the lookup) is the caller's: servers-config.ts reads the env file first,
 * then the worker's own environment.
 */

/** One pass over the text: the body of `${...}` is everything up to the first `}`, at least one character. */
const EXPRESSION = /\$\{([^}]+)\}/g;
const DEFAULT_MARK = ':-';

export interface VariableUse {
  name: string;
  /** `${NAME:-...}`: it never makes a server fail, whether or not NAME is set. */
  hasDefault: boolean;
}

export interface Expanded {
  value: string;
  /** Names used without a default whose lookup gave nothing, in order, once each. */
  missing: string[];
}

/** Claude Code's `body.split(':-', 2)`: the name, and the default up to a second `:-` if any. */
function readBody(body: string): { name: string; fallback: string | undefined } {
  const [name, fallback] = body.split(DEFAULT_MARK, 2) as [string, string | undefined];
  return { name, fallback };
}

/** Expands every `${...}` in `text`; an unset name without a default stays as written and is reported. */
export function expandVariables(text: string, lookup: (name: string) => string | undefined): Expanded {
  const missing: string[] = [];
  const value = text.replace(EXPRESSION, (expression, body: string) => {
    const { name, fallback } = readBody(body);
    const found = lookup(name);
    if (found !== undefined) return found;
    if (fallback !== undefined) return fallback;
    if (!missing.includes(name)) missing.push(name);
    return expression;
  });
  return { value, missing };
}

/** The variables `text` uses, in order of first use (a name used with and without a default: without wins). */
export function variablesIn(text: string): VariableUse[] {
  const uses: VariableUse[] = [];
  for (const match of text.matchAll(EXPRESSION)) {
    const { name, fallback } = readBody(match[1]!);
    const seen = uses.find((use) => use.name === name);
    if (!seen) uses.push({ name, hasDefault: fallback !== undefined });
    else if (fallback === undefined) seen.hasDefault = false;
  }
  return uses;
}

/** Every expression in `text` with its body, for importers that must read a client's own `${...}` forms. */
export function expressionsIn(text: string): Array<{ expression: string; body: string }> {
  return [...text.matchAll(EXPRESSION)].map((match) => ({ expression: match[0], body: match[1]! }));
}

/** Rewrites each `${body}` with `replace(body)` (the same matching rule as the expansion). */
export function rewriteExpressions(text: string, replace: (body: string) => string): string {
  return text.replace(EXPRESSION, (_expression, body: string) => replace(body));
}

/** Merges variable lists of several strings, keeping first-use order. */
export function mergeUses(lists: VariableUse[][]): VariableUse[] {
  const merged: VariableUse[] = [];
  for (const list of lists) {
    for (const use of list) {
      const seen = merged.find((m) => m.name === use.name);
      if (!seen) merged.push({ ...use });
      else if (!use.hasDefault) seen.hasDefault = false;
    }
  }
  return merged;
}
