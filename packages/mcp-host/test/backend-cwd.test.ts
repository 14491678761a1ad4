import { mkdirSync, readdirSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pidsCarrying } from '../../../test-kit/processes.js';
import { recorder, textOf } from './helpers.js';
import { useWorld } from './setup.js';

const world = useWorld();

describe('the working directory of backends', () => {
  it('by default an empty private folder the host creates (<stateDir>/backend-cwd), never stateDir with its files', async () => {
    const { marker, dir } = world.get();
    writeFileSync(join(dir, 'token'), 'bearer-secret\n', { mode: 0o600 }); // what a daemon keeps in its home
    const w = await world.start({ servers: { rec: recorder(marker, join(dir, 'r.jsonl')) } });
    const a = await w.connect('rec');
    const { pid, cwd } = JSON.parse(textOf(await a.client.callTool({ name: 'pid', arguments: {} })));
    const expected = join(dir, 'backend-cwd');
    expect(cwd).toBe(expected);
    expect(readlinkSync(`/proc/${pid}/cwd`)).toBe(expected);
    expect(readlinkSync(`/proc/${pid}/cwd`)).not.toBe(dir);
    expect(readdirSync(expected)).toEqual([]);
    expect(statSync(expected).mode & 0o777).toBe(0o700);
  });

  it('a symlink at <stateDir>/backend-cwd is refused: the start fails naming it, nothing runs', async () => {
    const { marker, dir } = world.get();
    symlinkSync(dir, join(dir, 'backend-cwd'));
    const w = await world.start({ servers: { rec: recorder(marker, join(dir, 'r.jsonl')) } });
    await expect(w.connect('rec')).rejects.toThrow(/backend-cwd is a symbolic link/);
    expect(pidsCarrying(marker)).toEqual([]);
  });

  it('a folder there that others may enter is refused', async () => {
    const { marker, dir } = world.get();
    mkdirSync(join(dir, 'backend-cwd'), { mode: 0o755 });
    const w = await world.start({ servers: { rec: recorder(marker, join(dir, 'r.jsonl')) } });
    await expect(w.connect('rec')).rejects.toThrow(/backend-cwd is accessible by group or others/);
    expect(pidsCarrying(marker)).toEqual([]);
  });

  it('an explicit cwd is used as given', async () => {
    const { marker, dir } = world.get();
    const there = join(dir, 'work');
    mkdirSync(there);
    const w = await world.start({ servers: { rec: recorder(marker, join(dir, 'r.jsonl'), [], { cwd: there }) } });
    const a = await w.connect('rec');
    expect(JSON.parse(textOf(await a.client.callTool({ name: 'pid', arguments: {} }))).cwd).toBe(there);
  });
});
