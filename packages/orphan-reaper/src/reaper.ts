import { execFile } from 'node:child_process';
import * as processTable from '@spawnguard/process-table';
import { ancestorsIn, descendantsIn, type ProcessInfo, type ProcessTable } from '@spawnguard/process-table';
import mitt from 'mitt';
import { safeEmit } from './emit.js';
import { ProtectedProcessError } from './errors.js';
import type { KillTreeOptions, KillTreeResult, ReaperEmitter, ReapOptions, ReapResult, SkipReason } from './types.js';
import { checkBoolean, checkMs, checkObject, checkPid, checkSignal, describe } from './validate.js';
import { TASKKILL, taskkillArgs } from './windows.js';

export type TableLike = Pick<
  ProcessTable,
  'platform' | 'listProcesses' | 'isSameProcess' | 'processAgeMs' | 'processIdentity' | 'ancestorsOf'
>;

export type RunCommand = (
  file: string,
  args: string[],
  options: { signal?: AbortSignal },
) => Promise<{ exitCode: number | null; stdout: string; stderr: string }>;

export interface ReaperOptions {
  /** Where processes come from. Default: @spawnguard/process-table's functions for this platform. */
  table?: TableLike;
  /** Sends a POSIX signal. Default process.kill. */
  kill?: (pid: number, signal: NodeJS.Signals | 0) => void;
  /** Runs taskkill on Windows. Default: execFile, hidden window, 10 s bound. */
  runCommand?: RunCommand;
  /** How often to check whether signalled processes are gone. Default 20 ms (Linux), 100 ms (macOS), 500 ms (Windows). */
  pollIntervalMs?: number;
  events?: ReaperEmitter;
}

export interface Reaper {
  readonly events: ReaperEmitter;
  killTree(pid: number, options?: KillTreeOptions): Promise<KillTreeResult>;
  reap(options: ReapOptions): Promise<ReapResult>;
}

const DEFAULT_GRACE_MS = 3000;
/** After SIGKILL, how long we wait to see the processes disappear before reporting anyway. */
const AFTER_KILL_WAIT_MS = 2000;
/** The same for a forced kill (a second Ctrl-C): the caller is about to exit and must not wait long. */
const FORCE_CONFIRM_MS = 500;

const defaultTable: TableLike = {
  platform: process.platform,
  listProcesses: processTable.listProcesses,
  isSameProcess: processTable.isSameProcess,
  processAgeMs: processTable.processAgeMs,
  processIdentity: processTable.processIdentity,
  ancestorsOf: processTable.ancestorsOf,
};

