import { closeSync, openSync, read } from 'node:fs';
import type { ProcessInfo } from './types.js';

/** No cmdline is larger (ARG_MAX is 2 MiB); a device where one belongs (a fake /proc) is cut off here. */
const MAX_BYTES = 4 * 1024 * 1024;
const CHUNK = 4096;
const NO_ARGS: string[] = [];

/** Splits /proc/<pid>/cmdline on NUL; the trailing NUL's empty element is dropped. */
export function parseCmdline(text: string): string[] {
  if (text === '') return [];
  const parts = text.split('\0');
  if (parts[parts.length - 1] === '') parts.pop();
  return parts;
}

/** One cmdline read on libuv's threadpool, shared by every caller that wants that process's argv. */
export class CmdlineRead {
  /** Set when a caller gave up on it (timeout, abort): a listing then skips that process. */
  abandoned = false;
  private argv: string[] | undefined;
  private waiters: Array<(argv: string[]) => void> | undefined;

  /** Calls `fn` with the argv once read ([] if it could not be read). */
  onDone(fn: (argv: string[]) => void): void {
    if (this.argv !== undefined) fn(this.argv);
    else if (this.waiters === undefined) this.waiters = [fn];
    else this.waiters.push(fn);
  }

  finish(argv: string[]): void {
    this.argv = argv;
    const waiters = this.waiters;
    this.waiters = undefined;
    if (waiters) for (const fn of waiters) fn(argv);
  }

  /** The argv, or signal.reason as soon as the signal aborts (the read is then abandoned). */
  until(signal: AbortSignal): Promise<string[]> {
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.abandoned = true;
        reject(signal.reason);
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.onDone((argv) => {
        signal.removeEventListener('abort', onAbort);
        resolve(argv);
      });
    });
  }
}

/**
 * Reads /proc/<pid>/cmdline off the main thread. Reading it takes the target's memory-map lock,
 * so it blocks while that process is stuck (hung NFS/FUSE, heavy swap) and no signal interrupts
 * it. Here such a read only holds one threadpool thread and one fd until the kernel answers; at
 * most one read per process is in flight, shared by whoever asks meanwhile.
 */
export class CmdlineReader {
  /** Reads in flight, by `${pid}:${startTicks}` (a reused pid is another process). */
  private readonly pending = new Map<string, CmdlineRead>();
  private readonly spare: Buffer[] = [];

  constructor(
    private readonly root: string,
    private readonly openFlags: number,
    private readonly maxSpare: number,
  ) {}

  /** Reads still waiting for the kernel (abandoned ones included). */
  get inFlight(): number {
    return this.pending.size;
  }

  /**
   * Starts reading one process's argv, or joins the read in flight for it; undefined when it
   * cannot be opened (gone, not ours), or with `skipAbandoned` when an earlier caller gave up on
   * the read in flight (it is left to the kernel: it closes its fd and is forgotten when it ends).
   */
  start(pid: number, startTicks: number, skipAbandoned: boolean): CmdlineRead | undefined {
    const key = `${pid}:${startTicks}`;
    const pending = this.pending.get(key);
    if (pending !== undefined) return pending.abandoned && skipAbandoned ? undefined : pending;
    let fd: number;
    try {
      fd = openSync(`${this.root}/${pid}/cmdline`, this.openFlags);
    } catch {
      return undefined;
    }
    const job = new CmdlineRead();
    this.pending.set(key, job);
    let buffer = this.spare.pop() ?? Buffer.allocUnsafe(CHUNK);
    let length = 0;
    const done = (argv: string[]) => {
      closeSync(fd);
      this.pending.delete(key);
      this.recycle(buffer);
      job.finish(argv);
    };
    const onRead = (error: NodeJS.ErrnoException | null, n: number) => {
      if (error) return done(NO_ARGS);
      const room = buffer.length - length;
      length += n;
      // A short read ends the file (cmdline hands over everything that fits in one read).
      if (n < room || length >= MAX_BYTES) return done(parseCmdline(buffer.toString('utf8', 0, length)));
      const bigger = Buffer.allocUnsafe(buffer.length * 2);
      buffer.copy(bigger, 0, 0, length);
      this.recycle(buffer);
      buffer = bigger;
      read(fd, buffer, length, buffer.length - length, null, onRead);
    };
    read(fd, buffer, 0, buffer.length, null, onRead);
    return job;
  }

  private recycle(buffer: Buffer): void {
    if (buffer.length === CHUNK && this.spare.length < this.maxSpare) this.spare.push(buffer);
  }
}

/**
 * The cmdline reads of one listing: at most `maxInFlight` at once (each holds an fd), started as
 * the listing finds processes, so the threadpool reads while the main thread reads stat files.
 */
export class CmdlineBatch {
  private readonly infos: ProcessInfo[] = [];
  private readonly ticks: number[] = [];
  private cursor = 0;
  private active = 0;
  private stopped = false;
  private readonly inFlight = new Set<CmdlineRead>();
  private onIdle: (() => void) | undefined;

  constructor(
    private readonly reader: CmdlineReader,
    private readonly maxInFlight: number,
  ) {}

  /** Fills `info.cmdline` (in place) once read. */
  add(info: ProcessInfo, startTicks: number): void {
    this.infos.push(info);
    this.ticks.push(startTicks);
    this.pump();
  }

  /** Resolves when every read has ended; rejects with signal.reason at once when it aborts. */
  done(signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.stopped = true;
        for (const read of this.inFlight) read.abandoned = true;
        reject(signal.reason);
      };
      if (signal.aborted) return onAbort();
      this.onIdle = () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.checkIdle();
    });
  }

  private pump(): void {
    while (!this.stopped && this.active < this.maxInFlight && this.cursor < this.infos.length) {
      const i = this.cursor++;
      const info = this.infos[i]!;
      const read = this.reader.start(info.pid, this.ticks[i]!, true);
      if (read === undefined) continue;
      this.active++;
      this.inFlight.add(read);
      read.onDone((argv) => {
        info.cmdline = argv;
        this.active--;
        this.inFlight.delete(read);
        this.pump();
        this.checkIdle();
      });
    }
  }

  private checkIdle(): void {
    if (this.onIdle !== undefined && this.active === 0 && this.cursor === this.infos.length) {
      const onIdle = this.onIdle;
      this.onIdle = undefined;
      onIdle();
    }
  }
}
