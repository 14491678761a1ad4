import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { show } from '@spawnguard/internal';
import type { StormOptions, WatchPattern } from './options.js';

export const USAGE = `Usage: spawnguard-storm [options] -- <command> [args...]

Start N copies of a launcher at once, sample the process table every few ms, and report
how many matching processes ran at the peak, how many different ones were started, how
the launchers exited, and what was left after the cleanup command.

Options:
  -c, --concurrency N    launchers started at once per round (1..500, default 10)
  -r, --rounds N         rounds, one after the other (default 1)
  -w, --watch PATTERN    count processes whose command line contains PATTERN (repeatable);
                         NAME=PATTERN names the series, /regex/flags is a regular expression
      --cleanup CMD      shell command run once after the last round (e.g. stop the daemons)
      --json             print the full result as JSON on stdout
      --html FILE        write a self-contained HTML report with an SVG timeline
      --sample-every MS  pause between process-table samples (default 15)
      --timeout MS       limit for the whole storm; launchers still running are killed (default 120000)
      --settle MS        pause after the cleanup before the leftover sample (default 300)
      --observe MS       keep sampling this long after each round's launchers exit (default 0)
  -h, --help             show this help

The storm kills its launchers and their process groups; daemons they detach are reported
as leftovers, not killed: stopping them is the cleanup command's job.
Exit status: 0 report written, 1 the storm failed, 2 bad usage, 130 interrupted.

Example:
  spawnguard-storm -c 50 -r 3 --watch workers=worker.js --watch helpers=helper.js \\
    --cleanup 'node worker.js stop' --html storm.html -- node hook.js
`;

export class UsageError extends Error {
  readonly code = 'EUSAGE';
}

export interface CliArgs {
  help: boolean;
  json: boolean;
  html: string | undefined;
  options: StormOptions;
}

function integer(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError(`${flag} must be a whole number, got ${show(value)}`);
  return Number(value);
}

/** `workers=worker.js` names a pattern; `/re/flags` is a RegExp; anything else is a substring. */
export function parseWatch(arg: string): [name: string, pattern: WatchPattern] {
  const named = /^([A-Za-z_][\w.-]*)=(.+)$/s.exec(arg);
  const name = named ? (named[1] as string) : arg;
  const text = named ? (named[2] as string) : arg;
  const re = /^\/(.+)\/([a-z]*)$/s.exec(text);
  if (re) {
    try {
      return [name, new RegExp(re[1] as string, re[2])];
    } catch (err) {
      throw new UsageError(
        `--watch ${JSON.stringify(arg)} is not a valid regular expression: ${(err as Error).message}`,
      );
    }
  }
  if (text.length === 0) throw new UsageError('--watch needs a non-empty pattern');
  return [name, text];
}

export function parseCliArgs(argv: string[]): CliArgs {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  const help = values.help === true;
  const [command, ...args] = positionals;
  if (help) return { help, json: false, html: undefined, options: { command: '', watch: [] } };
  if (command === undefined) throw new UsageError('missing the launcher command after --');
  const watches = values.watch ?? [];
  if (watches.length === 0) throw new UsageError('at least one --watch PATTERN is required');
  const watch: Record<string, WatchPattern> = {};
  for (const w of watches) {
    const [name, pattern] = parseWatch(w);
    if (name in watch) throw new UsageError(`--watch ${JSON.stringify(name)} is given twice`);
    watch[name] = pattern;
  }
  const html = values.html;
  if (html !== undefined) {
    const dir = dirname(resolve(html));
    if (!existsSync(dir) || !statSync(dir).isDirectory()) {
      throw new UsageError(`--html ${JSON.stringify(html)}: folder ${dir} does not exist`);
    }
  }
  const options: StormOptions = { command, args, watch };
  const concurrency = integer('--concurrency', values.concurrency);
  const rounds = integer('--rounds', values.rounds);
  const sampleEveryMs = integer('--sample-every', values['sample-every']);
  const timeoutMs = integer('--timeout', values.timeout);
  const settleMs = integer('--settle', values.settle);
  const observeMs = integer('--observe', values.observe);
  if (concurrency !== undefined) options.concurrency = concurrency;
  if (rounds !== undefined) options.rounds = rounds;
  if (sampleEveryMs !== undefined) options.sampleEveryMs = sampleEveryMs;
  if (timeoutMs !== undefined) options.timeoutMs = timeoutMs;
  if (settleMs !== undefined) options.settleMs = settleMs;
  if (observeMs !== undefined) options.observeMs = observeMs;
  if (values.cleanup !== undefined) options.cleanup = values.cleanup;
  return { help, json: values.json === true, html, options };
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      concurrency: { type: 'string', short: 'c' },
      rounds: { type: 'string', short: 'r' },
      watch: { type: 'string', short: 'w', multiple: true },
      cleanup: { type: 'string' },
      json: { type: 'boolean' },
      html: { type: 'string' },
      'sample-every': { type: 'string' },
      timeout: { type: 'string' },
      settle: { type: 'string' },
      observe: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
