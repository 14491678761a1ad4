// What the demo promises, checked on its own numbers: the guarded runs must hold every invariant,
// and the naive MCP run must show the storm (otherwise the side-by-side proves nothing).

/**
 * Returns { ok, lines }: one line per scenario, saying what held or what broke.
 * @param {{ hooks?: any, mcpNaive?: any, mcpGuarded?: any }} runs
 */
export function checkInvariants({ hooks, mcpNaive, mcpGuarded }) {
  const lines = [];
  let ok = true;
  const check = (label, failures, success) => {
    const broken = failures.filter(Boolean);
    if (broken.length > 0) ok = false;
    lines.push(broken.length === 0 ? `${label}: ${success}` : `${label}: INVARIANT BROKEN: ${broken.join('; ')}`);
  };

  if (hooks) {
    check(
      'hooks, guarded',
      [
        hooks.workersPeak !== 1 && `workers peak ${hooks.workersPeak} (want 1)`,
        hooks.workersStarted !== 1 && `workers started ${hooks.workersStarted} (want 1)`,
        hooks.helpersPeak > 1 && `helpers peak ${hooks.helpersPeak} (want <= 1)`,
        hooks.orphansAfterShutdown !== 0 && `${hooks.orphansAfterShutdown} orphans after shutdown (want 0)`,
        !Object.keys(hooks.hookExitCodes).every((code) => code === '0') &&
          `hook exits ${JSON.stringify(hooks.hookExitCodes)} (want every one 0)`,
      ],
      'exactly 1 worker, at most 1 helper, 0 orphans, every hook exit 0.',
    );
  }
  if (mcpGuarded) {
    const servers = mcpGuarded.serverNames.length;
    check(
      'mcp, guarded',
      [
        mcpGuarded.serversPeak > servers &&
          `server processes peak ${mcpGuarded.serversPeak} (want <= ${servers}, one per server)`,
        mcpGuarded.leftAtEnd !== 0 && `${mcpGuarded.leftAtEnd} processes left after stop (want 0)`,
        mcpGuarded.callsOk !== mcpGuarded.callsExpected &&
          `${mcpGuarded.callsOk} / ${mcpGuarded.callsExpected} tool calls answered (want all): ${mcpGuarded.callErrors.join(' | ')}`,
      ],
      `at most ${servers} server processes for ${mcpGuarded.sessions} sessions, 0 left after stop, all ${mcpGuarded.callsExpected} tool calls answered.`,
    );
  }
  if (mcpNaive) {
    const want = mcpNaive.sessions * mcpNaive.serverNames.length;
    check(
      'mcp, naive',
      [
        mcpNaive.serversPeak < want && `server processes peak ${mcpNaive.serversPeak} (the storm needs ${want})`,
        mcpNaive.serversAfterCrash === 0 && 'no server left behind by the crashed sessions (the storm needs orphans)',
      ],
      `shows the storm: ${mcpNaive.serversPeak} server processes at once, ${mcpNaive.serversAfterCrash} orphans after the crash.`,
    );
  }
  return { ok, lines };
}
