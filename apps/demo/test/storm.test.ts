// The storm as a CI job: the guarded worker under the demo's 30 concurrent launchers (hook + one
// search), 3 rounds in a row on one home, then stop. Every invariant the demo claims must hold; the
// naive worker must show the storm (otherwise the demo proves nothing).
// At 50 on this 2-core machine the hooks' p95 is ~6.5 s, past their 5 s budget: every hook fails
// open in time, but in some rounds none reaches the spawn and no worker starts that round. That is
// a known liveness gap, not what this job measures.
import { describe, expect, it } from 'vitest';
import { runScenario } from '../src/scenario.mjs';

describe('storm against apps/worker', () => {
  it('guarded, 30 concurrent launchers x 3 rounds: 1 worker, at most 1 helper, 0 orphans, every hook exit 0', async () => {
    const s = await runScenario({ naive: false, concurrency: 30, rounds: 3 });
    expect(s.hooks).toBe(90);
    expect(s.workersStarted).toBe(1);
    expect(s.workersPeak).toBe(1);
    expect(s.helpersPeak).toBeLessThanOrEqual(1);
    expect(s.helpersStarted).toBeLessThanOrEqual(1);
    expect(s.orphansAfterShutdown).toBe(0);
    expect(s.hookExitCodes).toEqual({ 0: 90 });
    expect(s.storm.overall.launchers.exitCodes).toEqual({ 0: 90 });
    expect(s.searchStatuses, `search errors: ${JSON.stringify(s.searchErrors)}`).toEqual({ 200: 90 });
    expect(s.storm.rounds).toHaveLength(3);
  }, 240_000);

  it('naive, 20 concurrent launchers: more than 1 worker at once and orphans after shutdown', async () => {
    const s = await runScenario({ naive: true, concurrency: 20 });
    expect(s.workersPeak).toBeGreaterThan(1);
    expect(s.orphansAfterShutdown).toBeGreaterThan(0);
    // Hooks fail open even when the storm is raging.
    expect(s.hookExitCodes).toEqual({ 0: 20 });
  }, 180_000);
});
