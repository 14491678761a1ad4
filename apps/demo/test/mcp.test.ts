// The demo's MCP scenario at a smaller scale, with real processes: 4 editor sessions, each with the
// same 2 MCP servers (server-memory from npm and the built-in server lingering like a wedged one),
// each calling one tool per server, then SIGKILLed. Guarded must hold every invariant the demo
// claims; naive must show the storm, or the side-by-side proves nothing. Either way, nothing the
// scenario started may outlive it.
import { listProcesses } from '@spawnguard/process-table';
import { describe, expect, it } from 'vitest';
import { checkInvariants } from '../src/invariants.mjs';
import { runMcpScenario } from '../src/mcp-scenario.mjs';

const SESSIONS = 4;

async function leftUnder(home: string) {
  return (await listProcesses()).filter((p) => p.cmdline.some((a) => a.includes(home)));
}

describe('the MCP scenario', () => {
  it(`guarded, ${SESSIONS} sessions through bridges: 2 server processes, 1 daemon, every call answered, 0 left after stop`, async () => {
    const s = await runMcpScenario({ guarded: true, sessions: SESSIONS });
    expect(s.waitTimedOut).toBe(false);
    expect(s.callErrors).toEqual([]);
    expect(s.callsOk).toBe(SESSIONS * 2);
    expect(s.callsExpected).toBe(SESSIONS * 2);
    // One backend per server for every session, one worker.
    expect(s.serversPeak).toBe(2);
    expect(s.serversStarted).toBe(2);
    expect(s.daemonsStarted).toBe(1);
    expect(s.bridgesPeak).toBe(SESSIONS * 2);
    // The crash: every session SIGKILLed by the scenario, each bridge gone on its own.
    expect(s.sessionsKilled).toBe(SESSIONS);
    expect(s.sessionExits).toEqual({ SIGKILL: SESSIONS });
    expect(s.bridgesAfterCrash).toBe(0);
    // The worker keeps its backends for other sessions until stop (idleMs is 10 minutes).
    expect(s.serversAfterCrash).toBe(2);
    expect(s.daemonAfterCrash).toBe(1);
    expect(s.serversAtEnd).toBe(0);
    expect(s.leftAtEnd).toBe(0);
    expect(s.rss?.servers?.count).toBe(2);
    expect(s.rss?.bridges?.count).toBe(SESSIONS * 2);
    expect(s.rss?.daemon?.count).toBe(1);
    expect(s.firstCallP50Ms).toBeGreaterThan(0);
    expect(checkInvariants({ mcpGuarded: s }).ok).toBe(true);
    expect(await leftUnder(s.home)).toEqual([]);
  }, 240_000);

  it(`naive, ${SESSIONS} sessions with their own servers: 2 per session at once, the wedged ones orphaned by the crash`, async () => {
    const s = await runMcpScenario({ guarded: false, sessions: SESSIONS });
    expect(s.waitTimedOut).toBe(false);
    expect(s.callsOk).toBe(SESSIONS * 2);
    expect(s.serversPeak).toBe(SESSIONS * 2);
    expect(s.serversStarted).toBe(SESSIONS * 2);
    expect(s.daemonsStarted).toBe(0);
    expect(s.sessionExits).toEqual({ SIGKILL: SESSIONS });
    // server-memory exits when its stdin closes; the lingering server does not: one orphan per session.
    expect(s.serversAfterCrash).toBe(SESSIONS);
    expect(s.leftAtEnd).toBe(SESSIONS);
    expect(checkInvariants({ mcpNaive: s }).ok).toBe(true);
    // The orphans are the demo's to clean up, by pid and start token.
    expect(await leftUnder(s.home)).toEqual([]);
  }, 240_000);
});

describe('the invariant check', () => {
  const guarded = {
    serverNames: ['memory', 'notes'],
    sessions: 10,
    serversPeak: 2,
    leftAtEnd: 0,
    callsOk: 20,
    callsExpected: 20,
    callErrors: [],
  };
  const naive = { serverNames: ['memory', 'notes'], sessions: 10, serversPeak: 20, serversAfterCrash: 10 };

  it('passes the numbers the demo promises', () => {
    expect(checkInvariants({ mcpGuarded: guarded, mcpNaive: naive })).toEqual({
      ok: true,
      lines: [
        'mcp, guarded: at most 2 server processes for 10 sessions, 0 left after stop, all 20 tool calls answered.',
        'mcp, naive: shows the storm: 20 server processes at once, 10 orphans after the crash.',
      ],
    });
  });

  it.each([
    [{ serversPeak: 3 }, 'server processes peak 3 (want <= 2, one per server)'],
    [{ leftAtEnd: 1 }, '1 processes left after stop (want 0)'],
    [{ callsOk: 19, callErrors: ['boom'] }, '19 / 20 tool calls answered (want all): boom'],
  ])('fails a guarded run with %j', (change, message) => {
    const { ok, lines } = checkInvariants({ mcpGuarded: { ...guarded, ...change } });
    expect(ok).toBe(false);
    expect(lines[0]).toContain(message);
  });

  it.each([
    [{ serversPeak: 19 }, 'server processes peak 19 (the storm needs 20)'],
    [{ serversAfterCrash: 0 }, 'no server left behind'],
  ])('fails a naive run that shows no storm: %j', (change, message) => {
    const { ok, lines } = checkInvariants({ mcpNaive: { ...naive, ...change } });
    expect(ok).toBe(false);
    expect(lines[0]).toContain(message);
  });
});
