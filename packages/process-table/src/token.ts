/**
 * Start tokens, strictly. A token names one process incarnation and is compared, never computed
 * with, so it has exactly one spelling per process, and anything else (an empty part, a sign, an
 * exponent, a hex prefix, a space, a leading zero) is not a token at all. `Number()` is never
 * used on a token: it reads '' as 0, '1e3' as 1000, '0x1f' as 31 and ' 12' as 12.
 *
 * - Linux: `<bootId>:<startTicks>`, bootId as read from /proc/sys/kernel/random/boot_id (or
 *   `btime-<seconds>` / `unknown-boot`), startTicks a decimal integer >= 0.
 * - macOS and Windows: `<pid>:<startTime>`, pid a decimal integer >= 0 and startTime integer
 *   epoch ms (negative only for a Windows CreationDate before 1970).
 */
const DECIMAL = /^(?:0|[1-9][0-9]*)$/;
const PID_START = /^(0|[1-9][0-9]*):(-?(?:0|[1-9][0-9]*))$/;

/** A non-negative decimal integer written the one canonical way, or null. */
export function parseDecimal(text: string): number | null {
  if (!DECIMAL.test(text)) return null;
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : null;
}

/** Linux: the start ticks of a token from the boot `bootId`, or null (other boot, malformed). */
export function linuxTicksOf(token: string, bootId: string): number | null {
  if (token.length <= bootId.length + 1 || !token.startsWith(bootId) || token.charCodeAt(bootId.length) !== 58) {
    return null;
  }
  return parseDecimal(token.slice(bootId.length + 1));
}

/** macOS/Windows: `{ pid, startTime }` of a `<pid>:<startTime>` token, or null when malformed. */
export function parsePidStartToken(token: string): { pid: number; startTime: number } | null {
  const match = PID_START.exec(token);
  if (!match) return null;
  const pid = Number(match[1]);
  const startTime = Number(match[2]);
  return Number.isSafeInteger(pid) && Number.isSafeInteger(startTime) ? { pid, startTime } : null;
}
