import { safeEmit } from '@spawnguard/internal';
import { isSameProcess } from '@spawnguard/process-table';
import type { Emitter } from 'mitt';
import { RegistryFileError } from './errors.js';
import { ensureFolder, FORMAT, moveAside, type ReadResult, readRegistryFile, VERSION } from './file.js';
import type { ClaimHost, ClaimSettings } from './ownership.js';
import { checkIdentity, IDENTITY_TIMEOUT_MS, isGroupRecord, liveMembers, stopMany } from './stop.js';
import {
  type DropReason,
  type Entry,
  type GroupMember,
  type LeftoversResult,
  type OwnerRecord,
  PACKAGE,
  type RegistryEvents,
} from './types.js';
import { classify, type Verdict, withIdentity } from './verdict.js';
import { FileWriter } from './writer.js';

/** Newest first; ties (same spawnedAt) broken by recording order, later first. */
export const newestFirst = (entries: Entry[]): Entry[] =>
  [...entries].reverse().sort((a, b) => b.spawnedAt - a.spawnedAt);
export const copy = (entry: Entry): Entry =>
  entry.members ? { ...entry, members: entry.members.map((m) => ({ ...m })) } : { ...entry };
/** One incarnation: a group record keeps its exited leader's pid, which the kernel may hand out again once the group is empty. */
const keyOf = (entry: Entry): string => `${entry.pid}:${entry.startToken}`;

/**
 * The registry's file and the entries it records: reading and judging the file, writing it, and
 * reaping a previous owner's leftovers. It holds no ownership state; the keeper decides when the
 * file is ours, and the registry writes only then.
 */
export class RegistryStore implements ClaimHost {
  /** Live entries (and group records) by pid + start token, in recording order. */
  readonly #tracked = new Map<string, Entry>();
  readonly #writer: FileWriter;
  /** Why the last take() failed (for RegistryNotOwnedError's cause). */
  lastTakeError: Error | null = null;

