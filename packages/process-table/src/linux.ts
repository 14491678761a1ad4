import { closeSync, fstatSync, openSync, readdirSync, readSync } from 'node:fs';
import type { ProcessInfo } from './types';

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
  if (open < 1 || close < open) return null;
  const pid = Number(text.slice(0, open));
  const rest = text.slice(close + 2).split(' ');
  // rest[0] is field 3, so field N is rest[N - 3].
  const state = rest[0];
  const ppid = Number(rest[1]);
  const pgid = Number(rest[2]);
  const flags = Number(rest[6]);
  const startTicks = Number(rest[19]);
  if (!state || !Number.isSafeInteger(pid) || !Number.isSafeInteger(ppid) || !Number.isSafeInteger(startTicks)) {
    return null;
  }
  return {
    pid,
    name: text.slice(open + 1, close),
    state,
    ppid,
    pgid: Number.isSafeInteger(pgid) ? pgid : 0,
    flags: Number.isSafeInteger(flags) ? flags : 0,
    startTicks,
  };
}

/** Splits /proc/<pid>/cmdline on NUL; the trailing NUL's empty element is dropped. */
export function parseCmdline(text: string): string[] {
  if (text === '') return [];
  const parts = text.split('\0');
  if (parts[parts.length - 1] === '') parts.pop();
  return parts;
}

/**
 * Reads /proc directly, synchronously, with one reusable buffer. Measured on a 2-core VM with
 * ~600 processes: sync open/read/close is 2-3x faster than fs.promises with bounded parallelism
 * (each async call is a thread-pool round trip), and fstat on the open stat file gives the uid
 * for about a fifth of the price of reading /proc/<pid>/status.
 */
export class LinuxProc {
  private buffer = Buffer.allocUnsafe(16 * 1024);
  private cachedBootId: string | undefined;
  private bootTime: number | undefined;

  constructor(readonly root = '/proc') {}

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

  /** Parsed stat of one pid plus the owner uid, or null if it is gone or unreadable. */
  readStat(pid: number | string): (ProcStat & { uid: number }) | null {
    let fd: number;
    try {
      fd = openSync(`${this.root}/${pid}/stat`, 'r');
    } catch {
      return null;
    }
    try {
      const length = this.readFd(fd);
      const stat = parseProcStat(this.buffer.toString('utf8', 0, length));
      if (!stat) return null;
      // The files of /proc/<pid> belong to the task's effective uid (root if it is not dumpable).
      return { ...stat, uid: fstatSync(fd).uid };
    } catch {
      return null;
    } finally {
      closeSync(fd);
    }
  }

  readCmdline(pid: number | string): string[] {
    return parseCmdline(this.readText(`${this.root}/${pid}/cmdline`) ?? '');
  }

  /** Full record for one pid; reads only /proc/<pid>/stat and /proc/<pid>/cmdline. */
  identity(pid: number | string, clock = this.clock()): ProcessInfo | null {
    const stat = this.readStat(pid);
    if (!stat) return null;
    const cmdline = stat.flags & PF_KTHREAD ? [] : this.readCmdline(pid);
    return this.toInfo(stat, cmdline, clock);
  }

  /** Every process in /proc; ones that vanish mid-listing are skipped silently. */
  async list(signal: AbortSignal): Promise<ProcessInfo[]> {
    const names = readdirSync(this.root);
    const clock = this.clock();
    const out: ProcessInfo[] = [];
    let sinceYield = 0;
    for (const name of names) {
      const first = name.charCodeAt(0);
      if (first < 48 || first > 57) continue; // not a pid directory
      if (++sinceYield === BATCH) {
        sinceYield = 0;
        await new Promise((resolve) => setImmediate(resolve));
        if (signal.aborted) throw signal.reason;
      }
      const info = this.identity(name, clock);
      if (info) out.push(info);
    }
    if (signal.aborted) throw signal.reason;
    return out;
  }

  /** Age from the monotonic uptime clock when the token belongs to this boot, else null. */
  ageMs(startToken: string): number | null {
    const ticks = this.ticksOf(startToken);
    return ticks === null ? null : Math.max(0, this.uptimeMs() - ticks * MS_PER_TICK);
  }

  /** Start ticks encoded in a token of this boot, or null (other boot, other platform, malformed). */
  ticksOf(startToken: string): number | null {
    const prefix = `${this.bootId()}:`;
    if (!startToken.startsWith(prefix)) return null;
    const ticks = Number(startToken.slice(prefix.length));
    return Number.isSafeInteger(ticks) && ticks >= 0 ? ticks : null;
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

  private readText(path: string): string | null {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch {
      return null;
    }
    try {
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
