import { execFileSync, spawn } from 'node:child_process';
import {
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { processIdentity } from '@spawnguard/process-table';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { waitUntil } from '../../../test-kit/net.js';
import { acquireSpawnLock, createSpawnMutexEvents, LockUnavailableError, type OwnerRecord } from '../src/index.js';
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

const NONCE = 'abcdef0123456789abcdef01';

function recordBody(owner: Partial<OwnerRecord>): string {
  return JSON.stringify({
    format: '@spawnguard/spawn-mutex',
    version: 1,
    pid: 1,
    startToken: 'x:1',
    hostname: hostname(),
    createdAt: Date.now(),
    nonce: NONCE,
    ...owner,
  });
}

function backdate(path: string, ageMs: number): void {
  const when = new Date(Date.now() - ageMs);
  utimesSync(path, when, when);
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

  it('a holder that keeps its lock for several refresh periods is never reported compromised', async () => {
    const lockPath = join(tempDir(), 'daemon');
    const { events, seen } = recorder();
    const release = await acquireSpawnLock(lockPath, { staleMs: 2000, events });
    releases.push(release!);
    // The holder refreshes its lock (and checks its record is still there) every staleMs/2 = 1 s: each
    // refresh touches its owner record. Wait for three of them, however late a busy machine runs them.
    const lockDir = `${lockPath}.lock`;
    const owner = join(lockDir, ownerFiles(lockDir)[0]!);
    const touched = new Set([statSync(owner).mtimeMs]);
    await waitUntil(
      () => touched.add(statSync(owner).mtimeMs).size >= 1 + 3,
      20_000,
      'three refreshes of the owner record',
    );
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

  it('an empty lock folder holds nobody, fresh or stale (every lock is born with its record): it is replaced at once', async () => {
    for (const ageMs of [0, 6000]) {
      const lockPath = join(tempDir(), 'daemon');
      const lockDir = plantLock(lockPath, null, ageMs);
      const { events, seen } = recorder();
      const release = await acquireSpawnLock(lockPath, { staleMs: 5000, events });
      expect(release, `age ${ageMs}`).not.toBeNull();
      expect(seen.map((e) => e.type)).toEqual(['lockAcquired']);
      expect(ownerFiles(lockDir)).toHaveLength(1);
      expect(readOwner(lockDir).pid).toBe(process.pid);
      await release!();
    }
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
      // The holder checks every 1 s; what it does on finding its record gone happens with the event.
      await waitUntil(() => seen.some((e) => e.type === 'compromised'), 20_000, 'the compromised event');
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

describe('one holder, never taken from the living, never redirected', () => {
  it('a holder proven alive on this host keeps the lock however old its folder is (a stalled holder)', async () => {
    const lockPath = join(tempDir(), 'daemon');
    const me = await processIdentity(process.pid);
    const lockDir = plantLock(lockPath, { pid: process.pid, startToken: me!.startToken }, 60_000);
    backdate(join(lockDir, `owner-${NONCE}.json`), 60_000);
    const { events, seen } = recorder();
    expect(await acquireSpawnLock(lockPath, { staleMs: 2000, events })).toBeNull();
    expect(seen.map((e) => e.type)).toEqual(['lockBusy']);
    expect(ownerFiles(lockDir)).toEqual([`owner-${NONCE}.json`]);
  });

  it("a dead holder whose daemon lives: the lock stays the daemon's however old (records beside or inside)", async () => {
    const me = await processIdentity(process.pid);
    const daemon = recordBody({ pid: process.pid, startToken: me!.startToken });
    for (const where of ['beside', 'inside'] as const) {
      const lockPath = join(tempDir(), 'daemon');
      const dead = await deadProcess();
      const lockDir = plantLock(lockPath, dead);
      const spawned = where === 'beside' ? `${lockDir}.spawned-${NONCE}.json` : join(lockDir, `spawned-${NONCE}.json`);
      writeFileSync(spawned, daemon);
      backdate(lockDir, 60_000);
      expect(await acquireSpawnLock(lockPath, { staleMs: 2000 }), where).toBeNull();
      expect(existsSync(spawned), where).toBe(true);
    }
  });

  it('a dead holder and its dead daemon: taken over at once, and both records go', async () => {
    for (const where of ['beside', 'inside'] as const) {
      const lockPath = join(tempDir(), 'daemon');
      const lockDir = plantLock(lockPath, await deadProcess());
      const spawned = where === 'beside' ? `${lockDir}.spawned-${NONCE}.json` : join(lockDir, `spawned-${NONCE}.json`);
      writeFileSync(spawned, recordBody(await deadProcess()));
      const { events, seen } = recorder();
      const release = await acquireSpawnLock(lockPath, { staleMs: 30_000, events });
      expect(release, where).not.toBeNull();
      expect(seen.map((e) => e.type)).toEqual(['takeover', 'lockAcquired']);
      expect(existsSync(spawned), where).toBe(false);
      expect(readdirSync(lockDir)).toEqual(ownerFiles(lockDir));
      await release!();
    }
  });

  it('a dead owner with foreign files beside its record: taken over at once, the files cleared', async () => {
    const lockPath = join(tempDir(), 'daemon');
    const lockDir = plantLock(lockPath, await deadProcess());
    writeFileSync(join(lockDir, 'junk.txt'), 'x');
    mkdirSync(join(lockDir, 'junk-folder'));
    const release = await acquireSpawnLock(lockPath, { staleMs: 30_000 });
    expect(release).not.toBeNull();
    releases.push(release!);
    expect(readdirSync(lockDir)).toEqual(ownerFiles(lockDir));
  });

  it('two owner records (a leftover of a double hold): claiming the dead one never removes the live one', async () => {
    const lockPath = join(tempDir(), 'daemon');
    const lockDir = plantLock(lockPath, await deadProcess()); // owner-abcdef...
    const me = await processIdentity(process.pid);
    const live = 'ffffff0123456789abcdef01';
    writeFileSync(
      join(lockDir, `owner-${live}.json`),
      recordBody({ pid: process.pid, startToken: me!.startToken, nonce: live }),
    );
    const { events, seen } = recorder();
    expect(await acquireSpawnLock(lockPath, { staleMs: 30_000, events })).toBeNull();
    expect(seen.map((e) => e.type)).toEqual(['takeover', 'lockBusy']);
    expect(readdirSync(lockDir)).toEqual([`owner-${live}.json`]);
  });

  it('a symbolic link at the lock path is a clear error, and is never followed', async () => {
    const dir = tempDir();
    const lockPath = join(dir, 'daemon');
    // The link points at a folder that looks like a lock with a dead owner: following it would take it over.
    const target = join(dir, 'elsewhere');
    mkdirSync(target);
    writeFileSync(join(target, `owner-${NONCE}.json`), recordBody(await deadProcess()));
    symlinkSync(target, `${lockPath}.lock`);
    const error = await acquireSpawnLock(lockPath).catch((e) => e);
    expect(error).toBeInstanceOf(LockUnavailableError);
    expect(error.cause.code).toBe('ELOOP');
    expect(error.message).toContain(`${lockPath}.lock`);
    expect(error.message).toContain('symbolic link');
    expect(error.message).toContain('failOpen');
    expect(readdirSync(target)).toEqual([`owner-${NONCE}.json`]);
    expect(readdirSync(dir).sort()).toEqual(['daemon.lock', 'elsewhere']);
  });

  it('a lock path that is not a folder (a regular file, a FIFO) is a clear error naming it, and never blocks', async () => {
    const file = join(tempDir(), 'daemon');
    writeFileSync(`${file}.lock`, 'not a lock');
    const error = await acquireSpawnLock(file).catch((e) => e);
    expect(error).toBeInstanceOf(LockUnavailableError);
    expect(error.cause.code).toBe('ENOTDIR');
    expect(error.message).toContain(`${file}.lock is a regular file, not a lock folder`);
    if (process.platform === 'win32') return;
    const fifo = join(tempDir(), 'daemon');
    execFileSync('mkfifo', [`${fifo}.lock`]);
    const fifoError = await acquireSpawnLock(fifo).catch((e) => e);
    expect(fifoError).toBeInstanceOf(LockUnavailableError);
    expect(fifoError.message).toContain(`${fifo}.lock is a FIFO (named pipe), not a lock folder`);
  });

  it.runIf(process.getuid?.() === 0)('a lock folder that belongs to another user is a clear error', async () => {
    const lockPath = join(tempDir(), 'daemon');
    const lockDir = plantLock(lockPath, await deadProcess());
    chownSync(lockDir, 12345, 12345);
    const error = await acquireSpawnLock(lockPath).catch((e) => e);
    expect(error).toBeInstanceOf(LockUnavailableError);
    expect(error.message).toContain('belongs to uid 12345');
    expect(ownerFiles(lockDir)).toEqual([`owner-${NONCE}.json`]);
  });

  it('an owner record that is a symbolic link is not followed: it proves nothing until it ages out', async () => {
    const dir = tempDir();
    const lockPath = join(dir, 'daemon');
    const dead = join(dir, 'dead-owner.json');
    writeFileSync(dead, recordBody(await deadProcess())); // followed, this would be a dead owner: taken at once
    const lockDir = plantLock(lockPath, null);
    symlinkSync(dead, join(lockDir, `owner-${NONCE}.json`));
    backdate(lockDir, 0);
    expect(await acquireSpawnLock(lockPath, { staleMs: 5000 })).toBeNull();
    backdate(lockDir, 6000);
    const { events, seen } = recorder();
    const release = await acquireSpawnLock(lockPath, { staleMs: 5000, events });
    expect(release).not.toBeNull();
    releases.push(release!);
    expect(seen[0]).toMatchObject({ type: 'takeover', payload: { reason: 'stale', previousOwner: null } });
    expect(readFileSync(dead, 'utf8')).toContain('"format"'); // the link's target was left alone
  });

  it.runIf(process.platform !== 'win32')(
    'an owner record that is a FIFO never blocks: busy while fresh, claimed once stale',
    async () => {
      const lockPath = join(tempDir(), 'daemon');
      const lockDir = plantLock(lockPath, null);
      execFileSync('mkfifo', [join(lockDir, `owner-${NONCE}.json`)]);
      backdate(lockDir, 0);
      expect(await acquireSpawnLock(lockPath, { staleMs: 5000 })).toBeNull();
      backdate(lockDir, 6000);
      const release = await acquireSpawnLock(lockPath, { staleMs: 5000 });
      expect(release).not.toBeNull();
      releases.push(release!);
      expect(readdirSync(lockDir)).toEqual(ownerFiles(lockDir));
      expect(readOwner(lockDir).pid).toBe(process.pid);
    },
  );

  it('leftovers of launchers killed mid-acquire are swept after a minute, never sooner', async () => {
    const dir = tempDir();
    const lockPath = join(dir, 'daemon');
    const lockDir = plantLock(lockPath, await deadProcess());
    const old = [
      `daemon.lock.new-${'1'.repeat(24)}`,
      'daemon.lock.taken-0123456789ab',
      `daemon.lock.spawned-${'2'.repeat(24)}.json`,
    ];
    const fresh = [`daemon.lock.new-${'3'.repeat(24)}`, 'daemon.lock.taken-ba9876543210'];
    for (const name of [...old, ...fresh]) {
      if (name.includes('.new-')) mkdirSync(join(dir, name));
      else writeFileSync(join(dir, name), '{}');
    }
    for (const name of old) backdate(join(dir, name), 120_000);
    const release = await acquireSpawnLock(lockPath, { staleMs: 30_000 });
    expect(release).not.toBeNull();
    releases.push(release!);
    expect(readdirSync(dir).sort()).toEqual(['daemon.lock', ...fresh].sort());
    expect(ownerFiles(lockDir)).toHaveLength(1);
  });

  it('the holder keeps nothing but its record in the lock folder, and leaves no staging behind', async () => {
    const dir = tempDir();
    const lockPath = join(dir, 'daemon');
    const release = await acquireSpawnLock(lockPath);
    releases.push(release!);
    expect(readdirSync(dir)).toEqual(['daemon.lock']);
    expect(readdirSync(`${lockPath}.lock`)).toEqual(ownerFiles(`${lockPath}.lock`));
    // Losers clean up their would-be lock folders.
    for (let i = 0; i < 5; i++) expect(await acquireSpawnLock(lockPath)).toBeNull();
    expect(readdirSync(dir)).toEqual(['daemon.lock']);
  });
});
