import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Entry, FORMAT, openRegistry, type Registry } from '../src/index.js';
import { outcomeOf } from '../src/stop.js';
import {
  cleanup,
  ensureBuilt,
  exited,
  fixture,
  isAlive,
  marked,
  marker,
  pgidOf,
  sleeper,
  tempDir,
  waitFor,
} from './helpers.js';

let mark = '';
beforeAll(() => ensureBuilt(), 120_000);
afterEach(async () => {
  await cleanup(mark);
});

/** Node code for a child that starts one member of its process group (a marked helper), prints "member <pid>" and exits. */
const LEADER_CODE = `
const { spawn } = require('node:child_process');
const m = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e6)', process.argv[1], 'member'], { stdio: 'ignore' });
m.on('spawn', () => { process.stdout.write('member ' + m.pid + '\\n'); process.exit(0); });
`;

/** Spawns LEADER_CODE through the registry; resolves once the leader has exited, with the member's pid. */
async function leaderLeavingAMember(registry: Registry): Promise<{ entry: Entry; member: number }> {
  const { child, entry } = await registry.spawn(process.execPath, ['-e', LEADER_CODE, mark, 'leader'], {
    session: 's',
    type: 'leader',
  });
  const member = await new Promise<number>((resolve, reject) => {
    let buffered = '';
    child.stdout!.on('data', (chunk) => {
      buffered += chunk;
      const match = /member (\d+)\n/.exec(buffered);
      if (match) resolve(Number(match[1]));
    });
    child.once('error', reject);
  });
  await exited(child);
  return { entry, member };
}

const fileEntries = (path: string): Entry[] => JSON.parse(readFileSync(path, 'utf8')).entries;

describe('a recorded child that exits while members of its process group live', () => {
  it('stays recorded as a group (its members by pid + start token) until the group is empty; pruneDead then drops it', async () => {
    mark = marker();
    const path = join(tempDir(), 'registry.json');
    const registry = await openRegistry(path);
    const { entry, member } = await leaderLeavingAMember(registry);
    expect(pgidOf(member)).toBe(entry.pid);
    await waitFor(() => fileEntries(path).some((e) => e.members?.some((m) => m.pid === member)));
    const [record] = registry.entries();
    expect(record).toMatchObject({ pid: entry.pid, startToken: entry.startToken, pgid: entry.pid });
    expect(record!.exitedAt).toEqual(expect.any(Number));
    expect(record!.members).toEqual([{ pid: member, startToken: expect.any(String) }]);
    expect(await registry.pruneDead()).toEqual([]); // a member lives: the group is still ours to stop
    expect(registry.entries()).toHaveLength(1);
    process.kill(member, 'SIGKILL');
    await waitFor(() => !isAlive(member));
    expect(await registry.pruneDead()).toEqual([expect.objectContaining({ pid: entry.pid })]);
    expect(registry.entries()).toEqual([]);
    expect(fileEntries(path)).toEqual([]);
    await registry.shutdown();
  });

  it('shutdown() stops the members of an exited leader', async () => {
    mark = marker();
    const registry = await openRegistry(join(tempDir(), 'registry.json'));
    const { member } = await leaderLeavingAMember(registry);
    await waitFor(() => registry.entries()[0]?.members?.length === 1);
    const result = await registry.shutdown({ graceMs: 2000 });
    expect(result.reaped).toHaveLength(1);
    expect(result.reaped[0]!.result.terminated).toContain(member);
    expect(isAlive(member)).toBe(false);
    expect(registry.entries()).toEqual([]);
  });

  it('the successor of a SIGKILLed owner reaps the member by proof (pid + start token)', async () => {
    mark = marker();
    const path = join(tempDir(), 'registry.json');
    const daemon = spawn(process.execPath, [fixture('leader-daemon.mjs'), path, mark], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines = createInterface({ input: daemon.stdout! })[Symbol.asyncIterator]();
    const first = await lines.next();
    expect(String(first.value)).toMatch(/^ready /);
    const ready = JSON.parse(String(first.value).slice('ready '.length)) as { leader: number; member: number };
    expect(isAlive(ready.leader)).toBe(false);
    expect(isAlive(ready.member)).toBe(true);
    daemon.kill('SIGKILL');
    await exited(daemon);

    const unrelated = await sleeper(mark, 'unrelated');
    const successor = await openRegistry(path);
    const leftovers = await successor.reapLeftovers({ graceMs: 2000 });
    expect(leftovers.killed).toEqual([
      expect.objectContaining({ pid: ready.leader, members: [expect.objectContaining({ pid: ready.member })] }),
    ]);
    expect(isAlive(ready.member)).toBe(false);
    expect(isAlive(unrelated.pid)).toBe(true);
    expect((await marked(mark)).map((p) => p.pid)).toEqual([unrelated.pid]);
    expect(successor.entries()).toEqual([]);
    await successor.shutdown();
  });

  it('a recorded member whose pid now runs another process is dropped, never signalled', async () => {
    mark = marker();
    const path = join(tempDir(), 'registry.json');
    const gone = await sleeper(mark, 'dead-owner');
    gone.child.kill('SIGKILL');
    await exited(gone.child);
    const bystander = await sleeper(mark, 'bystander');
    const record: Entry = {
      pid: gone.pid, // an exited leader
      startToken: gone.startToken,
      pgid: gone.pid,
      session: 's',
      type: 't',
      spawnedAt: 1,
      command: process.execPath,
      exitedAt: 2,
      // The bystander's pid, but not its start token: a member that died and whose pid was reused.
      members: [{ pid: bystander.pid, startToken: `${bystander.startToken}0` }],
    };
    writeFileSync(
      path,
      JSON.stringify({
        format: FORMAT,
        version: 1,
        owner: { pid: gone.pid, startToken: gone.startToken, hostname: hostname() },
        updatedAt: 1,
        entries: [record],
      }),
    );
    const successor = await openRegistry(path);
    const leftovers = await successor.reapLeftovers({ graceMs: 500 });
    expect(leftovers.killed).toEqual([]);
    expect(leftovers.dropped).toEqual([expect.objectContaining({ pid: gone.pid })]);
    expect(isAlive(bystander.pid)).toBe(true);
    await successor.shutdown();
  });
});

describe('outcomeOf (one killTree, one entry)', () => {
  it('a root gone by its own turn while its tree was being stopped counts as reaped; one gone before anything was signalled is dropped', () => {
    const e = { pid: 10, startToken: 't', pgid: 10, session: 's', type: 't', spawnedAt: 1, command: 'node' };
    const result = (over: object) => ({ terminated: [], killed: [], gone: [], skipped: [], ...over });
    expect(outcomeOf(e, result({ terminated: [11], gone: [10] })).kind).toBe('reaped');
    expect(outcomeOf(e, result({ gone: [10] }))).toEqual({ kind: 'dropped', reason: 'gone' });
    expect(outcomeOf(e, result({ terminated: [10, 11] })).kind).toBe('reaped');
  });
});
