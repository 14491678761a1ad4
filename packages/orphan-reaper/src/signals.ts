import { safeEmit, sleep } from '@spawnguard/internal';
import { descendantsIn, type ProcessInfo } from '@spawnguard/process-table';
import { PACKAGE, type ReaperContext } from './context.js';
import { screen } from './guard.js';
import type { KillTreeResult, SkipReason } from './types.js';
import { TASKKILL, taskkillArgs } from './windows.js';

/**
 * Signal escalation: a polite signal, a grace period, SIGKILL for what is left (terminate), or
 * SIGKILL at once (forceKill). Every member's identity is checked before every signal.
 */

/** After SIGKILL, how long we wait to see the processes disappear before reporting anyway. */
const AFTER_KILL_WAIT_MS = 2000;
/** The same for a forced kill (a second Ctrl-C): the caller is about to exit and must not wait long. */
const FORCE_CONFIRM_MS = 500;

type Sent = 'sent' | 'gone' | 'other-user';

/** Which of `members` are still the processes we recorded (zombies count as gone). */
async function stillAlive(ctx: ReaperContext, members: ProcessInfo[], signal?: AbortSignal): Promise<Set<number>> {
  if (members.length === 0) return new Set();
  if (ctx.linux) {
    // Linux: one /proc/<pid>/stat read each, no listing.
    const same = await Promise.all(members.map((m) => ctx.table.isSameProcess(m, { signal })));
    return new Set(members.filter((_, i) => same[i]).map((m) => m.pid));
  }
  // Elsewhere each check costs a ps/PowerShell run: one listing answers for all.
  const now = new Map((await ctx.table.listProcesses({ signal })).map((p) => [p.pid, p]));
  return new Set(
    members
      .filter((m) => {
        const p = now.get(m.pid);
        return p !== undefined && p.startToken === m.startToken && p.state !== 'Z';
      })
      .map((m) => m.pid),
  );
}

/**
 * One signal to one member. Linux checks its identity right here (one stat read); elsewhere the
 * caller has just checked all members with one listing (a ps/PowerShell run per member would be
 * slower than the race it closes).
 */
async function send(ctx: ReaperContext, m: ProcessInfo, stage: 'term' | 'kill', signal?: AbortSignal): Promise<Sent> {
  if (ctx.linux && !(await ctx.table.isSameProcess(m, { signal }))) return 'gone';
  if (ctx.windows) {
    const args = taskkillArgs(m.pid, { force: stage === 'kill' });
    const r = await ctx.runCommand(TASKKILL, args, { signal });
    // 128 = not found; without /F, console processes refuse ("can only be terminated forcefully").
    if (r.exitCode === 128) return 'gone';
    if (/access is denied/i.test(r.stderr)) return 'other-user';
    safeEmit(PACKAGE, ctx.events, 'signal', { pid: m.pid, signal: stage === 'kill' ? 'taskkill /F' : 'taskkill' });
    return 'sent';
  }
  const sig = stage === 'kill' ? 'SIGKILL' : 'SIGTERM';
  try {
    ctx.kill(m.pid, sig);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ESRCH') return 'gone';
    if (code === 'EPERM') return 'other-user';
    throw error;
  }
  safeEmit(PACKAGE, ctx.events, 'signal', { pid: m.pid, signal: sig });
  return 'sent';
}

/** `stage` to each of `order` in turn, each identity-checked first (off Linux: one listing for all). */
async function signalEach(
  ctx: ReaperContext,
  order: ProcessInfo[],
  stage: 'term' | 'kill',
  signal: AbortSignal | undefined,
  outcome: (m: ProcessInfo, sent: Sent) => void,
): Promise<void> {
  const verified = ctx.linux ? undefined : await stillAlive(ctx, order, signal);
  for (const m of order) {
    if (verified && !verified.has(m.pid)) outcome(m, 'gone');
    else outcome(m, await send(ctx, m, stage, signal));
  }
}

/** A kill run's result, and its refusals reported as they happen. */
class Run {
  readonly result: KillTreeResult = { terminated: [], killed: [], gone: [], skipped: [] };
  /** Signalled and not yet seen gone. */
  pending = new Map<number, ProcessInfo>();

  constructor(
    private readonly ctx: ReaperContext,
    private readonly signal: AbortSignal | undefined,
  ) {}

  skip(p: ProcessInfo, reason: SkipReason): void {
    this.result.skipped.push({ pid: p.pid, reason });
    safeEmit(PACKAGE, this.ctx.events, 'skipped', { pid: p.pid, reason, proc: p });
  }

  /** The members that may be signalled; the others are recorded as gone or skipped. */
  admit(batch: ProcessInfo[], ancestors: Set<number>): ProcessInfo[] {
    const targets: ProcessInfo[] = [];
    for (const m of batch) {
      const reason = screen(this.ctx, m, ancestors);
      if (reason === 'gone') this.result.gone.push(m.pid);
      else if (reason) this.skip(m, reason);
      else targets.push(m);
    }
    return targets;
  }

