/** One process as seen at listing time. */
export interface ProcessInfo {
  pid: number;
  ppid: number;
  /** Owner. Linux: owner of /proc/<pid> (the effective uid); macOS: ps `uid` (effective); -1 when unknown (Windows). */
  uid: number;
  /** comm / executable name. Linux: the kernel's 15-byte comm; macOS: basename of `comm`; Windows: `Name`. */
  name: string;
  /** argv; [] when unreadable (kernel threads, zombies, other users' processes on some systems). */
  cmdline: string[];
  /** Epoch ms when the process started (best effort; see the README for each platform's precision). */
  startTime: number;
  /**
   * Unique per process incarnation. Linux: `${bootId}:${startTicks}`; macOS/Windows: `${pid}:${startTime}`.
   * Numbers in plain decimal (see token.ts); compare tokens as strings, never as numbers.
   */
  startToken: string;
  /** Process group id (Linux, macOS). */
  pgid?: number;
  /** One-letter scheduler state where the platform reports it ('R', 'S', 'Z' = zombie, ...). */
  state?: string;
}

export interface ListOptions {
  signal?: AbortSignal;
  /** Upper bound for the whole call in ms. Default 5000. */
  timeoutMs?: number;
}

export type ProcessTableEvents = {
  /** A listing finished (one per shared listing, however many callers joined it). */
  list: { platform: string; count: number; durationMs: number; callers: number };
  /** A listing was abandoned: every caller timed out or aborted; the ps/PowerShell child was killed. */
  abandon: { platform: string; reason: unknown };
};
