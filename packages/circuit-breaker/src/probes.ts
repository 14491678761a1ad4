import type { CircuitSnapshot, ProbeClaim, ProbeLease } from './snapshot.js';
import type { StoreLink } from './store-link.js';
import { isCounted, leaseLeft, snapshotLease, withLease, withoutLease } from './transitions.js';

/**
 * A breaker's half-open probes: how many of its own run in the current open period (at most
 * `max`), and the probe lease that keeps every other breaker sharing the store out meanwhile:
 * the store's own exclusive claim when it has one (fileStore), else the snapshot's lease field.
 */
export class Probes {
  private generation = -1;
  private count = 0;

  constructor(
    private readonly owner: string,
    private readonly max: number,
    private readonly link: StoreLink,
    private readonly clock: () => number,
  ) {}

  /** This breaker's probes running in the open period `generation`. */
  inFlight(generation: number): number {
    return this.generation === generation ? this.count : 0;
  }

  /** Takes a probe slot and the lease (undefined), or says how long to wait (the refusal's retryAfterMs). */
  admit(snapshot: CircuitSnapshot): number | undefined {
    const full = this.inFlight(snapshot.generation) >= this.max;
    const lease = full ? snapshot.probe : this.claim(snapshot);
    if (full || lease?.owner !== this.owner) return leaseLeft(lease, snapshot.cooldownMs, this.clock());
    if (this.generation !== snapshot.generation) {
      this.generation = snapshot.generation;
      this.count = 0;
    }
    this.count++;
    this.link.commit(withLease(snapshot, lease));
    return undefined;
  }

  /** One of this breaker's probes of `generation` ended. */
  ended(generation: number): void {
    if (this.generation === generation && this.count > 0) this.count--;
  }

  /**
   * A probe of `generation` ended without a verdict (`snapshot` is the state read then): the last
   * one of ours hands the lease back, so the next call (anywhere) may probe.
   */
  noVerdict(snapshot: CircuitSnapshot, generation: number): void {
    if (this.inFlight(generation) > 0 || !isCounted(snapshot, generation, true)) return;
    this.link.releaseLease(this.claimFor(snapshot));
    const next = withoutLease(snapshot, this.owner);
    if (next !== snapshot) this.link.commit(next);
  }

  /** How long a half-open caller should wait: until our probe slots free up or another's lease ends. */
  wait(snapshot: CircuitSnapshot, now: number): number {
    const left = leaseLeft(snapshot.probe, snapshot.cooldownMs, now);
    if (left > 0 && snapshot.probe?.owner !== this.owner) return left;
    return this.inFlight(snapshot.generation) >= this.max ? left : 0;
  }

  /** The lease in force after asking for it. */
  private claim(snapshot: CircuitSnapshot): ProbeLease {
    const claimed = this.link.claimsLeases ? this.link.claimLease(this.claimFor(snapshot)) : undefined;
    return claimed ?? snapshotLease(snapshot, this.owner, this.clock());
  }

  private claimFor(snapshot: CircuitSnapshot): ProbeClaim {
    const { generation, openedAt, cooldownMs } = snapshot;
    return { owner: this.owner, generation, openedAt, cooldownMs, now: this.clock };
  }
}
