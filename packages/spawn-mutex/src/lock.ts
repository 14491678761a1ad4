import { randomBytes } from 'node:crypto';
import { rmdirSync, unlinkSync, utimesSync } from 'node:fs';
import { lstat, mkdir, readdir, rename, rm, rmdir, unlink, utimes } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Emitter } from 'mitt';
import { safeEmit } from './emit.js';
import { LockUnavailableError } from './errors.js';
import type { SpawnMutexEvents } from './events.js';
import {
  isOwnerDead,
  type LockSnapshot,
  liveness,
  newNonce,
  newOwnerRecord,
  OWNER_FILE_PATTERN,
  type OwnerRecord,
  ownerFileName,
  ownerRecordFor,
  ownStartToken,
  readLockDir,
  readRecord,
  spawnedFileName,
  spawnedPathFor,
  writeRecord,
} from './owner.js';

export interface LockContext {
  /** Absolute; the lock folder is `${lockPath}.lock`. */
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
      /** Record the daemon we spawned beside the lock: while it lives, the lock stays busy even if we die. */
      recordSpawned: (pid: number) => Promise<boolean>;
      /**
       * Leave the lock to the recorded daemon (still booting): stop refreshing it without removing it.
       * False when no daemon was recorded, it is gone, or the lock is no longer ours.
       */
      handOff: () => Promise<boolean>;
    }
  | { acquired: false; owner: OwnerRecord | null };

/** Leftovers of processes killed mid-acquire or mid-takeover are swept after this long. */
const LEFTOVER_MS = 60_000;

/** "Alive" verdicts are reused this long, so a crowd of waiters does not hammer the process table. */
const ALIVE_CACHE_MS = 25;
const aliveSeen = new Map<string, number>();

/** Looks (and takeovers) per attempt before we report the lock busy. */
const ROUNDS = 4;

/**
 * How the lock works (every step is one atomic file system operation, and the one that decides who
 * holds the lock is a rename):
 *
 * - A lock folder is born complete. The taker builds a private folder beside it (`.new-<nonce>`) with
 *   its owner record inside, then renames that folder to `${lockPath}.lock`. A rename onto an existing
 *   folder fails unless that folder is empty, so of many takers exactly one succeeds, and there is never
 *   a held lock without its owner record.
 * - Hence an empty lock folder holds nobody (a release or a takeover midway, or a leftover of an older
 *   lock): it is removed (rmdir removes only an empty folder, never a lock) or replaced by the rename.
 * - The holder never writes into the folder after it became the lock. It refreshes the mtimes (its own
 *   nonce-named record first: if that is gone, the lock was taken from it), records the daemon it
 *   spawned beside the folder under its nonce, and releases by removing its own record and then the
 *   folder only if empty.
 * - A takeover claims one incarnation: it renames that incarnation's nonce-named owner file out of the
 *   folder. Exactly one claimant succeeds, and a claimant that judged an older incarnation finds no such
 *   file in a newer one. The emptied folder is then replaced through the rename as above.
 * - A holder proven alive on this host (pid + start token), or the daemon it handed the lock to, keeps
 *   the lock however old its mtime is; only what cannot be proven either way ages out after staleMs.
 */
export async function attemptLock(ctx: LockContext): Promise<Attempt> {
  await ownStartToken(); // warm, once per process
  let staged: Staged | null = null;
  let owner: OwnerRecord | null = null;
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const snapshot = await inspect(ctx);
      if (snapshot === null || snapshot.entries.length === 0) {
        staged ??= await stage(ctx);
        if (await install(ctx, staged, snapshot !== null)) {
          const won = staged;
          staged = null;
          return held(ctx, won);
        }
        continue; // someone else's lock is there now: look at it
      }
      owner = snapshot.owner;
      const verdict = await judge(snapshot, ctx);
      if (verdict === 'alive') return { acquired: false, owner };
      await takeOver(ctx, snapshot, verdict);
    }
    return { acquired: false, owner };
  } finally {
    if (staged) await rm(staged.dir, { recursive: true, force: true }).catch(() => {});
  }
}

