import type { ChildProcess } from 'node:child_process';
import { checkOptions, checkSignal, checkString, safeEmit } from '@spawnguard/internal';
import { groupMembers, killTree } from '@spawnguard/orphan-reaper';
import type { Emitter } from 'mitt';
import type { ClaimOptions, Registry, ShutdownOptions, SpawnResult, StopOptions } from './api.js';
import { checkSpawnArgs, startChild } from './child.js';
import { notOwnedError, RegistryClosedError } from './errors.js';
import { OwnershipKeeper, type TakeoverSettings } from './ownership.js';
import { planSpawnOptions, processGroupOf, type RegistrySpawnOptions } from './spawn-options.js';
import { IDENTITY_TIMEOUT_MS, stopMany } from './stop.js';
import { copy, newestFirst, RegistryStore } from './store.js';
import {
  type Entry,
  type GroupMember,
  type LeftoversResult,
  type OwnerRecord,
  type Ownership,
  PACKAGE,
  type RegistryEvents,
  type RegistryState,
  type StopResult,
} from './types.js';
import { checkClaimOptions, checkShutdownOptions, checkStopOptions, type StopSettings } from './validate.js';

/** A registry file held by this process; openRegistry() (open.ts) makes one. */
export class ProcessRegistry implements Registry {
  readonly #store: RegistryStore;
  readonly #keeper: OwnershipKeeper;
  /** shutdown() was called: spawn() refuses from now on (ownership turns 'closed' when it is done). */
  #closing = false;
  #shutdown: Promise<StopResult> | null = null;
  /** Fired by shutdown({ force: true }): every tree still running gets SIGKILL at once. */
  #force = new AbortController();
  /** Exits being handled (the child's group looked at, the file written): what stops and prunes wait for first. */
  readonly #exiting = new Set<Promise<void>>();

  constructor(
    readonly path: string,
    readonly owner: OwnerRecord,
    now: () => number,
    readonly events: Emitter<RegistryEvents>,
    takeover: TakeoverSettings | null,
    bootId: string | null,
  ) {
    this.#store = new RegistryStore(path, owner, now, events, bootId, () => this.#keeper.state.state === 'closed');
    this.#keeper = new OwnershipKeeper(this.#store, takeover);
  }

  get ownership(): Ownership {
    return this.#keeper.state;
  }

  get state(): RegistryState {
    const { state } = this.#keeper.state;
    return state === 'owned' || state === 'closed' ? state : 'not-owned';
  }

  get notOwned() {
    const o = this.#keeper.state;
    if (o.state === 'not-owned') return { reason: o.reason, owner: o.owner };
    if (o.state === 'waiting') return { reason: 'owner-alive' as const, owner: o.owner };
    if (o.state === 'claiming') return { reason: 'leftovers-pending' as const, owner: o.owner };
    return null;
  }

  /** The first look, awaited by openRegistry: a free file is taken now (errors reach the caller). */
  async open(signal: AbortSignal | undefined): Promise<void> {
    const verdict = await this.#store.look(signal ?? this.#keeper.closeSignal);
    if (verdict.kind === 'take') return this.#keeper.takeNow(verdict);
    void this.#keeper.start(this.#keeper.takeover ?? TAKEOVER_OFF, verdict);
  }

  entries(): Entry[] {
    return this.#store.entries().map(copy);
  }

  list(filter: { session?: string; type?: string } = {}): Entry[] {
    const f = checkOptions('filter', filter);
    const session = f.session === undefined ? undefined : checkString('filter.session', f.session);
    const type = f.type === undefined ? undefined : checkString('filter.type', f.type);
    return this.entries().filter(
      (entry) => (session === undefined || entry.session === session) && (type === undefined || entry.type === type),
    );
  }

  async spawn(command: string, args: readonly string[], options: RegistrySpawnOptions): Promise<SpawnResult> {
    const { session, type, signal, opts } = checkSpawnArgs(command, args, options);
    const planned = planSpawnOptions(process.platform, opts);
    signal?.throwIfAborted();
    await this.#whenOwned(signal);

    const started = await startChild(command, args, planned, signal);
    const { child, pid, identity } = started;
    const entry: Entry = {
      pid,
      startToken: identity?.startToken ?? '',
      pgid: processGroupOf(process.platform, pid),
      session,
      type,
      spawnedAt: this.#store.now(),
      command,
    };
    if (signal?.aborted || this.#closing || !this.#keeper.owned) {
      await this.#discard(entry, child);
      signal?.throwIfAborted();
      this.#assertCanSpawn();
    }
    if (!identity || started.exitedEarly) return { child, entry: copy(entry) }; // already gone: nothing to record

    this.#store.track(entry);
    started.onExit((code, sig) => {
      const handled = this.#childExited(entry, code, sig).finally(() => this.#exiting.delete(handled));
      this.#exiting.add(handled);
    });
    await this.#persist();
    safeEmit(PACKAGE, this.events, 'spawned', { entry: copy(entry) });
    return { child, entry: copy(entry) };
  }

