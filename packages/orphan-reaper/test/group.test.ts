import { processIdentity } from '@spawnguard/process-table';
import { afterEach, describe, expect, it } from 'vitest';
import { startedNoEarlier } from '../src/group.js';
import { groupMembers, killGroup } from '../src/index.js';
import { alive, TestProcesses, waitFor } from './helpers.js';

let procs: TestProcesses;
afterEach(async () => {
  await procs?.cleanup();
});

/**
 * A group leader that starts a member (which starts a child of its own), prints "<member> <child>"
 * and exits: what a crashing MCP server leaves behind. argv: marker
 */
const LEADER = `
const { spawn } = require('node:child_process');
const marker = process.argv[1];
const member = spawn(process.execPath, ['-e', \`
  const { spawn } = require('node:child_process');
  const c = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', process.argv[1], 'member-child'], { stdio: 'ignore' });
  c.on('spawn', () => process.stdout.write(process.pid + ' ' + c.pid + '\\\\n'));
  setInterval(() => {}, 1000);
\`, marker, 'member'], { stdio: ['ignore', 'pipe', 'ignore'] });
member.stdout.on('data', (d) => { process.stdout.write(d); process.exit(0); });
`;

async function exitedLeader() {
  procs = new TestProcesses();
  const leader = procs.node(LEADER, [], { detached: true });
  const identity = await processIdentity(leader.pid!);
  const [member, memberChild] = await procs.readPids(leader, 2);
  await new Promise((resolve) => (leader.exitCode === null ? leader.once('exit', resolve) : resolve(null)));
  return { leader: { pid: leader.pid!, startToken: identity!.startToken }, member: member!, memberChild: memberChild! };
}

describe.runIf(process.platform === 'linux')('groups whose leader exited', () => {
  it('groupMembers finds what is left of the group, by pid + start token; killGroup stops it and its children', async () => {
    const { leader, member, memberChild } = await exitedLeader();
    const unrelated = procs.node('setInterval(() => {}, 1000)', ['unrelated']);
    const found = await groupMembers(leader);
    expect(found.map((m) => m.pid).sort()).toEqual([member, memberChild].sort());
    for (const m of found) expect(m.startToken).toBe((await processIdentity(m.pid))!.startToken);
    const result = await killGroup(
      { pgid: leader.pid, leaderStartToken: leader.startToken, members: found },
      { graceMs: 2000 },
    );
    expect([...result.terminated, ...result.killed].sort()).toEqual([member, memberChild].sort());
    await waitFor(() => !alive(member) && !alive(memberChild), { what: 'group stopped' });
    expect(alive(unrelated.pid!)).toBe(true);
  });

  it('a member recorded with another start token is never signalled; with no live member nothing is', async () => {
    const { leader, member, memberChild } = await exitedLeader();
    const wrong = { pid: member, startToken: `${(await processIdentity(member))!.startToken}9` };
    const result = await killGroup(
      { pgid: leader.pid, leaderStartToken: leader.startToken, members: [wrong] },
      { graceMs: 0 },
    );
    expect(result).toEqual({ terminated: [], killed: [], gone: [member], skipped: [] });
    expect(alive(member) && alive(memberChild)).toBe(true);
  });

  it('a child forked by a recorded member after the snapshot is stopped with it (descendants)', async () => {
    const { leader, member, memberChild } = await exitedLeader();
    // Record only the member, as if its child had been born after the leader's exit was seen.
    const recorded = [{ pid: member, startToken: (await processIdentity(member))!.startToken }];
    await killGroup({ pgid: leader.pid, leaderStartToken: leader.startToken, members: recorded }, { force: true });
    await waitFor(() => !alive(member) && !alive(memberChild), { what: 'member and its child killed' });
  });

  it('refuses group 0 and 1, and malformed groups', async () => {
    await expect(groupMembers({ pid: 1, startToken: 'x:1' })).rejects.toThrow(RangeError);
    await expect(killGroup({ pgid: 0, leaderStartToken: 'x:1', members: [] })).rejects.toThrow(/group\.pgid/);
    await expect(killGroup({ pgid: 5, leaderStartToken: 'x:1', members: [{ pid: 'a' }] } as never)).rejects.toThrow(
      /group\.members\[0\]\.pid/,
    );
  });
});

describe('startedNoEarlier', () => {
  it('compares Linux start ticks within one boot only, and pid:ms tokens by time', () => {
    expect(startedNoEarlier(true, 'boot-a:120', 'boot-a:100')).toBe(true);
    expect(startedNoEarlier(true, 'boot-a:100', 'boot-a:100')).toBe(true);
    expect(startedNoEarlier(true, 'boot-a:99', 'boot-a:100')).toBe(false);
    expect(startedNoEarlier(true, 'boot-b:500', 'boot-a:100')).toBe(false);
    expect(startedNoEarlier(false, '77:1700000001000', '42:1700000000000')).toBe(true);
    expect(startedNoEarlier(false, '77:1699999999000', '42:1700000000000')).toBe(false);
    expect(startedNoEarlier(true, 'garbage', 'boot-a:1')).toBe(false);
  });
});
