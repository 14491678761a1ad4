import { randomBytes } from 'node:crypto';
import { rmdirSync, unlinkSync, utimesSync } from 'node:fs';
import { lstat, readdir, rename, rm, rmdir, unlink, utimes } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Emitter } from 'mitt';
import lockfile from 'proper-lockfile';
import { safeEmit } from './emit.js';
import { LockUnavailableError } from './errors.js';
import type { SpawnMutexEvents } from './events.js';
import {
  isOwnerDead,
  type LockSnapshot,
  newOwnerRecord,
  type OwnerRecord,
  ownerFileName,
  ownerRecordFor,
  ownStartToken,
  readLockDir,
  spawnedFileName,
  writeOwnerRecord,
} from './owner.js';

export interface LockContext {
  /** Absolute; proper-lockfile's lock folder is `${lockPath}.lock`. */
  lockPath: string;
  lockDir: string;
  staleMs: number;
  hostname: string;
  events: Emitter<SpawnMutexEvents> | undefined;
  started: number;
}

export type Attempt =
  | {
      acquired: true;
      release: () => Promise<void>;
      /** Record the daemon we spawned in the lock: while it lives, the lock stays busy even if we die. */
      recordSpawned: (pid: number) => Promise<boolean>;
      /**
       * Leave the lock to the recorded daemon (still booting): stop refreshing it without removing it.
       * False when no daemon was recorded, it is gone, or the lock is no longer ours.
       */
      handOff: () => Promise<boolean>;
    }
  | { acquired: false; owner: OwnerRecord | null };

/** Leftovers of processes killed mid-write or mid-takeover are swept after this long. */
const LEFTOVER_MS = 60_000;

/** "Alive" verdicts are reused this long, so a crowd of waiters does not hammer the process table. */
const ALIVE_CACHE_MS = 25;
const aliveSeen = new Map<string, number>();

/**
 * One non-blocking try: take the lock, or take over a lock whose holder is provably gone (or whose
 * mtime is older than staleMs) and try again. Returns the holder we found when the lock is busy.
 * Throws LockUnavailableError when the lock folder cannot be used at all.
 */
export async function attemptLock(ctx: LockContext): Promise<Attempt> {
  await ownStartToken(); // warm: the owner record is written right after mkdir, keep that gap small
  for (let round = 0; ; round++) {
    const acquired = await tryMkdirLock(ctx);
    if (acquired) return acquired;
    const snapshot = await readLockDir(ctx.lockDir).catch((error) => {
      throw new LockUnavailableError(ctx.lockPath, error);
    });
    if (!snapshot) {
      if (round < 3) continue; // released between our mkdir and our look: try again
      return { acquired: false, owner: null };
    }
    const verdict = await judge(snapshot, ctx);
    if (verdict === 'alive' || round >= 3) return { acquired: false, owner: snapshot.owner };
    await takeOver(ctx, snapshot, verdict);
  }
}

async function tryMkdirLock(ctx: LockContext): Promise<Attempt | null> {
  let compromised = false;
  let released = false;
  let plRelease: () => Promise<void>;
  try {
    plRelease = await lockfile.lock(ctx.lockPath, {
      retries: 0,
      stale: ctx.staleMs,
      realpath: false,
      onCompromised: (error: Error) => {
        compromised = true;
        if (!released) safeEmit(ctx.events, 'compromised', { lockPath: ctx.lockPath, error });
      },
    });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // ELOCKED: held. ENOTEMPTY/EEXIST: proper-lockfile judged it stale but could not rmdir it
    // because of our owner file; our own takeover handles that.
    if (code === 'ELOCKED' || code === 'ENOTEMPTY' || code === 'EEXIST') return null;
    throw new LockUnavailableError(ctx.lockPath, error);
  }

  const record = await newOwnerRecord(ctx.hostname);
  const ownerPath = join(ctx.lockDir, ownerFileName(record.nonce));
  try {
    await writeOwnerRecord(ctx.lockDir, record);
  } catch (error) {
    released = true;
    await plRelease().catch(() => {});
    // Our brand-new folder vanished under us (a takeover of the previous, stale incarnation
    // removed it in the same instant): we simply do not hold the lock.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new LockUnavailableError(ctx.lockPath, error);
  }

  // On a normal exit (process.exit while holding), leave no lock behind. proper-lockfile's own exit
  // hook cannot: its rmdir fails on our owner file. SIGKILL leaves it, and identity takeover copes.
  const spawnedPath = join(ctx.lockDir, spawnedFileName(record.nonce));
  let spawned: OwnerRecord | null = null;
  const onExit = () => {
    try {
      if (spawned) {
        // Exiting while the daemon we spawned boots (a hook's hard budget): the lock stays its.
        const now = new Date();
        utimesSync(ctx.lockDir, now, now);
        return;
      }
      unlinkSync(ownerPath); // throws when it is gone: then the folder is not ours any more
      rmdirSync(ctx.lockDir);
    } catch {
      // nothing to clean, or not ours
    }
  };
  process.once('exit', onExit);

  const release = async () => {
    if (released) return;
    released = true;
    process.removeListener('exit', onExit);
    try {
      await unlink(ownerPath);
    } catch {
      return; // our record is gone: we were taken over, and the folder there now is someone else's
    }
    if (spawned) await unlink(spawnedPath).catch(() => {});
    if (compromised) await rmdir(ctx.lockDir).catch(() => {});
    else await plRelease().catch(() => {});
  };
  const recordSpawned = async (pid: number): Promise<boolean> => {
    if (released || compromised) return false;
    const daemon = await ownerRecordFor(pid, record.nonce, ctx.hostname);
    if (!daemon || released || compromised) return false;
    try {
      await writeOwnerRecord(ctx.lockDir, daemon, spawnedFileName(record.nonce));
    } catch {
      return false;
    }
    spawned = daemon;
    return true;
  };
  const handOff = async (): Promise<boolean> => {
    if (released || compromised || !spawned) return false;
    if (await isOwnerDead(spawned, ctx.hostname)) return false;
    released = true;
    process.removeListener('exit', onExit);
    // Stops proper-lockfile's mtime refresh; its rmdir fails on our records, as intended.
    await plRelease().catch(() => {});
    // The daemon gets a full staleMs from now before the lock can age out.
    const now = new Date();
    await utimes(ctx.lockDir, now, now).catch(() => {});
    return true;
  };
  return { acquired: true, release, recordSpawned, handOff };
}

