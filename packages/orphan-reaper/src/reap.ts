import {
  checkBoolean,
  checkFunction,
  checkInteger,
  checkMs,
  checkPid,
  checkSignal,
  safeEmit,
  show,
} from '@spawnguard/internal';
import { descendantsIn, type ProcessInfo } from '@spawnguard/process-table';
import { PACKAGE, type ReaperContext } from './context.js';
import { ancestorsFrom, screen } from './guard.js';
import { DEFAULT_GRACE_MS } from './kill-tree.js';
import { terminate } from './signals.js';
import type { ReapOptions, ReapResult, SkipReason } from './types.js';

/** reap(): which matched processes are candidates, which are kept, which go; then their trees at once. */

interface Plan {
  test: (p: ProcessInfo) => boolean;
  olderThanMs: number | undefined;
  keepNewest: number | undefined;
  orphansOnly: boolean;
  dryRun: boolean;
  graceMs: number;
  signal: AbortSignal | undefined;
  subreapers: number[];
  now: (() => number) | undefined;
}

function checkReapOptions(options: unknown): Plan {
  if (options === null || typeof options !== 'object') {
    throw new TypeError(`options must be an object with a match, got ${show(options)}`);
  }
  const o = options as ReapOptions;
  const { match } = o;
  if (!(match instanceof RegExp) && typeof match !== 'function') {
    throw new TypeError(`match must be a RegExp or a function (proc) => boolean, got ${show(match)}`);
  }
  const test =
    match instanceof RegExp
      ? (p: ProcessInfo) => {
          match.lastIndex = 0; // a /g or /y RegExp is stateful
          // Kernel threads and zombies have no cmdline: fall back to the name, as ps does.
          return match.test(p.cmdline.length > 0 ? p.cmdline.join(' ') : `[${p.name}]`);
        }
      : match;
  const olderThanMs = o.olderThanMs === undefined ? undefined : checkMs('olderThanMs', o.olderThanMs);
  const keepNewest = o.keepNewest === undefined ? undefined : checkInteger('keepNewest', o.keepNewest);
  const orphansOnly = checkBoolean('orphansOnly', o.orphansOnly, true);
  const dryRun = checkBoolean('dryRun', o.dryRun, false);
  const graceMs = checkMs('graceMs', o.graceMs, { fallback: DEFAULT_GRACE_MS });
  const signal = checkSignal('signal', o.signal);
  const subreapers = o.subreapers ?? [];
  if (!Array.isArray(subreapers)) throw new TypeError(`subreapers must be an array of pids, got ${show(subreapers)}`);
  for (const [i, p] of subreapers.entries()) checkPid(`subreapers[${i}]`, p);
  return {
    test,
    olderThanMs,
    keepNewest,
    orphansOnly,
    dryRun,
    graceMs,
    signal,
    subreapers,
    now: o.now === undefined ? undefined : checkFunction<() => number>('now', o.now),
  };
}

export async function reap(ctx: ReaperContext, options: ReapOptions): Promise<ReapResult> {
  const plan = checkReapOptions(options);
  const { signal, subreapers, now } = plan;
  if (signal?.aborted) throw signal.reason;

  const list = await ctx.table.listProcesses({ signal });
  const byPid = new Map(list.map((p) => [p.pid, p]));
  const ancestors = ancestorsFrom(ctx, list);
  const matched = list.filter((p) => plan.test(p));
  const skipped: ReapResult['skipped'] = [];
  const skip = (proc: ProcessInfo, reason: SkipReason, emit = true) => {
    skipped.push({ proc, reason });
    if (emit) safeEmit(PACKAGE, ctx.events, 'skipped', { pid: proc.pid, reason, proc });
  };
  const isOrphan = (p: ProcessInfo) => {
    const parent = byPid.get(p.ppid);
    if (!parent || p.ppid === 1 || subreapers.includes(p.ppid)) return true;
    // Windows never updates ParentProcessId: a "parent" younger than the child is a reused pid.
    return parent.startTime > p.startTime + 1000;
  };
  const ageOf = (p: ProcessInfo) => (now ? now() - p.startTime : ctx.table.processAgeMs(p));

  const candidates: ProcessInfo[] = [];
  for (const p of matched) {
    const reason = screen(ctx, p, ancestors) ?? (plan.orphansOnly && !isOrphan(p) ? 'not-orphan' : null);
    if (reason) skip(p, reason);
    else candidates.push(p);
  }
  // Newest first: keep the K newest, then of the rest only those old enough go.
  candidates.sort((a, b) => b.startTime - a.startTime || b.pid - a.pid);
  const kept = plan.keepNewest === undefined ? [] : candidates.slice(0, plan.keepNewest);
  for (const p of kept) skip(p, 'kept-newest');
  const toKill: ProcessInfo[] = [];
  for (const p of candidates.slice(kept.length)) {
    if (plan.olderThanMs !== undefined && ageOf(p) < plan.olderThanMs) skip(p, 'too-young');
    else toKill.push(p);
  }
  toKill.reverse(); // oldest first

  if (plan.dryRun || toKill.length === 0) {
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
  const outcome = await terminate(ctx, members, plan.graceMs, ancestors, signal);
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
