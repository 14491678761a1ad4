import { safeEmit, untilAborted } from '@spawnguard/internal';
import type { Emitter } from 'mitt';
import {
  type Entry,
  type LeftoversResult,
  type NotOwnedReason,
  type OwnerRecord,
  type Ownership,
  PACKAGE,
  type RegistryEvents,
} from './types.js';
import { sameOwner, type Verdict } from './verdict.js';

/** How one claim runs: how long it waits for a live owner, how often it looks, how it reaps leftovers. */
export interface ClaimSettings {
  waitMs: number;
  pollMs: number;
  graceMs: number;
  totalTimeoutMs: number;
  /** Kill a dead owner's leftovers and take the file (false: stay not-owned, 'leftovers-pending'). */
  reap: boolean;
}

export interface TakeoverSettings extends ClaimSettings {
  /** After a claim that did not get the file: look again this often (unref'd timer); 0 = never on a timer. */
  retryMs: number;
}

/** What the keeper needs from the registry: reading the file, reaping leftovers, taking the file. */
export interface ClaimHost {
  readonly path: string;
  readonly now: () => number;
  readonly events: Emitter<RegistryEvents>;
  /** Reads the file (moving an untrusted one aside) and decides, checking the owner's identity where needed. */
  look(signal: AbortSignal): Promise<Verdict>;
  /** Kills the trees of a dead owner's entries; `adopted`: proven ours but not stopped (stay recorded). */
  reap(
    entries: Entry[],
    settings: ClaimSettings,
    signal: AbortSignal,
  ): Promise<{ result: LeftoversResult; adopted: Entry[] }>;
  /** Records `adopt` as ours and writes the file with this process as owner. Throws RegistryFileError. */
  take(adopt: Entry[]): Promise<void>;
}

const emptyLeftovers = (): LeftoversResult => ({ killed: [], dropped: [], skipped: [], ownerAlive: null });

/**
 * The one ownership state of a registry and the claims that change it. A claim looks at the file
 * until it can take it, or until its wait for a live owner ends; while it waits or reaps, spawn()
 * joins it. Only the keeper sets the state, and every change is an `ownership` event.
 */
export class OwnershipKeeper {
  #state: Ownership;
  /** Entries of the file while it is not ours: what reapLeftovers() reports as skipped. */
  #pending: Entry[] = [];
  #run: Promise<void> | null = null;
  #lastLeftovers: LeftoversResult | null = null;
  #retry: NodeJS.Timeout | null = null;
  #poll: { timer: NodeJS.Timeout; wake: () => void } | null = null;
  /** Callers awaiting a claim (spawn, claim, reapLeftovers): while there are any, poll timers are ref'd. */
  #waiters = 0;
  #close = new AbortController();

  constructor(
    private readonly host: ClaimHost,
    readonly takeover: TakeoverSettings | null,
  ) {
    this.#state = { state: 'not-owned', reason: 'owner-alive', owner: null, since: host.now(), retryAt: null };
  }

  get state(): Ownership {
    const s = this.#state;
    if (s.state === 'owned') return { ...s, previousOwner: s.previousOwner && { ...s.previousOwner } };
    if (s.state === 'waiting') return { ...s, owner: { ...s.owner } };
    if (s.state === 'claiming' || s.state === 'not-owned') return { ...s, owner: s.owner && { ...s.owner } };
    return { ...s };
  }

  get owned(): boolean {
    return this.#state.state === 'owned';
  }

  get inFlight(): Promise<void> | null {
    return this.#run;
  }

  get closeSignal(): AbortSignal {
    return this.#close.signal;
  }

  /** The leftovers result of the claim that took the file (empty when there was nothing to reap). */
  get lastLeftovers(): LeftoversResult {
    return this.#lastLeftovers ?? emptyLeftovers();
  }

  /** What reapLeftovers() reports while the file is not ours. */
  notOwnedLeftovers(): LeftoversResult {
    const s = this.#state;
    const owner = s.state === 'not-owned' || s.state === 'waiting' ? s.owner : null;
    const reason = s.state === 'not-owned' ? s.reason : 'owner-alive';
    return {
      killed: [],
      dropped: [],
      skipped: this.#pending.map((entry) => ({ entry: { ...entry }, reason })),
      ownerAlive: owner && { ...owner },
    };
  }