  /**
   * Resolves once the file is ours. While a claim waits for the previous owner or reaps its
   * leftovers, spawn() waits for it; a registry opened with `takeover` that is not owned looks once
   * more (the owner may have exited since). Otherwise RegistryNotOwnedError, naming the owner.
   */
  async #whenOwned(signal: AbortSignal | undefined): Promise<void> {
    let lookedAgain = false;
    for (;;) {
      if (this.#closing) throw new RegistryClosedError(this.path);
      if (this.#keeper.owned) return;
      const running = this.#keeper.inFlight;
      if (running) await this.#keeper.join(running, signal, false);
      else if (this.#keeper.takeover && !lookedAgain) {
        lookedAgain = true;
        await this.#keeper.join(this.#keeper.start({ ...this.#keeper.takeover, waitMs: 0 }), signal, false);
      } else return this.#assertCanSpawn();
    }
  }

  #assertCanSpawn(): void {
    const o = this.#keeper.state;
    if (this.#closing || o.state === 'closed') throw new RegistryClosedError(this.path);
    if (o.state !== 'owned') throw notOwnedError(this.path, o, this.#store.lastTakeError);
  }

  /** A child started but must not be kept (aborted, or shutdown began meanwhile): end its tree. */
  async #discard(entry: Entry, child: ChildProcess): Promise<void> {
    if (entry.startToken) {
      await killTree(entry.pid, { force: true, startToken: entry.startToken }).catch(() => child.kill('SIGKILL'));
    } else child.kill('SIGKILL');
  }

  /**
   * A recorded child exited. When it led a process group that still has members (the helpers of a
   * server that crashed), it stays recorded as a group record, its members by pid + start token,
   * found right now (the one moment the group number proves membership: see orphan-reaper's
   * groupMembers); otherwise its entry goes.
   */
  async #childExited(entry: Entry, code: number | null, sig: NodeJS.Signals | null): Promise<void> {
    const members = await this.#groupLeft(entry);
    if (members.length > 0 && this.#store.has(entry)) {
      this.#store.markExited(entry, this.#store.now(), members);
      await this.#persist();
    } else if (this.#store.remove(entry)) await this.#persist();
    safeEmit(PACKAGE, this.events, 'exited', {
      entry: copy(entry),
      code,
      signal: sig,
      members: members.map((m) => ({ ...m })),
    });
  }

  async #groupLeft(entry: Entry): Promise<GroupMember[]> {
    if (entry.pgid !== entry.pid || !entry.startToken || !this.#store.has(entry)) return [];
    try {
      return await groupMembers(
        { pid: entry.pid, startToken: entry.startToken },
        { signal: AbortSignal.timeout(IDENTITY_TIMEOUT_MS) },
      );
    } catch {
      return []; // the listing failed: nothing can be proven, nothing is kept
    }
  }

  /** Lets exits being handled finish, so what follows sees their group records. */
  async #settleExits(): Promise<void> {
    while (this.#exiting.size > 0) await Promise.all(this.#exiting);
  }

  /** Persists the current state when the file is ours; a failure becomes a writeError event. */
  #persist(): Promise<void> {
    return this.#keeper.owned ? this.#store.persist() : Promise.resolve();
  }

  async pruneDead(options: { signal?: AbortSignal } = {}): Promise<Entry[]> {
    const opts = checkOptions('options', options);
    const signal = checkSignal('options.signal', opts.signal);
    signal?.throwIfAborted();
    await this.#settleExits();
    const { dropped, changed } = await this.#store.pruneDead(signal);
    if (changed) await this.#persist();
    for (const { entry, reason } of dropped) safeEmit(PACKAGE, this.events, 'dropped', { entry: copy(entry), reason });
    return dropped.map(({ entry }) => copy(entry));
  }

  async reapSession(session: string, options: StopOptions = {}): Promise<StopResult> {
    checkString('session', session);
    const opts = checkStopOptions('options', options);
    opts.signal?.throwIfAborted();
    await this.#settleExits();
    return this.#stopOwn(newestFirst(this.#store.entries().filter((entry) => entry.session === session)), opts);
  }

