import type { CircuitState } from './events.js';
import { type CircuitSnapshot, closedSnapshot, type ProbeLease } from './snapshot.js';

/**
 * The circuit's rules as pure functions: (snapshot, event, now) → the next snapshot. No I/O, no
 * clock, no events: the breaker reads the store and the clock, calls these, saves what they
 * return when it differs from what they were given (the same object back means "nothing
 * changed, nothing to save"), and reports the visible state they compute.
 */

/** The options the rules depend on. */
export interface Rules {
  readonly failureThreshold: number;
  readonly cooldownMs: number;
  readonly cooldownGrowth: number;
  readonly maxCooldownMs: number;
}

/** How a call ended. Nothing: aborted by the caller, or an error isFailure() rejects. */
export const Outcome = { Succeeded: 0, Failed: 1, Nothing: 2 } as const;
export type Outcome = (typeof Outcome)[keyof typeof Outcome];

/** What callers see: open whose cooldown ran out is half-open; isolation forces open. */
export function visibleState(s: CircuitSnapshot, isolated: boolean, now: number): CircuitState {
  if (isolated) return 'open';
  if (s.state === 'closed') return 'closed';
  // A clock that went back before openedAt admits a probe: open never outlasts its cooldown.
  return s.openedAt === null || now >= s.openedAt + s.cooldownMs || now < s.openedAt ? 'halfOpen' : 'open';
}

/**
 * A call counts only if the generation it started in is still current, in the state it started
 * in (closed for a normal call, open for a probe): a result from before the last state change
 * (reset, open, close, here or in another process) says nothing about the new state.
 */
export function isCounted(s: CircuitSnapshot, generation: number, probe: boolean): boolean {
  return s.generation === generation && s.state === (probe ? 'open' : 'closed');
}

/**
 * The snapshot after a call ended, given the snapshot read when it ended. A success closes a
 * probed circuit (base cooldown) or clears the failure count; a failure adds one, opens the
 * circuit at the threshold, and reopens a probed one with a grown cooldown. Uncounted calls and
 * `Nothing` change nothing here (a probe's lease is handed back with `withoutLease`). The clock
 * is read only when the circuit opens.
 */
export function settle(
  s: CircuitSnapshot,
  generation: number,
  probe: boolean,
  outcome: Outcome,
  now: () => number,
  rules: Rules,
): CircuitSnapshot {
  if (outcome === Outcome.Nothing || !isCounted(s, generation, probe)) return s;
  if (outcome === Outcome.Succeeded) {
    if (probe) return closedSnapshot(generation + 1, rules.cooldownMs);
    return s.failures === 0 ? s : { ...s, failures: 0 };
  }
  const failures = s.failures + 1;
  if (probe) {
    const grown = Math.min(s.cooldownMs * rules.cooldownGrowth, rules.maxCooldownMs);
    return opened(s, failures, Math.max(grown, s.cooldownMs), now());
  }
  if (failures >= rules.failureThreshold) return opened(s, failures, rules.cooldownMs, now());
  return { ...s, failures };
}

/** Open from now on, for `cooldownMs`, in a new generation. */
export function opened(from: CircuitSnapshot, failures: number, cooldownMs: number, now: number): CircuitSnapshot {
  return { state: 'open', failures, openedAt: now, cooldownMs, generation: from.generation + 1, probe: null };
}

/** reset(): closed, no failures, base cooldown, a new generation. */
export function reset(s: CircuitSnapshot, rules: Rules): CircuitSnapshot {
  return closedSnapshot(s.generation + 1, rules.cooldownMs);
}

/**
 * The store held no usable state: closed. A new generation if that changes anything, so calls
 * that started on the state that vanished do not count.
 */
export function adoptClosed(s: CircuitSnapshot, rules: Rules): CircuitSnapshot {
  if (s.state === 'closed' && s.failures === 0 && s.probe === null) return s;
  return closedSnapshot(s.generation + 1, rules.cooldownMs);
}

/** A probe was admitted holding `lease` (recorded in the snapshot for people and older versions). */
export function withLease(s: CircuitSnapshot, lease: ProbeLease): CircuitSnapshot {
  return { ...s, probe: lease };
}

/** A probe ended without a verdict: its holder's lease leaves the snapshot. */
export function withoutLease(s: CircuitSnapshot, owner: string): CircuitSnapshot {
  return s.probe?.owner === owner ? { ...s, probe: null } : s;
}

/**
 * The lease in force when `owner` asks for the snapshot's lease field at `now`: another owner's
 * running lease, or a new one for `owner` (its own is renewed).
 */
export function snapshotLease(s: CircuitSnapshot, owner: string, now: number): ProbeLease {
  const held = s.probe;
  if (held !== null && held.owner !== owner && leaseLeft(held, s.cooldownMs, now) > 0) return held;
  return { owner, until: now + s.cooldownMs };
}

/**
 * Time left on a probe lease. A lease is never longer than the cooldown it was taken with, so one
 * further in the future (clock stepped back, hand-edited file) is treated as expired.
 */
export function leaseLeft(lease: ProbeLease | null, cooldownMs: number, now: number): number {
  if (lease === null) return 0;
  const left = lease.until - now;
  return left > 0 && left <= cooldownMs ? left : 0;
}

/** Time left before an open circuit admits a probe. */
export function remainingCooldown(s: CircuitSnapshot, now: number): number {
  return s.openedAt === null ? 0 : Math.max(0, s.openedAt + s.cooldownMs - now);
}
