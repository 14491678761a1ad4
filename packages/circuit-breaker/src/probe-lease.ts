import { basename, dirname, join } from 'node:path';
import { readStateFileSync, StateFileError } from '@spawnguard/internal';
import { writePrivateTemp } from './private-temp.js';
import type { CircuitSnapshot, ProbeClaim, ProbeLease } from './snapshot.js';
import type { FileStoreFs } from './store-fs.js';

const LEASE_FORMAT = '@spawnguard/circuit-breaker/probe';
const LEASE_VERSION = 1;
const MAX_LEASE_BYTES = 4096;
/** Slots a single claim walks through before giving up (each one a lease that ended, or junk). */
const MAX_STEPS = 64;

interface Slot {
  owner: string;
  until: number;
  generation: number;
  openedAt: number | null;
  released: boolean;
}

export interface FileProbeLease {
  claim(claim: ProbeClaim): ProbeLease;
  release(claim: ProbeClaim): void;
}

/**
 * The half-open probe lease of a file store, exclusive across processes.
 *
 * Each open period (a generation) has numbered slot files beside the state file:
 * `.<name>.probe.<generation>.<n>`. A slot is created once, by link(2) from a complete temp file:
 * link fails with EEXIST when the slot exists, so exactly one claimant wins it, and nobody ever
 * reads a half-written slot. Slot n+1 is only tried by a claimant that read slot n and found it
 * free (released by its holder, or expired), so the holder of the highest slot holds the lease.
 * No slot of a period is ever removed or replaced by anyone but its holder while the period lasts:
 * an expired lease is superseded, never taken over in place, so there is no stale-lock race.
 * The first winner of a newer period deletes the slots of older ones.
 *
 * `current()` reads the state file: a claim for a period the file no longer shows is refused
 * (retry at once), so a process acting on an old read never revives a finished period.
 */
export function fileProbeLease(file: string, fs: FileStoreFs, current: () => CircuitSnapshot): FileProbeLease {
  const folder = dirname(file);
  const prefix = `.${basename(file)}.probe.`;
  const slotPath = (generation: number, n: number) => join(folder, `${prefix}${generation}.${n}`);

  /** Every slot file beside the state file, as [generation, n, name]. */
  const listSlots = (): Array<[number, number, string]> => {
    let names: string[];
    try {
      names = fs.readdirSync(folder) as string[];
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const slots: Array<[number, number, string]> = [];
    for (const name of names) {
      if (!name.startsWith(prefix)) continue;
      const match = /^(\d{1,15})\.(\d{1,15})$/.exec(name.slice(prefix.length));
      if (match) slots.push([Number(match[1]), Number(match[2]), name]);
    }
    return slots;
  };

  /** A slot's lease; 'missing' if it is gone, 'junk' if it is not a lease we wrote (counts as free). */
  const readSlot = (generation: number, n: number): Slot | 'missing' | 'junk' => {
    let text: string;
    try {
      text = readStateFileSync(slotPath(generation, n), { maxBytes: MAX_LEASE_BYTES });
    } catch (error) {
      if (!(error instanceof StateFileError) || error.reason === 'unreadable') throw error;
      return error.reason === 'missing' ? 'missing' : 'junk'; // a link, FIFO, another user's file, ...
    }
    try {
      const slot = JSON.parse(text) as Record<string, unknown>;
      const valid =
        slot.format === LEASE_FORMAT &&
        typeof slot.owner === 'string' &&
        Number.isFinite(slot.until) &&
        slot.generation === generation &&
        (slot.openedAt === null || Number.isFinite(slot.openedAt)) &&
        typeof slot.released === 'boolean';
      return valid ? (slot as unknown as Slot) : 'junk';
    } catch {
      return 'junk';
    }
  };

  const writeTemp = (text: string): string => {
    const temp = join(folder, `.${basename(file)}.probe-tmp.${process.pid}.${Math.random().toString(36).slice(2, 10)}`);
    writePrivateTemp(fs, folder, temp, text);
    return temp;
  };

  const serialize = (claim: ProbeClaim, released: boolean, until: number) =>
    JSON.stringify({
      format: LEASE_FORMAT,
      version: LEASE_VERSION,
      owner: claim.owner,
      until,
      generation: claim.generation,
      openedAt: claim.openedAt,
      released,
    });

  /** Creates slot n exclusively (a lease until `until`); false if someone else already did. */
  const create = (claim: ProbeClaim, n: number, until: number): boolean => {
    const temp = writeTemp(serialize(claim, false, until));
    try {
      fs.linkSync(temp, slotPath(claim.generation, n));
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    } finally {
      try {
        fs.unlinkSync(temp);
      } catch {
        // already gone
      }
    }
  };

  const isCurrent = (claim: ProbeClaim): boolean => {
    let snapshot: CircuitSnapshot;
    try {
      snapshot = current();
    } catch (error) {
      if ((error as { code?: unknown }).code === 'ECIRCUITSTORE') return false; // missing, corrupt, foreign
      throw error;
    }
    return (
      snapshot.state === 'open' && snapshot.generation === claim.generation && snapshot.openedAt === claim.openedAt
    );
  };

  const highestOf = (slots: Array<[number, number, string]>, generation: number): number => {
    let highest = -1;
    for (const [g, n] of slots) if (g === generation && n > highest) highest = n;
    return highest;
  };

  return {
    claim(claim) {
      // Refused, retry at once: the period this claim is for has ended (or the file is gone).
      const stale = () => ({ owner: '', until: claim.now() });
      if (!isCurrent(claim)) return stale();
      const slots = listSlots();
      let n = highestOf(slots, claim.generation);
      for (let step = 0; step < MAX_STEPS; step++) {
        if (n >= 0) {
          const slot = readSlot(claim.generation, n);
          if (slot === 'missing') return stale(); // removed by a newer period's winner
          // The clock is read after the slot: its holder read the same clock before creating it.
          if (slot !== 'junk' && inForce(slot, claim, claim.now())) return { owner: slot.owner, until: slot.until };
        }
        const until = claim.now() + claim.cooldownMs;
        if (create(claim, n + 1, until)) {
          for (const [g, , name] of slots) {
            if (g >= claim.generation) continue;
            try {
              fs.unlinkSync(join(folder, name));
            } catch {
              // someone else cleaned it
            }
          }
          return { owner: claim.owner, until };
        }
        n++; // lost slot n + 1: read who holds it
      }
      throw new Error(
        `${file}: no free probe lease slot after ${MAX_STEPS} tries; remove ${join(folder, prefix)}* files`,
      );
    },

    release(claim) {
      const n = highestOf(listSlots(), claim.generation);
      if (n < 0) return;
      const slot = readSlot(claim.generation, n);
      if (typeof slot !== 'object' || slot.owner !== claim.owner || slot.released) return;
      // Only the holder ever rewrites its slot; rename replaces it atomically.
      const temp = writeTemp(serialize(claim, true, slot.until));
      try {
        fs.renameSync(temp, slotPath(claim.generation, n));
      } catch (error) {
        try {
          fs.unlinkSync(temp);
        } catch {}
        throw error;
      }
    },
  };
}

/**
 * A lease is in force until its holder releases it or its `until` passes. One that ends more than a
 * cooldown ahead (a clock stepped back, a hand-edited file) counts as expired, as in the breaker.
 */
function inForce(slot: Slot, claim: ProbeClaim, now: number): boolean {
  if (slot.released || slot.openedAt !== claim.openedAt) return false;
  const left = slot.until - now;
  return left > 0 && left <= claim.cooldownMs;
}
