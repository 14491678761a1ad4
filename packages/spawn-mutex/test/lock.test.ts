import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { processIdentity } from '@spawnguard/process-table';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { acquireSpawnLock, createSpawnMutexEvents, type OwnerRecord } from '../src/index.js';
import { cleanup, DIST, MARKER, startNode, tempDir } from './helpers.js';

beforeAll(() => {
  if (!existsSync(DIST)) throw new Error('child fixtures import dist/: run `pnpm build` first');
});
const releases: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const release of releases.splice(0)) await release();
  await cleanup();
});

function ownerFiles(lockDir: string): string[] {
  return readdirSync(lockDir).filter((f) => /^owner-[0-9a-f]+\.json$/.test(f));
}

function readOwner(lockDir: string): OwnerRecord {
  const [file] = ownerFiles(lockDir);
  return JSON.parse(readFileSync(join(lockDir, file!), 'utf8'));
}

/** A pid and start token of a real process that has exited. */
async function deadProcess(): Promise<{ pid: number; startToken: string }> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', MARKER], { stdio: 'ignore' });
  const info = await processIdentity(child.pid!);
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
  return { pid: child.pid!, startToken: info!.startToken };
}

/** A lock folder as another launcher would leave it. */
function plantLock(lockPath: string, owner: Partial<OwnerRecord> | string | null, ageMs = 0): string {
  const lockDir = `${lockPath}.lock`;
  mkdirSync(lockDir);
  const nonce = 'abcdef0123456789abcdef01';
  if (owner !== null) {
    const body =
      typeof owner === 'string'
        ? owner
        : JSON.stringify({
            format: '@spawnguard/spawn-mutex',
            version: 1,
            pid: 1,
            startToken: 'x:1',
            hostname: hostname(),
            createdAt: Date.now(),
            nonce,
            ...owner,
          });
    writeFileSync(join(lockDir, `owner-${nonce}.json`), body);
  }
  const when = new Date(Date.now() - ageMs);
  utimesSync(lockDir, when, when);
  return lockDir;
}

function recorder() {
  const events = createSpawnMutexEvents();
  const seen: { type: string; payload: Record<string, unknown> }[] = [];
  events.on('*', (type, payload) => seen.push({ type: String(type), payload: payload as Record<string, unknown> }));
  return { events, seen };
}

