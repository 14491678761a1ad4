/**
 * The env file: where the values of `${VAR}` in servers.json come from first (`<home>/env`, or a
 * server's `envFile`), before the worker's own environment. The worker's environment is whatever
 * the process that happened to start it had (an editor's hook, a terminal, a login shell or not),
 * so it differs from start to start; the env file is the same every time.
 *
 * It holds secrets, so it is read like the token file: opened without following a link or blocking
 * on a FIFO, and refused unless it is a regular file owned by us that group and others cannot read
 * or write (mode 0600). Its values are never logged, printed or written anywhere by spawnguard.
 *
 * The format, exactly (a subset every dotenv reader agrees on):
 *   - UTF-8 text, one entry per line; `\n` or `\r\n` line ends; a leading byte-order mark is ignored.
 *   - Blank lines, and lines whose first non-blank character is `#`, are comments.
 *   - An entry is `NAME=VALUE`, optionally preceded by `export ` (so the file can be sourced by sh).
 *     NAME is letters, digits and `_`, not starting with a digit. Blanks around NAME and around
 *     the `=` are ignored.
 *   - VALUE unquoted: the rest of the line with its trailing blanks removed, taken literally: a `#`
 *     or a quote inside it is part of it (no inline comments).
 *   - VALUE quoted with `"` or `'`: everything up to the next same quote, literally: no escapes, no
 *     `$` expansion, no line continuation (so it cannot contain its own quote: use the other one).
 *     After the closing quote only blanks or a `# comment` may follow.
 *   - `NAME=` (nothing after `=`) sets NAME to the empty string, which counts as set.
 *   - A NAME defined twice is an error, as is any other line: the message names the file and the
 *     line number, never a value.
 */
import { readStateFileSync, StateFileError } from '@spawnguard/internal';

export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** An env file is a handful of secrets, not a data set. */
export const ENV_FILE_MAX_BYTES = 1024 * 1024;

export class EnvFileError extends Error {
  readonly code = 'EENVFILE';
  constructor(
    message: string,
    readonly path: string,
    /** 1-based line of a syntax error. */
    readonly line?: number,
  ) {
    super(message);
    this.name = 'EnvFileError';
  }
}

const ENTRY = /^(?:export[ \t]+)?([^=\s]*)[ \t]*=[ \t]*(.*)$/;

/** Parses env file text into NAME → VALUE. Throws EnvFileError naming the line (never the value). */
export function parseEnvFile(path: string, text: string): Map<string, string> {
  const values = new Map<string, string>();
  const definedAt = new Map<string, number>();
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  for (const [index, raw] of lines.entries()) {
    const number = index + 1;
    const line = raw.replace(/\r$/, '').trim();
    if (line === '' || line.startsWith('#')) continue;
    const at = `${path}:${number}`;
    const match = ENTRY.exec(line);
    if (!match) throw new EnvFileError(`${at}: not a NAME=VALUE line (no "=")`, path, number);
    const name = match[1]!;
    if (!ENV_NAME.test(name)) {
      throw new EnvFileError(
        `${at}: ${JSON.stringify(name.slice(0, 40))} is not a variable name (letters, digits and "_", not starting with a digit)`,
        path,
        number,
      );
    }
    let value = match[2]!;
    const quote = value[0];
    if (quote === '"' || quote === "'") {
      const end = value.indexOf(quote, 1);
      if (end === -1) {
        throw new EnvFileError(
          `${at}: the value of ${name} opens a ${quote} quote that does not close on that line`,
          path,
          number,
        );
      }
      const rest = value.slice(end + 1).trim();
      if (rest !== '' && !rest.startsWith('#')) {
        throw new EnvFileError(
          `${at}: text after the closing ${quote} of ${name} (only blanks or a # comment may follow)`,
          path,
          number,
        );
      }
      value = value.slice(1, end);
    }
    const before = definedAt.get(name);
    if (before !== undefined) {
      throw new EnvFileError(`${at}: ${name} is already defined on line ${before}`, path, number);
    }
    definedAt.set(name, number);
    values.set(name, value);
  }
  return values;
}

/** The path, why it cannot be used, and what to do (the state-file check's own words where they fit). */
function unusable(error: StateFileError, path: string): EnvFileError {
  switch (error.reason) {
    case 'missing':
      return new EnvFileError(
        `env file ${path} does not exist; create it (chmod 600) with NAME=VALUE lines, or remove "envFile"`,
        path,
      );
    case 'symlink':
      return new EnvFileError(
        `env file ${path} is a symbolic link; refusing to follow it (it could point anywhere). Put the file itself there (chmod 600).`,
        path,
      );
    case 'not-regular':
      return new EnvFileError(
        `env file ${path} is not a regular file (a FIFO, socket, device or folder); refusing to read it. Replace it with a regular file (chmod 600).`,
        path,
      );
    default:
      // foreign-owner ("owned by uid N, not by you ... Remove it or choose another path"), not-private
      // ("... Fix it with: chmod 600 <path>"), too-large, unreadable: already name the file and the fix.
      return new EnvFileError(`env file ${error.message}`, path);
  }
}

/**
 * Reads and parses an env file. A missing file is an empty one unless `required` (a server's own
 * `envFile`); anything else unusable throws EnvFileError with the path and the fix.
 */
export function readEnvFile(path: string, { required }: { required: boolean }): Map<string, string> {
  let text: string;
  try {
    text = readStateFileSync(path, { private: true, maxBytes: ENV_FILE_MAX_BYTES });
  } catch (error) {
    if (!(error instanceof StateFileError)) throw error;
    if (error.reason === 'missing' && !required) return new Map();
    throw unusable(error, path);
  }
  return parseEnvFile(path, text);
}
