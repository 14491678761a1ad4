import { rmdirSync, unlinkSync, utimesSync } from 'node:fs';
import { mkdir, rename, rm, rmdir, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { safeEmit } from '@spawnguard/internal';
import { LockUnavailableError } from './errors.js';
import { PACKAGE } from './events.js';
import type { LockContext } from './lock-context.js';
import {
  isOwnerDead,
  type LockSnapshot,
  newNonce,
  newOwnerRecord,
  type OwnerRecord,
  ownerFileName,
  ownerRecordFor,
  ownStartToken,
  readLockDir,
  spawnedPathFor,
  writeRecord,
} from './owner.js';
import { judge, takeOver } from './takeover.js';

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
        safeEmit(PACKAGE, ctx.events, 'compromised', { lockPath: ctx.lockPath, error: lost });
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