type Verdict = 'alive' | 'dead-owner' | 'stale';

async function judge(snapshot: LockSnapshot, ctx: LockContext): Promise<Verdict> {
  const { owner } = snapshot;
  if (owner) {
    const key = `${owner.nonce}:${owner.pid}:${owner.startToken}:${owner.hostname}:${ctx.hostname}`;
    const seen = aliveSeen.get(key);
    const fresh = seen !== undefined && Date.now() - seen < ALIVE_CACHE_MS;
    if (!fresh) {
      const holderDead = await isOwnerDead(owner, ctx.hostname);
      // A dead holder whose spawned daemon still lives (booting): the lock is the daemon's now.
      const daemonDead = snapshot.spawned === null || (await isOwnerDead(snapshot.spawned, ctx.hostname));
      if (holderDead && daemonDead) return 'dead-owner';
      if (aliveSeen.size > 64) aliveSeen.clear();
      aliveSeen.set(key, Date.now());
    }
  }
  // No (readable) owner record, another host, or a live owner: only age can free it. A folder
  // without an owner file is usually a lock taken microseconds ago, so it must not count as dead.
  if (Date.now() - snapshot.mtimeMs > ctx.staleMs) return 'stale';
  return 'alive';
}

/**
 * Race-free takeover. The claim is renaming the judged incarnation's owner file out of the lock
 * folder: of many waiters exactly one rename succeeds, and a waiter that judged an owner which has
 * meanwhile released normally finds no such file (a newer lock's file has another nonce), so it
 * can never disturb a live lock. The winner then removes the (now empty) folder and everyone
 * competes through proper-lockfile's mkdir as usual.
 */
async function takeOver(ctx: LockContext, snapshot: LockSnapshot, reason: 'dead-owner' | 'stale'): Promise<boolean> {
  if (snapshot.ownerFile) {
    const claimed = `${ctx.lockDir}.taken-${randomBytes(6).toString('hex')}`;
    try {
      await rename(join(ctx.lockDir, snapshot.ownerFile), claimed);
    } catch {
      return false; // another waiter claimed it, or the owner released it
    }
    await unlink(claimed).catch(() => {});
    if (snapshot.owner) await unlink(join(ctx.lockDir, spawnedFileName(snapshot.owner.nonce))).catch(() => {});
    // Empty now, and nobody can create a new lock while it exists; ENOENT/ENOTEMPTY: not ours to remove.
    await rmdir(ctx.lockDir).catch(() => {});
  } else {
    // Stale and without an owner file, yet proper-lockfile could not remove it: foreign leftovers.
    const aside = `${ctx.lockDir}.stale-${randomBytes(6).toString('hex')}`;
    try {
      await rename(ctx.lockDir, aside);
    } catch {
      return false;
    }
    const moved = await lstat(aside).catch(() => null);
    if (moved?.ino !== snapshot.ino) {
      // Not the folder we judged (it was replaced meanwhile): put it back if the name is still free.
      const free = await lstat(ctx.lockDir).then(
        () => false,
        () => true,
      );
      if (free) await rename(aside, ctx.lockDir).catch(() => {});
      return false;
    }
    await rm(aside, { recursive: true, force: true }).catch(() => {});
  }
  safeEmit(ctx.events, 'takeover', { lockPath: ctx.lockPath, previousOwner: snapshot.owner, reason });
  await sweepLeftovers(ctx).catch(() => {});
  return true;
}

/** Owner temp files and claimed records of processes killed mid-operation. */
async function sweepLeftovers(ctx: LockContext): Promise<void> {
  const folder = dirname(ctx.lockDir);
  const base = basename(ctx.lockDir);
  const cutoff = Date.now() - LEFTOVER_MS;
  for (const name of await readdir(folder)) {
    const leftover =
      (name.startsWith(`${base}.owner-`) && name.endsWith('.tmp')) ||
      name.startsWith(`${base}.taken-`) ||
      name.startsWith(`${base}.stale-`);
    if (!leftover) continue;
    const path = join(folder, name);
    const stats = await lstat(path).catch(() => null);
    if (!stats || stats.mtimeMs > cutoff) continue;
    await rm(path, { recursive: true, force: true }).catch(() => {});
  }
}