async function inspect(ctx: LockContext): Promise<LockSnapshot | null> {
  try {
    return await readLockDir(ctx.lockDir);
  } catch (error) {
    throw new LockUnavailableError(ctx.lockPath, error);
  }
}

interface Staged {
  dir: string;
  record: OwnerRecord;
}

/** Our would-be lock folder, complete with its owner record, beside the lock path. */
async function stage(ctx: LockContext): Promise<Staged> {
  const nonce = newNonce();
  const dir = `${ctx.lockDir}.new-${nonce}`;
  try {
    await mkdir(dir, { mode: 0o700 });
  } catch (error) {
    throw new LockUnavailableError(ctx.lockPath, error); // ENOENT, ENOTDIR, EACCES, EPERM, EROFS
  }
  const record = await newOwnerRecord(ctx.hostname, nonce);
  try {
    await writeRecord(join(dir, ownerFileName(nonce)), record);
  } catch (error) {
    await rm(dir, { recursive: true, force: true }).catch(() => {});
    throw new LockUnavailableError(ctx.lockPath, error);
  }
  return { dir, record };
}

/** The one step that decides: rename our complete folder onto the lock path. */
async function install(ctx: LockContext, staged: Staged, emptyFolderThere: boolean): Promise<boolean> {
  // Where rename replaces an empty folder (Linux, macOS) this rmdir is redundant; where it never
  // replaces a folder (Windows) it is what makes room. Either way it can only remove an empty folder.
  if (emptyFolderThere && process.platform === 'win32') await rmdir(ctx.lockDir).catch(() => {});
  try {
    await rename(staged.dir, ctx.lockDir);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY' || code === 'EEXIST') return false; // another lock is there
    if (code === 'EPERM' || code === 'EACCES' || code === 'EBUSY' || code === 'ENOTDIR') {
      // Windows reports "a folder is in the way" this way. Otherwise it is the lock path itself:
      // inspect says what sits there (a file, a link: LockUnavailableError), or it was a real refusal.
      const there = await inspect(ctx);
      if (there !== null) return false;
    }
    throw new LockUnavailableError(ctx.lockPath, error);
  }
}