  shutdown(options: ShutdownOptions = {}): Promise<StopResult> {
    let opts: ReturnType<typeof checkShutdownOptions>;
    try {
      opts = checkShutdownOptions('options', options);
      opts.signal?.throwIfAborted();
    } catch (error) {
      return Promise.reject(error);
    }
    if (opts.force) this.#force.abort(); // escalates a shutdown in progress, or makes this one forced
    if (this.#shutdown) return this.#shutdown;
    this.#closing = true; // from now on spawn() refuses, and a spawn in flight discards its child
    this.#keeper.close(); // a claim waiting or reaping ends: a registry that is shutting down takes nothing over
    const run = (async () => {
      const claim = this.#keeper.inFlight;
      if (claim) await claim.catch(() => {});
      const owned = this.#keeper.owned;
      await this.#settleExits();
      const result = await this.#stopOwn(newestFirst(this.#store.entries()), opts);
      this.#keeper.markClosed();
      // The last write releases the file (owner null) when no child is left, so any next owner may claim it.
      if (owned) await this.#store.persist();
      return result;
    })();
    this.#shutdown = run;
    // An aborted shutdown may be retried: forget it, but keep refusing spawns.
    run.catch(() => {
      if (this.#shutdown === run) this.#shutdown = null;
    });
    return run;
  }

  async #stopOwn(entries: Entry[], opts: StopSettings): Promise<StopResult> {
    const result: StopResult = { reaped: [], dropped: [], failed: [] };
    await stopMany(entries, { ...opts, force: this.#force.signal }, async (entry, outcome) => {
      if (outcome.kind === 'failed') {
        result.failed.push({ entry: copy(entry), error: outcome.error });
        return;
      }
      this.#store.remove(entry);
      // Persist even when the child's 'exit' handler removed it first: that handler's write is not
      // awaited here, and the caller must find the file up to date when this call resolves.
      await this.#persist();
      if (outcome.kind === 'reaped') {
        result.reaped.push({ entry: copy(entry), result: outcome.result });
        safeEmit(PACKAGE, this.events, 'reaped', { entry: copy(entry), result: outcome.result, leftover: false });
      } else {
        result.dropped.push(copy(entry));
        safeEmit(PACKAGE, this.events, 'dropped', { entry: copy(entry), reason: outcome.reason });
      }
    });
    return result;
  }

  async claim(options: ClaimOptions = {}): Promise<Ownership> {
    const opts = checkClaimOptions(options, this.#keeper.takeover);
    opts.signal?.throwIfAborted();
    if (this.#closing) throw new RegistryClosedError(this.path);
    const deadline = performance.now() + opts.waitMs;
    for (let started = false; !this.#keeper.owned && !started; ) {
      let run = this.#keeper.inFlight;
      if (!run) {
        started = true;
        run = this.#keeper.start({ ...opts, waitMs: Math.max(0, deadline - performance.now()) });
      }
      await this.#keeper.join(run, opts.signal, started);
      if (this.#closing) throw new RegistryClosedError(this.path);
    }
    return this.#keeper.state;
  }

  async reapLeftovers(options: StopOptions = {}): Promise<LeftoversResult> {
    const opts = checkStopOptions('options', options);
    opts.signal?.throwIfAborted();
    if (this.#closing || this.#keeper.state.state === 'closed') throw new RegistryClosedError(this.path);
    if (this.#keeper.owned) return { killed: [], dropped: [], skipped: [], ownerAlive: null };
    // Look again: the other owner may have exited, or the file changed, since openRegistry().
    const base = this.#keeper.takeover ?? TAKEOVER_OFF;
    const run =
      this.#keeper.inFlight ??
      this.#keeper.start({
        ...base,
        waitMs: 0,
        reap: true,
        graceMs: opts.graceMs,
        totalTimeoutMs: opts.totalTimeoutMs,
      });
    await this.#keeper.join(run, opts.signal, true);
    if (this.#closing) throw new RegistryClosedError(this.path);
    return this.#keeper.owned ? this.#keeper.lastLeftovers : this.#keeper.notOwnedLeftovers();
  }
}

/** Without `takeover`: one look, no wait, a dead owner's leftovers wait for reapLeftovers()/claim(). */
const TAKEOVER_OFF = { waitMs: 0, pollMs: 100, retryMs: 0, graceMs: 3000, totalTimeoutMs: 10_000, reap: false };
