import { performance } from 'node:perf_hooks';
import { pause } from '@spawnguard/internal';
import { listProcesses, type ProcessInfo } from '@spawnguard/process-table';
import type { CompiledWatch } from './options.js';

export interface Snapshot {
  /** performance.now() when the listing finished. */
  at: number;
  listingMs: number;
  /** Matching processes per watch name. */
  matches: Map<string, ProcessInfo[]>;
}

/**
 * Takes process-table samples one at a time: the periodic loop and on-demand samples share one
 * chain, so a listing never overlaps the next and `sample()` always returns a listing that started
 * after the call (the round-closing sample sees everything the round left running).
 */
export class Sampler {
  samples = 0;
  errors = 0;
  maxListingMs = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private running = false;
  private readonly stopped = new AbortController();
  private loopDone: Promise<void> = Promise.resolve();

  constructor(
    private readonly watches: readonly CompiledWatch[],
    /** Processes never counted: the storm itself, its ancestors, its own helper children. */
    private readonly excluded: (info: ProcessInfo) => boolean,
    private readonly onSnapshot: (snapshot: Snapshot) => void,
  ) {}

  sample(): Promise<Snapshot | null> {
    const next = this.chain.then(() => this.take());
    this.chain = next.catch(() => undefined);
    return next;
  }

  start(everyMs: number): void {
    if (this.running) return;
    this.running = true;
    this.loopDone = (async () => {
      while (this.running) {
        await this.sample();
        // A full pause after every listing, not a fixed period: listings can be synchronous (Linux
        // reads /proc), and the launchers' exit events need the event loop between them.
        if (this.running) await pause(everyMs, this.stopped.signal);
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.stopped.abort();
    await this.loopDone;
  }

  private async take(): Promise<Snapshot | null> {
    const began = performance.now();
    let list: ProcessInfo[];
    try {
      list = await listProcesses();
    } catch {
      // A slow or failed listing (ProcessListTimeoutError) costs one sample, not the storm.
      this.errors++;
      return null;
    }
    const at = performance.now();
    const matches = new Map<string, ProcessInfo[]>(this.watches.map((w) => [w.name, []]));
    const byPid = new Map(list.map((p) => [p.pid, p]));
    for (const info of list) {
      if (info.cmdline.length === 0 || this.excluded(info) || isUnexecutedFork(info, byPid)) continue;
      const joined = info.cmdline.join(' ');
      for (const watch of this.watches) if (watch.test(joined)) matches.get(watch.name)?.push(info);
    }
    this.samples++;
    this.maxListingMs = Math.max(this.maxListingMs, at - began);
    const snapshot = { at, listingMs: at - began, matches };
    this.onSnapshot(snapshot);
    return snapshot;
  }
}

/**
 * Between fork() and exec() a new child is a copy of its parent, name and argv included: a launcher
 * starting its daemon shows up for a moment as a second launcher. Such a copy is not counted; it is
 * counted as what it becomes once it has exec'd.
 */
function isUnexecutedFork(info: ProcessInfo, byPid: Map<number, ProcessInfo>): boolean {
  const parent = byPid.get(info.ppid);
  return (
    parent !== undefined &&
    parent.name === info.name &&
    parent.cmdline.length === info.cmdline.length &&
    parent.cmdline.every((arg, i) => arg === info.cmdline[i])
  );
}
