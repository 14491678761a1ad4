import { closeSync, constants, fstatSync, openSync, readdirSync, readSync } from 'node:fs';
import { CmdlineBatch, CmdlineReader } from './linux-cmdline.js';
import { linuxTicksOf, parseDecimal } from './token.js';
import type { ProcessInfo } from './types.js';

export { parseCmdline } from './linux-cmdline.js';

/**
 * Clock ticks per second for /proc/<pid>/stat start times. The kernel always reports these in
 * USER_HZ, which is 100 on every mainstream Linux architecture (x86, arm, arm64, riscv, ppc, s390),
 * whatever CONFIG_HZ is; `getconf CLK_TCK` says 100. Node cannot call sysconf, so we assume it.
 */
export const USER_HZ = 100;
const MS_PER_TICK = 1000 / USER_HZ;
/** stat field 9 (flags): the task is a kernel thread (no cmdline, nothing to kill). */
const PF_KTHREAD = 0x00200000;
/** Pids read between two yields to the event loop (abort/timeout are checked there). */
const BATCH = 128;
/**
 * O_NONBLOCK: a FIFO (or a device) where a /proc file belongs opens at once instead of waiting
 * for a writer, and reads from it return at once; O_NOFOLLOW: a link there is not followed.
 */
export const PROC_OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOFOLLOW ?? 0);
/** cmdline reads (each with its fd) in flight at once during a listing, on libuv's threadpool. */
const CMDLINE_IN_FLIGHT = 32;
/** No /proc file we read is larger; a device where one belongs (a fake /proc) is cut off here. */
const MAX_FILE_BYTES = 4 * 1024 * 1024;
const NO_ARGS: string[] = [];

export interface LinuxProcOptions {
  /** Flags for opening cmdline files. Tests drop O_NONBLOCK to make a read that really blocks. */
  cmdlineOpenFlags?: number;
}

export interface ProcStat {
  pid: number;
  name: string;
  state: string;
  ppid: number;
  pgid: number;
  flags: number;
  startTicks: number;
}

/**
 * Parses /proc/<pid>/stat. The name (field 2) is in parentheses and may itself contain spaces
 * and parentheses, so the numeric fields are read after the LAST ')'. Fields after it, 1-based as
 * in proc(5): 3 state, 4 ppid, 5 pgrp, 9 flags, 22 starttime (ticks since boot).
 */
export function parseProcStat(text: string): ProcStat | null {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 2 || close < open || text.charCodeAt(open - 1) !== 32) return null;
  // Strict decimals: Number() would read '' as 0 and ' 12', '1e3' or '0x1f' as numbers.
  const pid = parseDecimal(text.slice(0, open - 1));
  const rest = text.slice(close + 2).split(' ');
  // rest[0] is field 3, so field N is rest[N - 3].
  const state = rest[0];
  const ppid = parseDecimal(rest[1] ?? '');
  const startTicks = parseDecimal(rest[19] ?? '');
  if (!state || pid === null || ppid === null || startTicks === null) return null;
  return {
    pid,
    name: text.slice(open + 1, close),
    state,
    ppid,
    pgid: parseDecimal(rest[2] ?? '') ?? 0,
    flags: parseDecimal(rest[6] ?? '') ?? 0,
    startTicks,
  };
}

/**
 * Reads /proc directly. The directory, each pid's `stat` (with fstat on it for the uid) and the
 * boot files are read synchronously with one reusable buffer: 2-3x faster than fs.promises (each
 * async call is a threadpool round trip), and none of these reads waits for another process.
 * `cmdline` is different: reading it takes the target's memory-map lock, so it blocks while that
 * process is stuck (hung NFS/FUSE, heavy swap). cmdline is therefore read off the main thread, on
 * libuv's threadpool, a few at a time, and every caller waits for it only as long as its signal
 * allows. A read that never comes back keeps its thread and fd until the kernel answers; the pid
 * is not read again meanwhile (later listings give it no argv), so a stuck process costs one thread.
 */
export class LinuxProc {
  private buffer = Buffer.allocUnsafe(16 * 1024);
  private cachedBootId: string | undefined;
  private bootTime: number | undefined;
  /** cmdline reads, off the main thread (see linux-cmdline.ts). */
  readonly cmdlines: CmdlineReader;

  constructor(
    readonly root = '/proc',
    options: LinuxProcOptions = {},
  ) {
    this.cmdlines = new CmdlineReader(root, options.cmdlineOpenFlags ?? PROC_OPEN_FLAGS, CMDLINE_IN_FLIGHT);
  }

  /** Boot id, read once: start ticks only identify a process within one boot. */
  bootId(): string {
    if (this.cachedBootId === undefined) {
      const id = this.readText(`${this.root}/sys/kernel/random/boot_id`)?.trim();
      // Fallback when boot_id is hidden (some sandboxes): the boot time in whole seconds.
      const btime = id ? undefined : /^btime (\d+)$/m.exec(this.readText(`${this.root}/stat`) ?? '')?.[1];
      this.cachedBootId = id || (btime ? `btime-${btime}` : 'unknown-boot');
    }
    return this.cachedBootId;
  }

  /** Milliseconds since boot from /proc/uptime: a monotonic clock that wall-clock changes do not move. */
  uptimeMs(): number {
    const text = this.readText(`${this.root}/uptime`);
    const seconds = text ? Number.parseFloat(text) : Number.NaN;
    if (!Number.isFinite(seconds)) throw new Error(`cannot read ${this.root}/uptime: is /proc mounted?`);
    return seconds * 1000;
  }

