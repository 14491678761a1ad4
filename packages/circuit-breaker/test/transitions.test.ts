/**
 * The rules alone: pure functions from (snapshot, event, now) to the next snapshot, with no store,
 * no clock and no events. The same object back means "nothing changed, nothing to save".
 */
import { describe, expect, it } from 'vitest';
import type { CircuitSnapshot } from '../src/index.js';
import {
  adoptClosed,
  isCounted,
  leaseLeft,
  Outcome,
  type Rules,
  remainingCooldown,
  reset,
  settle,
  snapshotLease,
  visibleState,
  withLease,
  withoutLease,
} from '../src/transitions.js';

const rules: Rules = { failureThreshold: 3, cooldownMs: 1_000, cooldownGrowth: 2, maxCooldownMs: 3_000 };
const T = 1_000_000;
const closed = (fields: Partial<CircuitSnapshot> = {}): CircuitSnapshot => ({
  state: 'closed',
  failures: 0,
  openedAt: null,
  cooldownMs: 1_000,
  generation: 5,
  probe: null,
  ...fields,
});
const open = (fields: Partial<CircuitSnapshot> = {}) =>
  closed({ state: 'open', failures: 3, openedAt: T, generation: 6, ...fields });
/** A clock that must not be read: the rules read it only when the circuit opens. */
const noClock = () => {
  throw new Error('the clock was read');
};
const at = (now: number) => () => now;

describe('settle: what a finished call does', () => {
  it('a success of a closed call clears the count, and changes nothing (same object) when it was 0', () => {
    const zero = closed();
    expect(settle(zero, 5, false, Outcome.Succeeded, noClock, rules)).toBe(zero);
    expect(settle(closed({ failures: 2 }), 5, false, Outcome.Succeeded, noClock, rules)).toEqual(closed());
  });

  it('failures count up without the clock, and the threshold opens in a new generation at now', () => {
    expect(settle(closed(), 5, false, Outcome.Failed, noClock, rules)).toEqual(closed({ failures: 1 }));
    expect(settle(closed({ failures: 2 }), 5, false, Outcome.Failed, at(T), rules)).toEqual(open());
  });

  it('a probe success closes with the base cooldown; a probe failure reopens with the grown, capped cooldown', () => {
    const probed = open({ cooldownMs: 2_000, probe: { owner: 'me', until: T + 3_000 } });
    expect(settle(probed, 6, true, Outcome.Succeeded, noClock, rules)).toEqual(closed({ generation: 7 }));
    expect(settle(probed, 6, true, Outcome.Failed, at(T + 5_000), rules)).toEqual(
      open({ failures: 4, openedAt: T + 5_000, cooldownMs: 3_000, generation: 7 }),
    );
  });

  it('a call from another generation, or from the other state, counts for nothing', () => {
    const s = closed({ failures: 2 });
    expect(isCounted(s, 4, false)).toBe(false);
    expect(isCounted(s, 5, true)).toBe(false); // a probe, but the circuit is closed now
    for (const outcome of [Outcome.Succeeded, Outcome.Failed, Outcome.Nothing]) {
      expect(settle(s, 4, false, outcome, noClock, rules)).toBe(s);
      expect(settle(s, 5, true, outcome, noClock, rules)).toBe(s);
      expect(settle(s, 5, false, Outcome.Nothing, noClock, rules)).toBe(s);
    }
  });
});

describe('states, resets and leases', () => {
  it('visibleState: open turns half-open when the cooldown has run out, or when the clock went back', () => {
    expect(visibleState(closed(), false, T)).toBe('closed');
    expect(visibleState(closed(), true, T)).toBe('open');
    expect(visibleState(open(), false, T + 999)).toBe('open');
    expect(visibleState(open(), false, T + 1_000)).toBe('halfOpen');
    expect(visibleState(open(), false, T - 1)).toBe('halfOpen');
    expect(remainingCooldown(open(), T + 400)).toBe(600);
    expect(remainingCooldown(open(), T + 4_000)).toBe(0);
  });

  it('reset and adoptClosed start a new generation, adoptClosed only when something changes', () => {
    expect(reset(open({ cooldownMs: 3_000 }), rules)).toEqual(closed({ generation: 7 }));
    const fresh = closed();
    expect(adoptClosed(fresh, rules)).toBe(fresh);
    expect(adoptClosed(closed({ failures: 1 }), rules)).toEqual(closed({ generation: 6 }));
  });

  it('the snapshot lease: taken unless another owner holds a running one; never longer than a cooldown', () => {
    const s = open();
    expect(snapshotLease(s, 'me', T + 1_000)).toEqual({ owner: 'me', until: T + 2_000 });
    const held = withLease(s, { owner: 'other', until: T + 1_500 });
    expect(snapshotLease(held, 'me', T + 1_200)).toEqual({ owner: 'other', until: T + 1_500 });
    expect(snapshotLease(held, 'me', T + 1_500)).toEqual({ owner: 'me', until: T + 2_500 }); // expired
    expect(snapshotLease(held, 'other', T + 1_200)).toEqual({ owner: 'other', until: T + 2_200 }); // renewed
    expect(leaseLeft({ owner: 'x', until: T + 5_000 }, 1_000, T)).toBe(0); // more than a cooldown ahead
    expect(leaseLeft({ owner: 'x', until: T + 300 }, 1_000, T)).toBe(300);
    expect(withoutLease(held, 'me')).toBe(held);
    expect(withoutLease(held, 'other')).toEqual(s);
  });
});
