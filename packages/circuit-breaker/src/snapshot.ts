/**
 * What a store keeps. `halfOpen` is not stored: it is `open` whose cooldown has run out, computed
 * from the clock when someone asks, so no timer is needed and no process has to be alive to move it.
 */
export interface CircuitSnapshot {
  readonly state: 'closed' | 'open';
  /** Consecutive failures (across every process sharing the store). */
  readonly failures: number;
  /** When the circuit last opened (ms since the epoch, from `now()`); null while closed. */
  readonly openedAt: number | null;
  /** The cooldown of the current open period; grows with each failed probe, reset by a success. */
  readonly cooldownMs: number;
  /** Bumped on every state change; results of calls started in an older generation are ignored. */
  readonly generation: number;
  /** Half-open probe lease: which breaker instance probes, and until when the others must wait. */
  readonly probe: ProbeLease | null;
}

export interface ProbeLease {
  readonly owner: string;
  readonly until: number;
}

/** A breaker asking for the probe lease of one open period (see CircuitStore.claimProbe). */
export interface ProbeClaim {
  /** The breaker instance asking (unique across processes). */
  readonly owner: string;
  /** The open period: its generation and when it opened. */
  readonly generation: number;
  readonly openedAt: number | null;
  /** How long a granted lease lasts: the period's cooldown. */
  readonly cooldownMs: number;
  /** The breaker's clock. Read it when comparing, after reading the holder's lease, not before. */
  now(): number;
}

/**
 * Shares a circuit's state. `load()` returns the last saved snapshot, or undefined when nothing
 * was saved yet. Either method may throw: a `CircuitStoreError` (code `ECIRCUITSTORE`) from
 * `load()` means "no usable state, treat as closed"; anything else means the store is unavailable
 * and the breaker keeps deciding from memory. Snapshots are read-only: never mutate one.
 */
export interface CircuitStore {
  load(): CircuitSnapshot | undefined;
  save(snapshot: CircuitSnapshot): void;
  /**
   * Optional: grants the half-open probe lease of one open period to one claimant at a time,
   * atomically for everyone sharing the store, and returns the lease in force afterwards (the
   * claimant holds it when `owner` is its own). A lease lasts `cooldownMs` from when it was granted,
   * or until released; one that ends more than `cooldownMs` ahead (a clock stepped back) counts as
   * expired. Without this method the lease is the snapshot's `probe` field: a read-modify-write,
   * exclusive only among breakers of one process.
   */
  claimProbe?(claim: ProbeClaim): ProbeLease;
  /** Optional, with claimProbe: hands the claimant's lease back early (its probe gave no verdict). */
  releaseProbe?(claim: ProbeClaim): void;
}

export function closedSnapshot(generation: number, cooldownMs: number): CircuitSnapshot {
  return { state: 'closed', failures: 0, openedAt: null, cooldownMs, generation, probe: null };
}

const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/** Validates a snapshot from a store; anything else is corrupt. */
export function isSnapshot(value: unknown): value is CircuitSnapshot {
  if (typeof value !== 'object' || value === null) return false;
  const s = value as Record<string, unknown>;
  if (s.state !== 'closed' && s.state !== 'open') return false;
  if (!isCount(s.failures) || !isCount(s.generation)) return false;
  if (!isFiniteNumber(s.cooldownMs) || s.cooldownMs < 0) return false;
  if (s.state === 'open' ? !isFiniteNumber(s.openedAt) : s.openedAt !== null && !isFiniteNumber(s.openedAt)) {
    return false;
  }
  if (s.probe === null) return true;
  if (typeof s.probe !== 'object' || s.probe === undefined) return false;
  const lease = s.probe as Record<string, unknown>;
  return typeof lease.owner === 'string' && isFiniteNumber(lease.until);
}

/** Copies only the snapshot fields, so extra fields in a file never travel further. */
export function pickSnapshot(s: CircuitSnapshot): CircuitSnapshot {
  return {
    state: s.state,
    failures: s.failures,
    openedAt: s.openedAt,
    cooldownMs: s.cooldownMs,
    generation: s.generation,
    probe: s.probe === null ? null : { owner: s.probe.owner, until: s.probe.until },
  };
}
