import type { ProcessInfo } from './types.js';

/**
 * One ps call. Every column but the last two has a fixed shape: numbers, a state word and
 * `lstart`, which in the C locale is always 24 characters ("Mon Nov  3 09:05:07 2025"). `comm`
 * (argv[0], often a full path with spaces) and `args` (argv joined with spaces) are free text;
 * ps pads `comm` to the width of the longest one, so `args` starts at the same byte offset on every
 * line, which is how the two are told apart (see splitCommArgs).
 */
export const DARWIN_PS_FIELDS = 'pid=,ppid=,pgid=,uid=,state=,lstart=,comm=,args=';
export const darwinListArgs = (): string[] => ['-axww', '-o', DARWIN_PS_FIELDS];
export const darwinIdentityArgs = (pid: number): string[] => ['-ww', '-o', DARWIN_PS_FIELDS, '-p', String(pid)];
/** ps must print English month names and `%c`-style lstart: run it in the C locale. */
export const darwinEnv = (env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv => ({
  ...env,
  LC_ALL: 'C',
  LANG: 'C',
});

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const PREFIX =
  /^ *(\d+) +(\d+) +(\d+) +(-?\d+) +(\S+) +[A-Z][a-z]{2} ([A-Z][a-z]{2}) +(\d{1,2}) (\d\d):(\d\d):(\d\d) (\d{4}) /;

interface Row {
  pid: number;
  ppid: number;
  pgid: number;
  uid: number;
  state: string;
  startTime: number;
  /** comm + padding + ' ' + args, as latin1 so that string offsets are byte offsets. */
  rest: string;
}

/**
 * Parses the output of `ps -o pid=,ppid=,pgid=,uid=,state=,lstart=,comm=,args=` (macOS / BSD ps).
 * lstart is local time: the result is right when parsed in the time zone ps ran in (the same
 * process, in practice). Lines that do not parse are skipped.
 */
export function parsePsOutput(output: string | Buffer): ProcessInfo[] {
  // Work in latin1 (one char per byte): ps pads columns by bytes, not by characters.
  const text = typeof output === 'string' ? Buffer.from(output, 'utf8').toString('latin1') : output.toString('latin1');
  const rows: Row[] = [];
  for (const line of text.split('\n')) {
    const m = PREFIX.exec(line.replace(/\r$/, ''));
    if (!m) continue;
    const month = MONTHS.indexOf(m[6]!);
    if (month < 0) continue;
    const [day, hour, minute, second, year] = [m[7], m[8], m[9], m[10], m[11]].map(Number) as number[];
    rows.push({
      pid: Number(m[1]),
      ppid: Number(m[2]),
      pgid: Number(m[3]),
      uid: Number(m[4]),
      state: m[5]!.charAt(0),
      startTime: new Date(year!, month, day, hour, minute, second).getTime(),
      rest: line.replace(/\r$/, '').slice(m[0].length),
    });
  }
  const split = splitCommArgs(rows.map((r) => r.rest));
  return rows.map((row, i) => {
    const { comm, args } = split[i]!;
    return {
      pid: row.pid,
      ppid: row.ppid,
      uid: row.uid,
      name: basename(comm),
      cmdline: argvOf(comm, args),
      startTime: row.startTime,
      startToken: `${row.pid}:${row.startTime}`,
      pgid: row.pgid,
      state: row.state,
    };
  });
}

/**
 * Splits each "comm<padding> args" (latin1) into UTF-8 comm and args. Preferred: one column offset
 * k valid for every line (a space before it, a non-space at it), choosing, among valid offsets, the
 * one where the most lines have args starting with comm (ps's comm is argv[0]). Fallback per line
 * when the lines are not aligned (hand-edited output, ps variants): the same argv[0] rule, else the
 * first space.
 */
export function splitCommArgs(rests: string[]): { comm: string; args: string }[] {
  const decode = (s: string) => Buffer.from(s, 'latin1').toString('utf8');
  const cut = (rest: string, k: number) => ({ comm: decode(rest.slice(0, k).trimEnd()), args: decode(rest.slice(k)) });
  if (rests.length === 0) return [];
  const shortest = Math.min(...rests.map((r) => r.length));
  let best = -1;
  let bestScore = -1;
  for (let k = 1; k < shortest; k++) {
    if (!rests.every((r) => r.charCodeAt(k - 1) === 32 && r.charCodeAt(k) !== 32)) continue;
    const score = rests.filter((r) => startsWithComm(r.slice(k), r.slice(0, k).trimEnd())).length;
    if (score > bestScore) {
      best = k;
      bestScore = score;
    }
  }
  if (best > 0) return rests.map((r) => cut(r, best));
  return rests.map((r) => {
    for (let k = 1; k < r.length; k++) {
      if (r.charCodeAt(k - 1) === 32 && r.charCodeAt(k) !== 32 && startsWithComm(r.slice(k), r.slice(0, k).trimEnd())) {
        return cut(r, k);
      }
    }
    const space = r.indexOf(' ');
    return space < 0 ? { comm: decode(r), args: '' } : cut(r, space + 1);
  });
}

function startsWithComm(args: string, comm: string): boolean {
  return comm !== '' && (args === comm || args.startsWith(`${comm} `));
}

/**
 * ps joins argv with spaces, so the split is lossy: an argument containing a space comes back
 * as two. argv[0] is recovered whole when args starts with comm (the common case).
 */
function argvOf(comm: string, args: string): string[] {
  if (args === '') return [];
  if (startsWithComm(args, comm)) return [comm, ...args.slice(comm.length).split(' ').filter(Boolean)];
  return args.split(' ').filter(Boolean);
}

function basename(comm: string): string {
  const slash = comm.lastIndexOf('/');
  return slash < 0 || slash === comm.length - 1 ? comm : comm.slice(slash + 1);
}