describe('acquireSpawnLock', () => {
  it('takes a free lock, writes a provable owner record, and is exclusive until released', async () => {
    const lockPath = join(tempDir(), 'daemon');
    const release = await acquireSpawnLock(lockPath);
    expect(release).toBeTypeOf('function');
    const owner = readOwner(`${lockPath}.lock`);
    const me = await processIdentity(process.pid);
    expect(owner).toMatchObject({
      format: '@spawnguard/spawn-mutex',
      version: 1,
      pid: process.pid,
      startToken: me!.startToken,
      hostname: hostname(),
    });
    expect(await acquireSpawnLock(lockPath)).toBeNull(); // a live owner (us) holds it
    await release!();
    expect(existsSync(`${lockPath}.lock`)).toBe(false);
    const again = await acquireSpawnLock(lockPath);
    expect(again).not.toBeNull();
    await again!();
    await again!(); // releasing twice is harmless
  });

  it('writing the owner record does not make proper-lockfile think the lock was compromised', async () => {
    const lockPath = join(tempDir(), 'daemon');
    const { events, seen } = recorder();
    const release = await acquireSpawnLock(lockPath, { staleMs: 2000, events });
    releases.push(release!);
    // proper-lockfile re-checks the folder mtime every staleMs/2 = 1 s; give it three checks.
    await new Promise((resolve) => setTimeout(resolve, 3200));
    expect(seen.map((e) => e.type)).toEqual(['lockAcquired']);
  });

  it('takes over at once from an owner that is provably dead (same host, start token gone)', async () => {
    const lockPath = join(tempDir(), 'daemon');
    const dead = await deadProcess();
    plantLock(lockPath, dead);
    const { events, seen } = recorder();
    const release = await acquireSpawnLock(lockPath, { staleMs: 30_000, events });
    expect(release).not.toBeNull();
    releases.push(release!);
    expect(seen.map((e) => e.type)).toEqual(['takeover', 'lockAcquired']);
    expect(seen[0]!.payload).toMatchObject({ reason: 'dead-owner', previousOwner: { pid: dead.pid } });
    expect(readOwner(`${lockPath}.lock`).pid).toBe(process.pid);
  });

  it('a reused pid does not keep a dead owner alive: the start token must match too', async () => {
    const lockPath = join(tempDir(), 'daemon');
    // Our own pid, alive, but a different incarnation's start token.
    plantLock(lockPath, { pid: process.pid, startToken: 'some-other-boot:12345' });
    const release = await acquireSpawnLock(lockPath, { staleMs: 30_000 });
    expect(release).not.toBeNull();
    releases.push(release!);
  });

  it('a live owner keeps the lock', async () => {
    const lockPath = join(tempDir(), 'daemon');
    const me = await processIdentity(process.pid);
    plantLock(lockPath, { pid: process.pid, startToken: me!.startToken, nonce: 'abcdef0123456789abcdef01' });
    const { events, seen } = recorder();
    expect(await acquireSpawnLock(lockPath, { events })).toBeNull();
    expect(seen).toEqual([
      { type: 'lockBusy', payload: expect.objectContaining({ owner: expect.objectContaining({ pid: process.pid }) }) },
    ]);
  });

  it('an owner on another host cannot be proven dead: only staleMs frees it', async () => {
    const dead = await deadProcess();
    const fresh = join(tempDir(), 'daemon');
    plantLock(fresh, { ...dead, hostname: 'some-other-host' });
    expect(await acquireSpawnLock(fresh, { staleMs: 5000 })).toBeNull();

    const old = join(tempDir(), 'daemon');
    plantLock(old, { ...dead, hostname: 'some-other-host' }, 6000);
    const { events, seen } = recorder();
    const release = await acquireSpawnLock(old, { staleMs: 5000, events });
    expect(release).not.toBeNull();
    releases.push(release!);
    expect(seen[0]).toMatchObject({ type: 'takeover', payload: { reason: 'stale' } });
  });

  it('the hostname option decides what "same host" means', async () => {
    const dead = await deadProcess();
    const lockPath = join(tempDir(), 'daemon');
    plantLock(lockPath, { ...dead, hostname: 'build-box' });
    const release = await acquireSpawnLock(lockPath, { hostname: 'build-box' });
    expect(release).not.toBeNull();
    releases.push(release!);
    expect(readOwner(`${lockPath}.lock`).hostname).toBe('build-box');
  });

  it('a corrupt or foreign owner file is never proof of death; it ages out via staleMs', async () => {
    for (const body of ['{not json', JSON.stringify({ pid: 1 }), JSON.stringify({ format: 'other', version: 1 })]) {
      const fresh = join(tempDir(), 'daemon');
      plantLock(fresh, body);
      expect(await acquireSpawnLock(fresh, { staleMs: 5000 }), body).toBeNull();
      const old = join(tempDir(), 'daemon');
      plantLock(old, body, 6000);
      const release = await acquireSpawnLock(old, { staleMs: 5000 });
      expect(release, body).not.toBeNull();
      await release!();
    }
  });

  it('a lock folder without an owner record yet (taken microseconds ago) is busy, not dead', async () => {
    const fresh = join(tempDir(), 'daemon');
    plantLock(fresh, null);
    expect(await acquireSpawnLock(fresh, { staleMs: 5000 })).toBeNull();
    // ... until it is older than staleMs: then proper-lockfile itself removes the empty folder.
    const old = join(tempDir(), 'daemon');
    plantLock(old, null, 6000);
    const release = await acquireSpawnLock(old, { staleMs: 5000 });
    expect(release).not.toBeNull();
    releases.push(release!);
  });

  it('foreign files in a stale lock folder are cleared', async () => {
    const lockPath = join(tempDir(), 'daemon');
    const lockDir = plantLock(lockPath, null);
    writeFileSync(join(lockDir, 'junk.txt'), 'x');
    const old = new Date(Date.now() - 6000);
    utimesSync(lockDir, old, old);
    const release = await acquireSpawnLock(lockPath, { staleMs: 5000 });
    expect(release).not.toBeNull();
    releases.push(release!);
    expect(readdirSync(lockDir)).toEqual(ownerFiles(lockDir));
  });

  it('a compromised lock is an event, never a throw; release then leaves the new holder alone', async () => {
    const dir = tempDir();
    const lockPath = join(dir, 'daemon');
    const { events, seen } = recorder();
    const release = await acquireSpawnLock(lockPath, { staleMs: 2000, events });
    const lockDir = `${lockPath}.lock`;
    // Someone takes it away (as a takeover would) and a new holder moves in.
    const [file] = ownerFiles(lockDir);
    renameSync(join(lockDir, file!), join(dir, 'stolen.json'));
    rmdirSync(lockDir);
    const dead = await deadProcess();
    plantLock(lockPath, { ...dead, hostname: 'other-host' });
    const uncaught = vi.fn();
    process.on('uncaughtException', uncaught);
    try {
      await new Promise((resolve) => setTimeout(resolve, 2500)); // proper-lockfile checks every 1 s
    } finally {
      process.off('uncaughtException', uncaught);
    }
    expect(uncaught).not.toHaveBeenCalled();
    expect(seen.map((e) => e.type)).toEqual(['lockAcquired', 'compromised']);
    await release!();
    expect(ownerFiles(lockDir)).toEqual(['owner-abcdef0123456789abcdef01.json']);
  });

  it('process.exit while holding the lock leaves no lock behind', async () => {
    const lockPath = join(tempDir(), 'daemon');
    const child = startNode('exit-holding.mjs', [lockPath]);
    expect(await child.exited).toEqual({ code: 0, signal: null });
    expect(child.lines()).toEqual([{ got: true }]);
    expect(existsSync(`${lockPath}.lock`)).toBe(false);
  });

  it('rejects with the signal reason when already aborted', async () => {
    const reason = new Error('stop');
    const lockPath = join(tempDir(), 'daemon');
    await expect(acquireSpawnLock(lockPath, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(existsSync(`${lockPath}.lock`)).toBe(false);
  });
});