const defaultRunCommand: RunCommand = (file, args, { signal }) =>
  new Promise((resolve) => {
    execFile(file, args, { windowsHide: true, timeout: 10_000, signal }, (error, stdout, stderr) => {
      const code = (error as { code?: unknown } | null)?.code;
      resolve({ exitCode: error ? (typeof code === 'number' ? code : null) : 0, stdout, stderr });
    });
  });

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    // Not unref'd: an awaited killTree must keep a CLI alive until it is done (bounded by graceMs).
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** A reaper bound to one process table; the package's killTree/reap use a default one. */
export function createReaper(options: ReaperOptions = {}): Reaper {
  const opts = checkObject(options, 'options') as ReaperOptions;
  const table = opts.table ?? defaultTable;
  if (!table || typeof table.listProcesses !== 'function' || typeof table.isSameProcess !== 'function') {
    throw new TypeError(`table must provide listProcesses and isSameProcess, got ${describe(table)}`);
  }
  const kill = opts.kill ?? ((pid: number, sig: NodeJS.Signals | 0) => process.kill(pid, sig));
  if (typeof kill !== 'function') throw new TypeError(`kill must be a function, got ${describe(kill)}`);
  const runCommand = opts.runCommand ?? defaultRunCommand;
  if (typeof runCommand !== 'function')
    throw new TypeError(`runCommand must be a function, got ${describe(runCommand)}`);
  const windows = table.platform === 'win32';
  const pollIntervalMs =
    checkMs(opts.pollIntervalMs, 'pollIntervalMs') ?? (windows ? 500 : table.platform === 'linux' ? 20 : 100);
  if (pollIntervalMs <= 0) throw new RangeError(`pollIntervalMs must be positive, got ${pollIntervalMs}`);
  const events = opts.events ?? mitt();
  const selfPid = process.pid;
  const myUid = typeof process.getuid === 'function' ? process.getuid() : undefined;

  /** pids we never signal, whatever the caller asks: ourselves, our ancestors, pid <= 1, the kernel's. */
  function protectedReason(p: ProcessInfo, ancestors: Set<number>): SkipReason | null {
    if (p.pid <= 1) return 'pid<=1';
    if (p.pid === selfPid) return 'self';
    if (ancestors.has(p.pid)) return 'ancestor';
    if (isKernel(p)) return 'kernel';
    return null;
  }

  /**
   * Linux: kthreadd (pid 2) and its children, which have no cmdline. Checking the cmdline matters
   * in a PID namespace, where pid 2 is an ordinary process and a process entered from outside
   * (docker exec) has ppid 0. Windows: System and Idle (ppid 0). macOS: kernel_task is pid 0.
   */
  function isKernel(p: ProcessInfo): boolean {
    if (table.platform === 'linux') return p.cmdline.length === 0 && (p.pid === 2 || p.ppid === 2 || p.ppid === 0);
    return windows && p.ppid === 0;
  }

  function ancestorsFrom(list: ProcessInfo[]): Set<number> {
    const set = new Set(ancestorsIn(list, selfPid).map((p) => p.pid));
    set.add(process.ppid);
    return set;
  }

  /** Another user's process? uid when the platform reports one, and kill(pid, 0) = EPERM on POSIX. */
  function ownership(p: ProcessInfo): 'other-user' | 'gone' | null {
    if (myUid !== undefined && p.uid !== -1 && p.uid !== myUid) return 'other-user';
    if (windows) return null;
    try {
      kill(p.pid, 0);
      return null;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EPERM') return 'other-user';
      if (code === 'ESRCH') return 'gone';
      throw error;
    }
  }

  /** Which of `members` are still the processes we recorded (zombies count as gone). */
  async function stillAlive(members: ProcessInfo[], signal?: AbortSignal): Promise<Set<number>> {
    if (members.length === 0) return new Set();
    if (table.platform === 'linux') {
      // Linux: one /proc/<pid>/stat read each, no listing.
      const same = await Promise.all(members.map((m) => table.isSameProcess(m, { signal })));
      return new Set(members.filter((_, i) => same[i]).map((m) => m.pid));
    }
    // Elsewhere each check costs a ps/PowerShell run: one listing answers for all.
    const now = new Map((await table.listProcesses({ signal })).map((p) => [p.pid, p]));
    return new Set(
      members
        .filter((m) => {
          const p = now.get(m.pid);
          return p !== undefined && p.startToken === m.startToken && p.state !== 'Z';
        })
        .map((m) => m.pid),
    );
  }

  type Sent = 'sent' | 'gone' | 'other-user';

  /**
   * One signal to one member. Linux checks its identity right here (one stat read); elsewhere the
   * caller has just checked all members with one listing (a ps/PowerShell run per member would be
   * slower than the race it closes).
   */
  async function send(m: ProcessInfo, stage: 'term' | 'kill', signal?: AbortSignal): Promise<Sent> {
    if (table.platform === 'linux' && !(await table.isSameProcess(m, { signal }))) return 'gone';
    if (windows) {
      const args = taskkillArgs(m.pid, { force: stage === 'kill' });
      const r = await runCommand(TASKKILL, args, { signal });
      // 128 = not found; without /F, console processes refuse ("can only be terminated forcefully").
      if (r.exitCode === 128) return 'gone';
      if (/access is denied/i.test(r.stderr)) return 'other-user';
      safeEmit(events, 'signal', { pid: m.pid, signal: stage === 'kill' ? 'taskkill /F' : 'taskkill' });
      return 'sent';
    }
    const sig = stage === 'kill' ? 'SIGKILL' : 'SIGTERM';
    try {
      kill(m.pid, sig);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ESRCH') return 'gone';
      if (code === 'EPERM') return 'other-user';
      throw error;
    }
    safeEmit(events, 'signal', { pid: m.pid, signal: sig });
    return 'sent';
  }

  /**
   * Terminates a snapshot of processes (parents before children): polite signal deepest first, poll
   * until gone or graceMs, then a fresh look for children born meanwhile, then SIGKILL what is left.
   * Every member is identity-checked before every signal.
   */
  async function terminate(
    members: ProcessInfo[],
    graceMs: number,
    ancestors: Set<number>,
    signal?: AbortSignal,
  ): Promise<KillTreeResult> {
    const result: KillTreeResult = { terminated: [], killed: [], gone: [], skipped: [] };
    const skip = (p: ProcessInfo, reason: SkipReason) => {
      result.skipped.push({ pid: p.pid, reason });
      safeEmit(events, 'skipped', { pid: p.pid, reason, proc: p });
    };
    const targets: ProcessInfo[] = [];
    for (const m of members) {
      const reason = protectedReason(m, ancestors) ?? (m.state === 'Z' ? 'gone' : null) ?? ownership(m);
      if (reason === 'gone') result.gone.push(m.pid);
      else if (reason) skip(m, reason);
      else targets.push(m);
    }

    let pending = new Map<number, ProcessInfo>();
    const politelyAsked = new Set<number>();
    const verifiedNow = table.platform === 'linux' ? undefined : await stillAlive(targets, signal);
    for (const m of [...targets].reverse()) {
      if (verifiedNow && !verifiedNow.has(m.pid)) {
        result.gone.push(m.pid);
        continue;
      }
      const sent = await send(m, 'term', signal);
      if (sent === 'sent') {
        pending.set(m.pid, m);
        politelyAsked.add(m.pid);
      } else if (sent === 'gone') result.gone.push(m.pid);
      else skip(m, sent);
    }

    const collect = async (into: number[], lastSignal: string) => {
      const alive = await stillAlive([...pending.values()], signal);
      for (const [pid] of pending) {
        if (alive.has(pid)) continue;
        pending.delete(pid);
        into.push(pid);
        safeEmit(events, 'killed', { pid, signal: lastSignal });
      }
    };

    const politeSignal = windows ? 'taskkill' : 'SIGTERM';
    const deadline = performance.now() + graceMs;
    while (pending.size > 0) {
      await collect(result.terminated, politeSignal);
      const left = deadline - performance.now();
      if (pending.size === 0 || left <= 0) break;
      await sleep(Math.min(pollIntervalMs, left), signal);
    }
    if (pending.size === 0) return result;

    // Grace is over. Children born since the snapshot (a parent respawning on SIGTERM) join the kill.
    const list = await table.listProcesses({ signal });
    const known = new Set(members.map((m) => m.pid));
    const survivors = [...pending.values()];
    for (const s of survivors) {
      for (const d of descendantsIn(list, s.pid)) {
        if (known.has(d.pid)) continue;
        known.add(d.pid);
        const reason = protectedReason(d, ancestors) ?? (d.state === 'Z' ? 'gone' : null) ?? ownership(d);
        if (reason === 'gone') continue;
        if (reason) skip(d, reason);
        else pending.set(d.pid, d);
      }
    }
    // Deepest first again: newcomers (children of survivors) before the survivors themselves.
    const survivorPids = new Set(survivors.map((m) => m.pid));
    const newcomers = [...pending.values()].filter((m) => !survivorPids.has(m.pid)).reverse();
    const killOrder = [...newcomers, ...survivors];
    pending = new Map();
    const verifiedForKill = table.platform === 'linux' ? undefined : await stillAlive(killOrder, signal);
    for (const m of killOrder) {
      // Exited just now: after our polite signal, or (a newcomer) before we signalled it at all.
      const exited = () => (politelyAsked.has(m.pid) ? result.terminated : result.gone).push(m.pid);
      if (verifiedForKill && !verifiedForKill.has(m.pid)) {
        exited();
        continue;
      }
      const sent = await send(m, 'kill', signal);
      if (sent === 'sent') {
        pending.set(m.pid, m);
        result.killed.push(m.pid);
      } else if (sent === 'gone') exited();
      else skip(m, sent);
    }
    // Wait (bounded) until SIGKILL has done its work, so that "killed" means gone.
    const killDeadline = performance.now() + AFTER_KILL_WAIT_MS;
    const confirmed: number[] = [];
    while (pending.size > 0 && performance.now() < killDeadline) {
      await collect(confirmed, windows ? 'taskkill /F' : 'SIGKILL');
      if (pending.size > 0) await sleep(pollIntervalMs, signal);
    }
    return result;
  }

  /**
   * A forced kill: SIGKILL (taskkill /F) to every member at once, parents first, so a killed parent
   * forks no more children while its own are being killed. Every member is identity-checked right
   * before its signal, as in terminate(). A member that forked after the snapshot and before its
   * SIGKILL left a child that is no longer in the tree (reparented when its parent died) but is
   * still in the root's process group: one more look at the group catches it.
   */
  async function forceKill(
    members: ProcessInfo[],
    ancestors: Set<number>,
    groupOf: number | null,
    signal?: AbortSignal,
  ): Promise<KillTreeResult> {
    const result: KillTreeResult = { terminated: [], killed: [], gone: [], skipped: [] };
    const skip = (p: ProcessInfo, reason: SkipReason) => {
      result.skipped.push({ pid: p.pid, reason });
      safeEmit(events, 'skipped', { pid: p.pid, reason, proc: p });
    };
    const pending = new Map<number, ProcessInfo>();
    const killAll = async (batch: ProcessInfo[]) => {
      const targets: ProcessInfo[] = [];
      for (const m of batch) {
        const reason = protectedReason(m, ancestors) ?? (m.state === 'Z' ? 'gone' : null) ?? ownership(m);
        if (reason === 'gone') result.gone.push(m.pid);
        else if (reason) skip(m, reason);
        else targets.push(m);
      }
      const verified = table.platform === 'linux' ? undefined : await stillAlive(targets, signal);
      for (const m of targets) {
        if (verified && !verified.has(m.pid)) {
          result.gone.push(m.pid);
          continue;
        }
        const sent = await send(m, 'kill', signal);
        if (sent === 'sent') {
          pending.set(m.pid, m);
          result.killed.push(m.pid);
        } else if (sent === 'gone') result.gone.push(m.pid);
        else skip(m, sent);
      }
    };
    await killAll(members);
    if (groupOf !== null && !windows) {
      const known = new Set(members.map((m) => m.pid));
      const list = await table.listProcesses({ signal });
      await killAll(list.filter((p) => p.pgid === groupOf && !known.has(p.pid)));
    }
    const deadline = performance.now() + FORCE_CONFIRM_MS;
    while (pending.size > 0 && performance.now() < deadline) {
      const alive = await stillAlive([...pending.values()], signal);
      for (const [pid] of pending) {
        if (alive.has(pid)) continue;
        pending.delete(pid);
        safeEmit(events, 'killed', { pid, signal: windows ? 'taskkill /F' : 'SIGKILL' });
      }
      if (pending.size > 0) await sleep(Math.min(pollIntervalMs, Math.max(1, deadline - performance.now())), signal);
    }
    return result;
  }

  async function killTree(pid: number, options?: KillTreeOptions): Promise<KillTreeResult> {
    checkPid(pid);
    const o = checkObject(options, 'options') as KillTreeOptions;
    const force = checkBoolean(o.force, 'force', false);
    if (force && o.graceMs !== undefined && o.graceMs !== 0) {
      throw new TypeError(
        `graceMs cannot be combined with force: true (a forced kill sends SIGKILL at once, with no grace), got graceMs ${describe(o.graceMs)}`,
      );
    }
    const graceMs = checkMs(o.graceMs, 'graceMs', DEFAULT_GRACE_MS)!;
    const signal = checkSignal(o.signal);
    if (o.startToken !== undefined && (typeof o.startToken !== 'string' || o.startToken === '')) {
      throw new TypeError(`startToken must be a non-empty string, got ${describe(o.startToken)}`);
    }
    if (pid <= 1) throw new ProtectedProcessError(pid, 'pid<=1');
    if (pid === selfPid) throw new ProtectedProcessError(pid, 'self');
    if (signal?.aborted) throw signal.reason;

    const list = await table.listProcesses({ signal });
    const ancestors = ancestorsFrom(list);
    const root = list.find((p) => p.pid === pid);
    if (ancestors.has(pid)) throw new ProtectedProcessError(pid, 'ancestor');
    if (root && isKernel(root)) throw new ProtectedProcessError(pid, 'kernel');
    if (!root || root.state === 'Z' || (o.startToken !== undefined && root.startToken !== o.startToken)) {
      // Gone, or the pid now belongs to another process: signal nothing, not even its "children".
      return { terminated: [], killed: [], gone: [pid], skipped: [] };
    }
    const members = [root, ...descendantsIn(list, pid)];
    // A group leader's group may hold processes that left the tree (their parent died and they
    // were reparented before our snapshot): they are part of what the caller started.
    if (root.pgid === root.pid) {
      const inTree = new Set(members.map((m) => m.pid));
      for (const p of list) if (p.pgid === root.pid && !inTree.has(p.pid)) members.push(p);
    }
    if (force) return forceKill(members, ancestors, root.pgid === root.pid ? root.pid : null, signal);
    return terminate(members, graceMs, ancestors, signal);
  }

  async function reap(options: ReapOptions): Promise<ReapResult> {
    if (options === null || typeof options !== 'object') {
      throw new TypeError(`options must be an object with a match, got ${describe(options)}`);
    }
    const { match } = options;
    if (!(match instanceof RegExp) && typeof match !== 'function') {
      throw new TypeError(`match must be a RegExp or a function (proc) => boolean, got ${describe(match)}`);
    }
    const olderThanMs = checkMs(options.olderThanMs, 'olderThanMs');
    const keepNewest = options.keepNewest;
    if (keepNewest !== undefined) {
      if (typeof keepNewest !== 'number')
        throw new TypeError(`keepNewest must be a number, got ${describe(keepNewest)}`);
      if (!Number.isSafeInteger(keepNewest) || keepNewest < 0) {
        throw new RangeError(`keepNewest must be a non-negative integer, got ${keepNewest}`);
      }
    }
    const orphansOnly = checkBoolean(options.orphansOnly, 'orphansOnly', true);
    const dryRun = checkBoolean(options.dryRun, 'dryRun', false);
    const graceMs = checkMs(options.graceMs, 'graceMs', DEFAULT_GRACE_MS)!;
    const signal = checkSignal(options.signal);
    const subreapers = options.subreapers ?? [];
    if (!Array.isArray(subreapers))
      throw new TypeError(`subreapers must be an array of pids, got ${describe(subreapers)}`);
    for (const [i, p] of subreapers.entries()) checkPid(p, `subreapers[${i}]`);
    const now = options.now;
    if (now !== undefined && typeof now !== 'function')
      throw new TypeError(`now must be a function, got ${describe(now)}`);
    if (signal?.aborted) throw signal.reason;

    const test =
      match instanceof RegExp
        ? (p: ProcessInfo) => {
            match.lastIndex = 0; // a /g or /y RegExp is stateful
            // Kernel threads and zombies have no cmdline: fall back to the name, as ps does.
            return match.test(p.cmdline.length > 0 ? p.cmdline.join(' ') : `[${p.name}]`);
          }
        : match;

    const list = await table.listProcesses({ signal });
    const byPid = new Map(list.map((p) => [p.pid, p]));
    const ancestors = ancestorsFrom(list);
    const matched = list.filter((p) => test(p));
    const skipped: ReapResult['skipped'] = [];
    const skip = (proc: ProcessInfo, reason: SkipReason, emit = true) => {
      skipped.push({ proc, reason });
      if (emit) safeEmit(events, 'skipped', { pid: proc.pid, reason, proc });
    };
    const isOrphan = (p: ProcessInfo) => {
      const parent = byPid.get(p.ppid);
      if (!parent || p.ppid === 1 || subreapers.includes(p.ppid)) return true;
      // Windows never updates ParentProcessId: a "parent" younger than the child is a reused pid.
      return parent.startTime > p.startTime + 1000;
    };
    const ageOf = (p: ProcessInfo) => (now ? now() - p.startTime : table.processAgeMs(p));

    const candidates: ProcessInfo[] = [];
    for (const p of matched) {
      const reason =
        protectedReason(p, ancestors) ??
        (p.state === 'Z' ? 'gone' : null) ??
        ownership(p) ??
        (orphansOnly && !isOrphan(p) ? 'not-orphan' : null);
      if (reason) skip(p, reason);
      else candidates.push(p);
    }
    // Newest first: keep the K newest, then of the rest only those old enough go.
    candidates.sort((a, b) => b.startTime - a.startTime || b.pid - a.pid);
    const kept = keepNewest === undefined ? [] : candidates.slice(0, keepNewest);
    for (const p of kept) skip(p, 'kept-newest');
    const toKill: ProcessInfo[] = [];
    for (const p of candidates.slice(kept.length)) {
      if (olderThanMs !== undefined && ageOf(p) < olderThanMs) skip(p, 'too-young');
      else toKill.push(p);
    }
    toKill.reverse(); // oldest first

    if (dryRun || toKill.length === 0) {
      for (const p of toKill) skip(p, 'dry-run');
      return { matched, killed: [], kept, skipped };
    }

    // One snapshot, all trees at once, so the grace periods overlap.
    const members: ProcessInfo[] = [];
    const seen = new Set<number>();
    for (const root of toKill) {
      for (const m of [root, ...descendantsIn(list, root.pid)]) {
        if (seen.has(m.pid)) continue;
        seen.add(m.pid);
        members.push(m);
      }
    }
    const outcome = await terminate(members, graceMs, ancestors, signal);
    const ended = new Set([...outcome.terminated, ...outcome.killed]);
    const killed = toKill.filter((p) => ended.has(p.pid));
    for (const p of toKill) {
      if (ended.has(p.pid)) continue;
      // Refused at signal time (terminate already emitted that), or gone / identity changed.
      const refused = outcome.skipped.find((s) => s.pid === p.pid);
      if (refused) skip(p, refused.reason, false);
      else skip(p, 'gone');
    }
    // A matched process skipped on its own (e.g. 'not-orphan') that died as part of a killed tree
    // is reported as killed, so that matched = killed + skipped holds.
    const alsoKilled = skipped.filter((s) => ended.has(s.proc.pid) && !killed.includes(s.proc));
    for (const s of alsoKilled) {
      skipped.splice(skipped.indexOf(s), 1);
      killed.push(s.proc);
    }
    return { matched, killed, kept: kept.filter((p) => !ended.has(p.pid)), skipped };
  }

  return { events, killTree, reap };
}
