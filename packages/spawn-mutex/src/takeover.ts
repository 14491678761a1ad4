import { randomBytes } from 'node:crypto';
import { lstat, readdir, rename, rm, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { safeEmit } from '@spawnguard/internal';
import { PACKAGE } from './events.js';
import type { LockContext } from './lock-context.js';
import {
  type LockSnapshot,
  liveness,
  OWNER_FILE_PATTERN,
  type OwnerRecord,
  readLockDir,
  readRecord,
  spawnedFileName,
  spawnedPathFor,
} from './owner.js';

/** Judging a lock we found (is its holder provably gone?) and taking it over when it is. */

/** Leftovers of processes killed mid-acquire or mid-takeover are swept after this long. */
const LEFTOVER_MS = 60_000;

/** "Alive" verdicts are reused this long, so a crowd of waiters does not hammer the process table. */
const ALIVE_CACHE_MS = 25;
const aliveSeen = new Map<string, number>();

type Verdict = 'alive' | 'dead-owner' | 'stale';

export async function judge(snapshot: LockSnapshot, ctx: LockContext): Promise<Verdict> {
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
export async function takeOver(
  ctx: LockContext,
  snapshot: LockSnapshot,
  reason: 'dead-owner' | 'stale',
): Promise<boolean> {
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
  safeEmit(PACKAGE, ctx.events, 'takeover', { lockPath: ctx.lockPath, previousOwner: snapshot.owner, reason });
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