  constructor(
    readonly path: string,
    readonly owner: OwnerRecord,
    readonly now: () => number,
    readonly events: Emitter<RegistryEvents>,
    private readonly bootId: string | null,
    private readonly released: () => boolean,
  ) {
    this.#writer = new FileWriter(path, () => ({
      format: FORMAT,
      version: VERSION,
      // A closed registry with no child left releases the file: the next owner claims it at once.
      owner: this.released() && this.#tracked.size === 0 ? null : this.owner,
      updatedAt: this.now(),
      entries: [...this.#tracked.values()],
    }));
  }

  entries(): Entry[] {
    return [...this.#tracked.values()];
  }

  track(entry: Entry): void {
    this.#tracked.set(keyOf(entry), entry);
  }

  /** Is exactly this entry recorded? */
  has(entry: Entry): boolean {
    return this.#tracked.get(keyOf(entry)) === entry;
  }

  /** Removes exactly this entry (not a newer one with the same pid); false when it was not recorded. */
  remove(entry: Entry): boolean {
    if (!this.has(entry)) return false;
    this.#tracked.delete(keyOf(entry));
    return true;
  }

  /** The child exited and left `members` of its process group running: it stays, as a group record. */
  markExited(entry: Entry, exitedAt: number, members: GroupMember[]): void {
    entry.exitedAt = exitedAt;
    entry.members = members;
  }

  async look(signal: AbortSignal): Promise<Verdict> {
    const read = await this.#read();
    if (read.kind === 'corrupt') await this.#quarantine(read);
    const verdict = classify(read.kind === 'ok' ? read.file : null, this.owner, this.bootId);
    if (verdict.kind !== 'check-owner') return verdict;
    return withIdentity(verdict, await isSameProcess(verdict.owner, { signal, timeoutMs: IDENTITY_TIMEOUT_MS }));
  }

  async take(adopt: Entry[]): Promise<void> {
    for (const entry of adopt) this.track(entry);
    try {
      await ensureFolder(this.path);
      await this.#writer.write();
      this.lastTakeError = null;
    } catch (error) {
      for (const entry of adopt) this.remove(entry);
      this.lastTakeError = new RegistryFileError(
        this.path,
        `cannot write process registry ${this.path}: ${(error as Error).message}; check the folder's permissions and free space`,
        null,
        { cause: error },
      );
      throw this.lastTakeError;
    }
  }

  /** Writes the current state; a failure becomes a writeError event (the in-memory state stays right). */
  async persist(): Promise<void> {
    try {
      await this.#writer.write();
    } catch (error) {
      safeEmit(PACKAGE, this.events, 'writeError', { path: this.path, error: error as Error });
    }
  }

  async reap(
    entries: Entry[],
    settings: ClaimSettings,
    signal: AbortSignal,
  ): Promise<{ result: LeftoversResult; adopted: Entry[] }> {
    const result: LeftoversResult = { killed: [], dropped: [], skipped: [], ownerAlive: null };
    const adopted: Entry[] = [];
    const opts = { graceMs: settings.graceMs, totalTimeoutMs: settings.totalTimeoutMs, signal };
    await stopMany(newestFirst(entries), opts, async (entry, outcome) => {
      if (outcome.kind === 'reaped') {
        result.killed.push(copy(entry));
        safeEmit(PACKAGE, this.events, 'reaped', { entry: copy(entry), result: outcome.result, leftover: true });
      } else if (outcome.kind === 'dropped') {
        result.dropped.push(copy(entry));
        safeEmit(PACKAGE, this.events, 'dropped', { entry: copy(entry), reason: outcome.reason });
      } else {
        // Proven ours but not stopped: keep it recorded, so shutdown() or a later boot tries again.
        adopted.push(entry);
        result.skipped.push({ entry: copy(entry), reason: `kill-failed: ${outcome.error.message}` });
      }
    });
    return { result, adopted: adopted.reverse() };
  }

  /**
   * Removes entries whose process is gone or was replaced, and group records none of whose members
   * still runs (the others forget their dead members); never signals. `changed`: the file needs a write.
   */
  async pruneDead(
    signal: AbortSignal | undefined,
  ): Promise<{ dropped: Array<{ entry: Entry; reason: DropReason }>; changed: boolean }> {
    const entries = [...this.#tracked.values()];
    const verdicts = await Promise.all(
      entries.map(async (entry) => (isGroupRecord(entry) ? liveMembers(entry, signal) : checkIdentity(entry, signal))),
    );
    const dropped: Array<{ entry: Entry; reason: DropReason }> = [];
    let changed = false;
    entries.forEach((entry, i) => {
      const verdict = verdicts[i];
      if (Array.isArray(verdict)) {
        if (verdict.length === 0) {
          if (this.remove(entry)) dropped.push({ entry, reason: 'gone' });
        } else if (verdict.length < entry.members!.length && this.has(entry)) {
          entry.members = verdict;
          changed = true;
        }
      } else if (verdict !== 'alive' && verdict !== undefined && this.remove(entry)) {
        dropped.push({ entry, reason: verdict });
      }
    });
    return { dropped, changed: changed || dropped.length > 0 };
  }

  async #read(): Promise<ReadResult> {
    try {
      return await readRegistryFile(this.path);
    } catch (error) {
      throw new RegistryFileError(
        this.path,
        `cannot read process registry ${this.path}: ${(error as Error).message}; check that the path is a file in a folder this user can read and write`,
        null,
        { cause: error },
      );
    }
  }

  async #quarantine(read: Extract<ReadResult, { kind: 'corrupt' }>): Promise<void> {
    let movedTo: string;
    try {
      movedTo = await moveAside(this.path, this.now());
    } catch (error) {
      const err = error as NodeJS.ErrnoException;
      safeEmit(PACKAGE, this.events, 'corruptFile', {
        path: this.path,
        movedTo: null,
        reason: read.reason,
        detail: read.detail,
      });
      const whose =
        read.fileUid === null
          ? ''
          : ` It belongs to uid ${read.fileUid}; remove it as that user or root, or use another path.`;
      throw new RegistryFileError(
        this.path,
        `process registry ${this.path} is not trusted (${read.reason}: ${read.detail}) and could not be moved aside (${err.code ?? err.message}).${whose}`,
        read.fileUid,
        { cause: error },
      );
    }
    safeEmit(PACKAGE, this.events, 'corruptFile', {
      path: this.path,
      movedTo,
      reason: read.reason,
      detail: read.detail,
    });
  }
}