  /** Parsed stat of one pid plus the owner uid, or null if it is gone, unreadable or not a regular file. */
  readStat(pid: number | string): (ProcStat & { uid: number }) | null {
    let fd: number;
    try {
      fd = openSync(`${this.root}/${pid}/stat`, PROC_OPEN_FLAGS);
    } catch {
      return null;
    }
    try {
      // The files of /proc/<pid> belong to the task's effective uid (root if it is not dumpable).
      const { uid, mode } = fstatSync(fd);
      if ((mode & constants.S_IFMT) !== constants.S_IFREG) return null; // a FIFO, device, ... in a fake /proc
      const stat = parseProcStat(this.buffer.toString('utf8', 0, this.readFd(fd)));
      return stat ? { ...stat, uid } : null;
    } catch {
      return null;
    } finally {
      closeSync(fd);
    }
  }

  /** Full record for one pid (stat, then cmdline off the main thread); waits for cmdline only until `signal`. */
  async identity(pid: number | string, signal: AbortSignal): Promise<ProcessInfo | null> {
    const stat = this.readStat(pid);
    if (!stat) return null;
    const info = this.toInfo(stat, NO_ARGS, this.clock());
    const read = hasArgv(stat) ? this.cmdlines.start(stat.pid, stat.startTicks, false) : undefined;
    if (read !== undefined) info.cmdline = await read.until(signal);
    return info;
  }

  /** Every process in /proc; ones that vanish mid-listing are skipped silently. */
  async list(signal: AbortSignal): Promise<ProcessInfo[]> {
    const names = readdirSync(this.root);
    const clock = this.clock();
    const out: ProcessInfo[] = [];
    // cmdline is read on the threadpool while this loop reads stat files.
    const cmdlines = new CmdlineBatch(this.cmdlines, CMDLINE_IN_FLIGHT);
    let sinceYield = 0;
    for (const name of names) {
      const first = name.charCodeAt(0);
      if (first < 48 || first > 57) continue; // not a pid directory
      if (++sinceYield === BATCH) {
        sinceYield = 0;
        await new Promise((resolve) => setImmediate(resolve));
        if (signal.aborted) break; // cmdlines.done() rejects with the reason and abandons the reads
      }
      const stat = this.readStat(name);
      if (!stat) continue;
      const info = this.toInfo(stat, NO_ARGS, clock);
      out.push(info);
      if (hasArgv(stat)) cmdlines.add(info, stat.startTicks);
    }
    await cmdlines.done(signal);
    return out;
  }

  /** Age from the monotonic uptime clock when the token belongs to this boot, else null. */
  ageMs(startToken: string): number | null {
    const ticks = this.ticksOf(startToken);
    return ticks === null ? null : Math.max(0, this.uptimeMs() - ticks * MS_PER_TICK);
  }

  /** Start ticks encoded in a token of this boot, or null (other boot, other platform, malformed). */
  ticksOf(startToken: string): number | null {
    return linuxTicksOf(startToken, this.bootId());
  }

  /** `${bootId}:${startTicks}` */
  token(startTicks: number): string {
    return `${this.bootId()}:${startTicks}`;
  }

  /**
   * Wall-clock time of boot, so that startTime = bootTime + ticks is the same in every listing.
   * Estimated as Date.now() - uptime; /proc/uptime has 10 ms resolution, so fresh estimates jitter
   * by a few ms and are ignored unless they move by more than a second (the wall clock was set).
   */
  private clock(): { bootTime: number } {
    const estimate = Date.now() - this.uptimeMs();
    if (this.bootTime === undefined || Math.abs(estimate - this.bootTime) > 1000) this.bootTime = estimate;
    return { bootTime: this.bootTime };
  }

  private toInfo(stat: ProcStat & { uid: number }, cmdline: string[], clock: { bootTime: number }): ProcessInfo {
    return {
      pid: stat.pid,
      ppid: stat.ppid,
      uid: stat.uid,
      name: stat.name,
      cmdline,
      startTime: Math.round(clock.bootTime + stat.startTicks * MS_PER_TICK),
      startToken: this.token(stat.startTicks),
      pgid: stat.pgid,
      state: stat.state,
    };
  }

  /** A small /proc file (uptime, boot_id, stat), or null if missing, unreadable or not a regular file. */
  private readText(path: string): string | null {
    let fd: number;
    try {
      fd = openSync(path, PROC_OPEN_FLAGS);
    } catch {
      return null;
    }
    try {
      if ((fstatSync(fd).mode & constants.S_IFMT) !== constants.S_IFREG) return null;
      return this.buffer.toString('utf8', 0, this.readFd(fd));
    } catch {
      return null;
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Reads a whole /proc file into this.buffer, growing it as needed; returns the length. A short
   * read ends the file: stat and cmdline hand over everything that fits in one read(2), and
   * skipping the extra read that would return 0 saves one syscall per file.
   */
  private readFd(fd: number): number {
    let length = 0;
    for (;;) {
      if (length === this.buffer.length) {
        if (length >= MAX_FILE_BYTES) return length;
        const bigger = Buffer.allocUnsafe(this.buffer.length * 2);
        this.buffer.copy(bigger, 0, 0, length);
        this.buffer = bigger;
      }
      const room = this.buffer.length - length;
      const n = readSync(fd, this.buffer, length, room, null);
      length += n;
      if (n < room) return length;
    }
  }
}

/** Kernel threads have no argv, nor do zombies (their memory is gone): nothing to read. */
function hasArgv(stat: ProcStat): boolean {
  return !(stat.flags & PF_KTHREAD) && stat.state !== 'Z' && stat.state !== 'X';
}
