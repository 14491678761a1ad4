import { show } from '@spawnguard/internal';
import { CircuitStoreError, isStoreProblem } from './errors.js';
import type { CircuitBreakerEvents } from './events.js';
import { type CircuitSnapshot, type CircuitStore, closedSnapshot, isSnapshot, type ProbeClaim } from './snapshot.js';
import { adoptClosed, type Rules } from './transitions.js';

type StoreEvent = 'storeError' | 'storeReset';
export type ReportStore = <K extends StoreEvent>(type: K, payload: CircuitBreakerEvents[K]) => void;

/**
 * A breaker's view of its store: the last snapshot read from or written to it (the truth while
 * the store is unusable), and every store call wrapped so that no store problem reaches a caller.
 * Each distinct problem is reported once (through `report`), not on every call.
 */
export class StoreLink {
  /** The last state read from or written to the store. */
  memory: CircuitSnapshot;
  /** Set when a write failed: loads are not trusted until a write succeeds again. */
  memoryMode = false;
  /** The problem last reported, so a missing file is reported once, not on every call. */
  private problem: string | undefined;

  constructor(
    private readonly store: CircuitStore,
    private readonly rules: Rules,
    private readonly circuit: string | undefined,
    private readonly report: ReportStore,
  ) {
    this.memory = Object.freeze(closedSnapshot(0, rules.cooldownMs));
  }

  /** Reads the store (unless it failed us) and adopts what it holds. Never throws for the store. */
  load(): CircuitSnapshot {
    if (this.memoryMode) return this.memory;
    let loaded: unknown;
    try {
      loaded = this.store.load();
    } catch (error) {
      if (isStoreProblem(error)) {
        this.once(`reset:${error.reason}`, 'storeReset', { circuit: this.circuit, reason: error.reason, error });
        return this.adoptClosed();
      }
      this.once(`error:load:${errorCode(error)}`, 'storeError', { circuit: this.circuit, operation: 'load', error });
      return this.memory;
    }
    if (loaded === this.memory) return this.memory;
    if (loaded === undefined) return this.adoptClosed();
    if (!isSnapshot(loaded)) {
      const error = new CircuitStoreError('corrupt', `store.load() returned an invalid snapshot: ${show(loaded)}`);
      this.once('reset:corrupt', 'storeReset', { circuit: this.circuit, reason: 'corrupt', error });
      return this.adoptClosed();
    }
    this.problem = undefined;
    this.memory = loaded;
    return loaded;
  }

  /** Makes `next` the state, in memory and (if it can) in the store. */
  commit(next: CircuitSnapshot): void {
    const frozen = Object.freeze(next);
    this.memory = frozen;
    try {
      this.store.save(frozen);
      this.memoryMode = false;
      this.problem = undefined;
    } catch (error) {
      this.memoryMode = true;
      this.saveFailed(error);
    }
  }

  /** True when the store can grant probe leases itself (and is usable right now). */
  get claimsLeases(): boolean {
    return this.store.claimProbe !== undefined && !this.memoryMode;
  }

  /** The store's claimProbe; undefined when it failed (reported; decisions go on from memory). */
  claimLease(claim: ProbeClaim) {
    try {
      return this.store.claimProbe?.(claim);
    } catch (error) {
      this.memoryMode = true;
      this.saveFailed(error);
      return undefined;
    }
  }

  /** The store's releaseProbe, if it has one and is usable; a failure is reported, nothing more. */
  releaseLease(claim: ProbeClaim): void {
    if (this.store.releaseProbe === undefined || this.memoryMode) return;
    try {
      this.store.releaseProbe(claim);
    } catch (error) {
      this.saveFailed(error);
    }
  }

  private adoptClosed(): CircuitSnapshot {
    const next = adoptClosed(this.memory, this.rules);
    if (next !== this.memory) this.memory = Object.freeze(next);
    return this.memory;
  }

  private saveFailed(error: unknown): void {
    this.once(`error:save:${errorCode(error)}`, 'storeError', { circuit: this.circuit, operation: 'save', error });
  }

  private once<K extends StoreEvent>(key: string, type: K, payload: CircuitBreakerEvents[K]): void {
    if (key === this.problem) return;
    this.problem = key;
    this.report(type, payload);
  }
}

function errorCode(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const { code, name } = error as { code?: unknown; name?: unknown };
    if (typeof code === 'string') return code;
    if (typeof name === 'string') return name;
  }
  return typeof error;
}