/** We hold the lock: keep it fresh, and give it back (or hand it to our daemon) without touching anyone else's. */
function held(ctx: LockContext, staged: Staged): Attempt & { acquired: true } {
  const { nonce } = staged.record;
  const ownerPath = join(ctx.lockDir, ownerFileName(nonce));
  const spawnedPath = spawnedPathFor(ctx.lockDir, nonce);
  let state: 'held' | 'lost' | 'released' | 'handed-off' = 'held';
  let spawned: OwnerRecord | null = null;

  const stop = () => {
    clearInterval(refresh);
    process.removeListener('exit', onExit);
  };
  const touch = async () => {
    const now = new Date();
    await utimes(ownerPath, now, now); // throws ENOENT when our record is gone: then the folder is not ours
    await utimes(ctx.lockDir, now, now).catch(() => {});
  };
  // Other hosts, and records that prove nothing, go by the folder's mtime: keep it fresh.
  const refresh = setInterval(
    () => {
      if (state !== 'held') return;
      touch().catch((error: NodeJS.ErrnoException) => {
        if (state !== 'held' || error.code !== 'ENOENT') return;
        state = 'lost';
        stop();
        const lost = Object.assign(
          new Error(`the spawn lock ${ctx.lockDir} was taken over: our owner record ${ownerPath} is gone`),
          { code: 'ECOMPROMISED' },
        );
        safeEmit(ctx.events, 'compromised', { lockPath: ctx.lockPath, error: lost });
      });
    },
    Math.max(1000, ctx.staleMs / 2),
  );
  refresh.unref();

  // On a normal exit (process.exit while holding), leave no lock behind. SIGKILL leaves it, and the
  // next launcher takes it over by identity.
  const onExit = () => {
    try {
      if (spawned) {
        // Exiting while the daemon we spawned boots (a hook's hard budget): the lock stays its.
        const now = new Date();
        utimesSync(ownerPath, now, now);
        utimesSync(ctx.lockDir, now, now);
        return;
      }
      unlinkSync(ownerPath); // throws when it is gone: then the folder is not ours any more
      rmdirSync(ctx.lockDir); // only if empty
    } catch {
      // nothing to clean, or not ours
    }
  };
  process.once('exit', onExit);

  const release = async () => {
    if (state === 'released' || state === 'handed-off') return;
    const wasHeld = state === 'held';
    state = 'released';
    stop();
    if (spawned) await unlink(spawnedPath).catch(() => {});
    if (!wasHeld) return; // taken over: the folder there now is someone else's
    try {
      await unlink(ownerPath);
    } catch {
      return; // our record is gone: we were taken over meanwhile
    }
    await rmdir(ctx.lockDir).catch(() => {}); // removes only an empty folder: never a newer lock
  };
  const recordSpawned = async (pid: number): Promise<boolean> => {
    if (state !== 'held') return false;
    const daemon = await ownerRecordFor(pid, nonce, ctx.hostname);
    if (!daemon || state !== 'held') return false;
    try {
      // Beside the folder, under our nonce: a record nobody reads once our incarnation is gone.
      await writeRecord(spawnedPath, daemon);
    } catch {
      return false;
    }
    spawned = daemon;
    return true;
  };
  const handOff = async (): Promise<boolean> => {
    if (state !== 'held' || !spawned) return false;
    if (await isOwnerDead(spawned, ctx.hostname)) return false;
    if (state !== 'held') return false;
    state = 'handed-off';
    stop();
    // Other hosts get a full staleMs from now before the lock can age out; here the daemon's identity decides.
    await touch().catch(() => {});
    return true;
  };
  return { acquired: true, release, recordSpawned, handOff };
}

type Verdict = 'alive' | 'dead-owner' | 'stale';

async function judge(snapshot: LockSnapshot, ctx: LockContext): Promise<Verdict> {
  const { owner } = snapshot;
  if (owner && snapshot.ownerFile) {
    const key = `${owner.nonce}:${owner.pid}:${owner.startToken}:${owner.hostname}:${ctx.hostname}`;
    const seen = aliveSeen.get(key);
    if (seen !== undefined && Date.now() - seen < ALIVE_CACHE_MS) return 'alive';
    const holder = await liveness(owner, ctx.hostname);
    let proven: 'alive' | 'dead' | 'unknown' = holder;
    if (holder === 'dead') {
      // Read only now that the holder is proven gone: it can write nothing more. A dead holder whose
      // spawned daemon still lives (booting): the lock is the daemon's now.
      const daemon = await spawnedRecord(ctx.lockDir, snapshot, owner.nonce);
      proven = daemon === null ? 'dead' : daemon === 'invalid' ? 'unknown' : await liveness(daemon, ctx.hostname);
    }
    if (proven === 'dead') return 'dead-owner';
    if (proven === 'alive') {
      // Alive on this host: never taken over, however old the folder's mtime (a stalled holder).
      if (aliveSeen.size > 64) aliveSeen.clear();
      aliveSeen.set(key, Date.now());
      return 'alive';
    }
  }
  // No (readable) owner record, another host, or nothing provable: only age can free it.
  if (Date.now() - snapshot.mtimeMs > ctx.staleMs) return 'stale';
  return 'alive';
}