  /** Starts a claim, or returns the one in flight. Never leaves an unhandled rejection behind. */
  start(settings: ClaimSettings, first?: Verdict): Promise<void> {
    if (this.#run) return this.#run;
    if (this.#close.signal.aborted) return Promise.resolve();
    this.#clearRetry();
    const run = this.#runClaim(settings, first)
      .catch((error: Error) => {
        if (this.#close.signal.aborted) return;
        const s = this.#state;
        const owner = s.state === 'not-owned' || s.state === 'waiting' || s.state === 'claiming' ? s.owner : null;
        this.#notClaimed('claim-failed', owner, this.#pending, performance.now(), true);
        safeEmit(PACKAGE, this.host.events, 'claimError', { path: this.host.path, error });
        throw error;
      })
      .finally(() => {
        if (this.#run === run) this.#run = null;
      });
    this.#run = run;
    run.catch(() => {});
    return run;
  }

  /** openRegistry's first look found the file free: take it now; a failure reaches the caller (no retry). */
  takeNow(verdict: Extract<Verdict, { kind: 'take' }>): Promise<void> {
    return this.#take(verdict.adopt, verdict.previousOwner, performance.now(), emptyLeftovers());
  }

  /** Awaits `run` as a caller that needs its outcome: keeps the poll timer ref'd; `signal` ends only this wait. */
  async join(run: Promise<void>, signal: AbortSignal | undefined, rethrow: boolean): Promise<void> {
    this.#countWaiter(1);
    try {
      const settled = run.then(
        () => null,
        (error: unknown) => error,
      );
      const error = await untilAborted(settled, signal);
      if (error && rethrow) throw error;
    } finally {
      this.#countWaiter(-1);
    }
  }

  /** shutdown(): ends any wait or reap in flight and every timer; no claim starts afterwards. */
  close(): void {
    this.#close.abort(new Error('the registry is shutting down'));
    this.#clearRetry();
    this.#poll?.wake();
  }

  markClosed(): void {
    this.#set({ state: 'closed', since: this.host.now() });
  }

  async #runClaim(settings: ClaimSettings, first?: Verdict): Promise<void> {
    const started = performance.now();
    const deadline = started + settings.waitMs;
    const signal = this.#close.signal;
    let verdict = first;
    /** The live owner this claim waited for: whom the file is taken from when it released it. */
    let waitedFor: OwnerRecord | null = null;
    for (;;) {
      if (signal.aborted) return;
      verdict ??= await this.host.look(signal);
      if (signal.aborted) return;
      switch (verdict.kind) {
        case 'take':
          return this.#take(verdict.adopt, verdict.previousOwner ?? waitedFor, started, emptyLeftovers());
        case 'leftovers': {
          if (!settings.reap) {
            return this.#notClaimed('leftovers-pending', verdict.previousOwner, verdict.entries, started, false);
          }
          this.#pending = verdict.entries;
          const previous = verdict.previousOwner ?? waitedFor;
          this.#set({ state: 'claiming', owner: previous, since: this.host.now() });
          const { result, adopted } = await this.host.reap(verdict.entries, settings, signal);
          if (signal.aborted) return;
          return this.#take(adopted, previous, started, result);
        }
        case 'other-host':
          return this.#notClaimed('owner-on-other-host', verdict.owner, verdict.entries, started, true);
        case 'alive': {
          const left = deadline - performance.now();
          if (left <= 0) return this.#notClaimed('owner-alive', verdict.owner, verdict.entries, started, true);
          waitedFor = verdict.owner;
          this.#waitFor(verdict.owner, verdict.entries, left);
          await this.#sleep(Math.min(settings.pollMs, left));
        }
      }
      verdict = undefined;
    }
  }

  async #take(adopt: Entry[], previousOwner: OwnerRecord | null, started: number, leftovers: LeftoversResult) {
    await this.host.take(adopt);
    this.#pending = [];
    this.#lastLeftovers = leftovers;
    this.#set({ state: 'owned', since: this.host.now(), previousOwner });
    safeEmit(PACKAGE, this.host.events, 'claimed', {
      path: this.host.path,
      previousOwner: previousOwner && { ...previousOwner },
      waitedMs: Math.round(performance.now() - started),
      leftovers,
    });
  }

  #waitFor(owner: OwnerRecord, entries: Entry[], leftMs: number): void {
    this.#pending = entries;
    const s = this.#state;
    if (s.state === 'waiting' && sameOwner(s.owner, owner)) return;
    const now = this.host.now();
    this.#set({ state: 'waiting', owner, since: now, until: now + Math.round(leftMs) });
    safeEmit(PACKAGE, this.host.events, 'ownerWait', {
      path: this.host.path,
      owner: { ...owner },
      waitMs: Math.round(leftMs),
    });
  }

  #notClaimed(
    reason: NotOwnedReason,
    owner: OwnerRecord | null,
    entries: Entry[],
    started: number,
    retryable: boolean,
  ): void {
    this.#pending = entries;
    const retryMs = retryable && this.takeover ? this.takeover.retryMs : 0;
    const now = this.host.now();
    const retryAt = retryMs > 0 ? now + retryMs : null;
    const s = this.#state;
    const unchanged =
      s.state === 'not-owned' &&
      s.reason === reason &&
      (s.owner === owner || (s.owner !== null && owner !== null && sameOwner(s.owner, owner)));
    if (unchanged) this.#state = { ...s, retryAt };
    else {
      this.#set({ state: 'not-owned', reason, owner, since: now, retryAt });
      safeEmit(PACKAGE, this.host.events, 'notClaimed', {
        path: this.host.path,
        reason,
        owner: owner && { ...owner },
        waitedMs: Math.round(performance.now() - started),
        retryAt,
      });
    }
    if (retryMs > 0 && this.takeover) {
      const settings = { ...this.takeover, waitMs: 0 };
      this.#retry = setTimeout(() => {
        this.#retry = null;
        void this.start(settings);
      }, retryMs);
      this.#retry.unref();
    }
  }

  #set(next: Ownership): void {
    this.#state = next;
    safeEmit(PACKAGE, this.host.events, 'ownership', this.state);
  }

  #clearRetry(): void {
    if (this.#retry) clearTimeout(this.#retry);
    this.#retry = null;
  }

  /** A poll pause: ref'd only while someone awaits the claim, so a background wait never keeps a process alive. */
  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#poll = null;
        resolve();
      };
      const timer = setTimeout(wake, ms);
      if (this.#waiters === 0) timer.unref();
      this.#poll = { timer, wake };
    });
  }

  #countWaiter(delta: 1 | -1): void {
    this.#waiters += delta;
    if (!this.#poll) return;
    if (this.#waiters > 0) this.#poll.timer.ref();
    else this.#poll.timer.unref();
  }
}