  /** Moves the pending members that are gone now into `into`, reporting `killed` with their last signal. */
  async collect(lastSignal: string, into?: number[]): Promise<void> {
    const alive = await stillAlive(this.ctx, [...this.pending.values()], this.signal);
    for (const [pid] of this.pending) {
      if (alive.has(pid)) continue;
      this.pending.delete(pid);
      into?.push(pid);
      safeEmit(PACKAGE, this.ctx.events, 'killed', { pid, signal: lastSignal });
    }
  }
}

/**
 * Terminates a snapshot of processes (parents before children): polite signal deepest first, poll
 * until gone or graceMs, then a fresh look for children born meanwhile, then SIGKILL what is left.
 * Every member is identity-checked before every signal.
 */
export async function terminate(
  ctx: ReaperContext,
  members: ProcessInfo[],
  graceMs: number,
  ancestors: Set<number>,
  signal?: AbortSignal,
): Promise<KillTreeResult> {
  const run = new Run(ctx, signal);
  const { result } = run;
  const politelyAsked = new Set<number>();
  await signalEach(ctx, run.admit(members, ancestors).reverse(), 'term', signal, (m, sent) => {
    if (sent === 'sent') {
      run.pending.set(m.pid, m);
      politelyAsked.add(m.pid);
    } else if (sent === 'gone') result.gone.push(m.pid);
    else run.skip(m, sent);
  });

  const politeSignal = ctx.windows ? 'taskkill' : 'SIGTERM';
  const deadline = performance.now() + graceMs;
  while (run.pending.size > 0) {
    await run.collect(politeSignal, result.terminated);
    const left = deadline - performance.now();
    if (run.pending.size === 0 || left <= 0) break;
    await sleep(Math.min(ctx.pollIntervalMs, left), signal);
  }
  if (run.pending.size === 0) return result;

  // Grace is over. Children born since the snapshot (a parent respawning on SIGTERM) join the kill.
  const list = await ctx.table.listProcesses({ signal });
  const known = new Set(members.map((m) => m.pid));
  const survivors = [...run.pending.values()];
  for (const s of survivors) {
    for (const d of descendantsIn(list, s.pid)) {
      if (known.has(d.pid)) continue;
      known.add(d.pid);
      const reason = screen(ctx, d, ancestors);
      if (reason === 'gone') continue;
      if (reason) run.skip(d, reason);
      else run.pending.set(d.pid, d);
    }
  }
  // Deepest first again: newcomers (children of survivors) before the survivors themselves.
  const survivorPids = new Set(survivors.map((m) => m.pid));
  const newcomers = [...run.pending.values()].filter((m) => !survivorPids.has(m.pid)).reverse();
  run.pending = new Map();
  await signalEach(ctx, [...newcomers, ...survivors], 'kill', signal, (m, sent) => {
    if (sent === 'sent') {
      run.pending.set(m.pid, m);
      result.killed.push(m.pid);
    } else if (sent === 'other-user') run.skip(m, sent);
    // Exited just now: after our polite signal, or (a newcomer) before we signalled it at all.
    else (politelyAsked.has(m.pid) ? result.terminated : result.gone).push(m.pid);
  });
  // Wait (bounded) until SIGKILL has done its work, so that "killed" means gone.
  const killDeadline = performance.now() + AFTER_KILL_WAIT_MS;
  while (run.pending.size > 0 && performance.now() < killDeadline) {
    await run.collect(ctx.windows ? 'taskkill /F' : 'SIGKILL');
    if (run.pending.size > 0) await sleep(ctx.pollIntervalMs, signal);
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
export async function forceKill(
  ctx: ReaperContext,
  members: ProcessInfo[],
  ancestors: Set<number>,
  groupOf: number | null,
  signal?: AbortSignal,
): Promise<KillTreeResult> {
  const run = new Run(ctx, signal);
  const { result } = run;
  const killAll = (batch: ProcessInfo[]) =>
    signalEach(ctx, run.admit(batch, ancestors), 'kill', signal, (m, sent) => {
      if (sent === 'sent') {
        run.pending.set(m.pid, m);
        result.killed.push(m.pid);
      } else if (sent === 'gone') result.gone.push(m.pid);
      else run.skip(m, sent);
    });
  await killAll(members);
  if (groupOf !== null && !ctx.windows) {
    const known = new Set(members.map((m) => m.pid));
    const list = await ctx.table.listProcesses({ signal });
    await killAll(list.filter((p) => p.pgid === groupOf && !known.has(p.pid)));
  }
  const deadline = performance.now() + FORCE_CONFIRM_MS;
  while (run.pending.size > 0 && performance.now() < deadline) {
    await run.collect(ctx.windows ? 'taskkill /F' : 'SIGKILL');
    if (run.pending.size > 0) {
      await sleep(Math.min(ctx.pollIntervalMs, Math.max(1, deadline - performance.now())), signal);
    }
  }
  return result;
}