/** The daemon the holder recorded: beside the folder (or inside it, where an earlier layout put it). */
async function spawnedRecord(
  lockDir: string,
  snapshot: LockSnapshot,
  nonce: string,
): Promise<OwnerRecord | 'invalid' | null> {
  const beside = await readRecord(spawnedPathFor(lockDir, nonce), nonce);
  if (beside !== 'missing') return beside;
  if (!snapshot.entries.includes(spawnedFileName(nonce))) return null;
  const inside = await readRecord(join(lockDir, spawnedFileName(nonce)), nonce);
  return inside === 'missing' ? null : inside;
}

/**
 * Race-free takeover. With an owner file, the claim is renaming that incarnation's file out of the
 * folder: of many waiters exactly one rename succeeds, and a waiter that judged an incarnation which
 * has meanwhile been released or replaced finds no such file, so it can never disturb a live lock.
 * Without one (foreign leftovers, older than staleMs), exactly the entries we saw are removed by name:
 * a newer lock holds only its own nonce-named record, so none of those names can be in it. Either way
 * the folder is left empty, and the next rename onto it decides who holds the lock.
 */
async function takeOver(ctx: LockContext, snapshot: LockSnapshot, reason: 'dead-owner' | 'stale'): Promise<boolean> {
  if (snapshot.ownerFile) {
    const claimed = `${ctx.lockDir}.taken-${randomBytes(6).toString('hex')}`;
    try {
      await rename(join(ctx.lockDir, snapshot.ownerFile), claimed);
    } catch {
      return false; // another waiter claimed it, or the owner released it
    }
    await rm(claimed, { recursive: true, force: true }).catch(() => {});
    const nonce = OWNER_FILE_PATTERN.exec(snapshot.ownerFile)![1]!;
    await unlink(spawnedPathFor(ctx.lockDir, nonce)).catch(() => {});
    // The rest of what we saw in that incarnation's folder (its spawned record in an earlier layout,
    // foreign files), by name. Never another owner file: that one is judged on its own.
    for (const name of snapshot.entries) {
      if (name !== snapshot.ownerFile && !OWNER_FILE_PATTERN.test(name)) {
        await rm(join(ctx.lockDir, name), { recursive: true, force: true }).catch(() => {});
      }
    }
  } else {
    let removed = 0;
    for (const name of snapshot.entries) {
      try {
        await rm(join(ctx.lockDir, name), { recursive: true });
        removed++;
      } catch {
        // gone already (another waiter), or not removable: the folder stays busy
      }
    }
    if (removed === 0) return false;
  }
  safeEmit(ctx.events, 'takeover', { lockPath: ctx.lockPath, previousOwner: snapshot.owner, reason });
  await sweepLeftovers(ctx).catch(() => {});
  return true;
}

/** Staging folders, claimed records and spawned records of processes killed mid-operation. */
async function sweepLeftovers(ctx: LockContext): Promise<void> {
  const folder = dirname(ctx.lockDir);
  const base = basename(ctx.lockDir);
  const cutoff = Date.now() - LEFTOVER_MS;
  const current = (await readLockDir(ctx.lockDir).catch(() => null))?.ownerFile ?? null;
  const currentNonce = current ? OWNER_FILE_PATTERN.exec(current)![1]! : null;
  for (const name of await readdir(folder)) {
    const spawned = name.startsWith(`${base}.spawned-`) ? /-([0-9a-f]+)\.json$/.exec(name)?.[1] : undefined;
    const leftover =
      name.startsWith(`${base}.new-`) ||
      name.startsWith(`${base}.taken-`) ||
      (spawned !== undefined && spawned !== currentNonce) ||
      (name.startsWith(`.${base}.spawned-`) && name.endsWith('.tmp')) || // a write cut short
      name.startsWith(`${base}.stale-`) || // an earlier layout's
      (name.startsWith(`${base}.owner-`) && name.endsWith('.tmp')); // an earlier layout's
    if (!leftover) continue;
    const path = join(folder, name);
    const stats = await lstat(path).catch(() => null);
    if (!stats || stats.mtimeMs > cutoff) continue;
    await rm(path, { recursive: true, force: true }).catch(() => {});
  }
}
