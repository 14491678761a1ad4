/**
 * start / stop / restart / status: the operator's commands.
 * `stop` is graceful first (token-protected POST /shutdown: the daemon drains and kills its
 * children's trees itself), then signals to the recorded pid, but only after process-table's
 * isSameProcess proved that pid is still the daemon we recorded (never a reused pid). Bounded.
 */
import { existsSync } from 'node:fs';
import { killTree } from '@spawnguard/orphan-reaper';
import { type Config, HOST } from '../config/config.js';
import {
  checkHome,
  HomeError,
  homePaths,
  type PidRecord,
  readPidRecord,
  readToken,
  removeFile,
  removeOwnPidRecord,
} from '../config/home.js';
import { spawnBreaker } from '../shared/breakers.js';
import { call } from './daemon-call.js';
import { probeWorker, unprovenMessage } from './identity.js';
import { ensureWorker, isRecordedWorkerAlive } from './launcher.js';

const START_BUDGET_MS = 15_000;

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}
function err(line: string): void {
  process.stderr.write(`spawnguard-worker: ${line}\n`);
}

/** The home must exist and be safe for stop/status; a missing home just means "never started". */
function openHome(config: Config): ReturnType<typeof homePaths> | 'missing' | HomeError {
  if (!existsSync(config.home)) return 'missing';
  try {
    checkHome(config.home);
  } catch (error) {
    if (error instanceof HomeError) return error;
    throw error;
  }
  return homePaths(config.home);
}

export async function start(config: Config): Promise<number> {
  const signal = AbortSignal.timeout(START_BUDGET_MS);
  let result: Awaited<ReturnType<typeof ensureWorker>>;
  try {
    result = await ensureWorker(config, { signal, budgetMs: START_BUDGET_MS });
  } catch (error) {
    err(signal.aborted ? `worker not healthy within ${START_BUDGET_MS} ms` : (error as Error).message);
    return 1;
  }
  if (!result.ok) {
    err(result.message ?? 'could not start the worker');
    return result.via === 'config' ? 2 : 1;
  }
  if (result.via === 'running' || result.via === 'already-running') return 0; // idempotent, quiet
  const health = await call(config.port, '/health').catch(() => null);
  const pid = (health?.json as { pid?: number } | undefined)?.pid;
  out(`spawnguard-worker started${config.naive ? ' (NAIVE MODE)' : ''}: pid ${pid ?? '?'}, ${HOST}:${config.port}`);
  return 0;
}

async function waitGone(record: PidRecord, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!(await isRecordedWorkerAlive(record))) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return !(await isRecordedWorkerAlive(record));
}

export async function stop(config: Config): Promise<number> {
  const home = openHome(config);
  if (home instanceof HomeError) {
    err(home.message);
    return 1;
  }
  const paths = home === 'missing' ? null : home;
  const record = paths ? readPidRecord(paths.pidFile) : null;
  const token = paths ? readToken(paths.token) : null;
  const graceful = config.drainMs + config.killGraceMs * 2 + 5000;

  if (!record) {
    const { probe } = await probeWorker(config, homePaths(config.home).token, { timeoutMs: 2000, sameVersion: false });
    if (probe.kind === 'ours' || probe.kind === 'unproven') {
      err(
        `a worker answers on ${HOST}:${config.port} (it says pid ${probe.identity?.pid ?? '?'}) but ${config.home} has no pid file for it; ` +
          'is it using another --home? Stop it with that --home, or by its pid.',
      );
      return 1;
    }
    out('spawnguard-worker is not running');
    return 0;
  }
  if (!(await isRecordedWorkerAlive(record))) {
    removeFile(paths!.pidFile);
    out(`spawnguard-worker is not running (removed the stale pid file of pid ${record.pid})`);
    return 0;
  }

  // 1. Graceful: the daemon drains, kills its children's trees and removes its files. The token goes
  // only to the recorded worker, after it proved it holds the token (never to whoever has the port now).
  let asked = false;
  if (token) {
    const at = { ...config, port: record.port };
    const { probe, token: proven } = await probeWorker(at, paths!.token, { timeoutMs: 2000, sameVersion: false });
    if (probe.kind === 'ours' && proven && probe.identity?.pid === record.pid) {
      const answer = await call(record.port, '/shutdown', { method: 'POST', token: proven, timeoutMs: 2000 }).catch(
        () => null,
      );
      asked = answer?.status === 202;
    }
  }
  if (asked && (await waitGone(record, graceful))) {
    out(`spawnguard-worker stopped (pid ${record.pid})`);
    return 0;
  }

  // 2. Signals, to the recorded pid only, and only while it is provably the same process.
  if (await isRecordedWorkerAlive(record)) {
    try {
      process.kill(record.pid, 'SIGTERM');
    } catch {}
    if (!(await waitGone(record, graceful))) {
      // 3. Last resort: the whole tree, SIGKILL after a short grace (start token re-checked first).
      await killTree(record.pid, { graceMs: 1000, startToken: record.startToken }).catch(() => null);
    }
  }
  if (await waitGone(record, 2000)) {
    removeOwnPidRecord(paths!.pidFile, record.instanceId);
    out(`spawnguard-worker stopped (pid ${record.pid}${asked ? '' : ', by signal'})`);
    return 0;
  }
  err(`pid ${record.pid} did not stop; it may belong to another user or be stuck in the kernel`);
  return 1;
}

export async function restart(config: Config): Promise<number> {
  const stopped = await stop(config);
  if (stopped !== 0) return stopped;
  return start(config);
}

function duration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${(ms / 1000).toFixed(1)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** The config's health for `status`: a refused edit (until a reload succeeds) and live reload's state. */
interface StatusConfig {
  source: string;
  disabled: string[];
  warnings: string[];
  /** Absent from a worker older than live reload. */
  valid?: boolean;
  error?: { message: string; at: number } | null;
  watch?: { state: string; files?: string[]; debounceMs?: number; waitingFor?: string | null; error?: string | null };
}

function configLines(config: StatusConfig): string[] {
  const lines: string[] = [];
  if (config.error) {
    const at = new Date(config.error.at).toISOString();
    lines.push(`  CONFIG ERROR ${config.error.message.split('\n')[0]}`);
    lines.push(`               (refused at ${at}; the previous config is still in force until a valid edit)`);
  }
  const watch = config.watch;
  if (!watch) return lines;
  const files = (watch.files ?? []).join(', ');
  if (watch.state === 'watching') {
    lines.push(`  live reload  watching ${files} (debounce ${watch.debounceMs} ms)`);
  } else if (watch.state === 'failed') {
    lines.push(
      `  live reload  NOT WATCHING: ${(watch.error ?? 'unknown').split('\n').join('; ')}; SIGHUP still reloads`,
    );
  } else {
    lines.push(`  live reload  ${watch.state}; SIGHUP reloads`);
  }
  if (watch.waitingFor) {
    lines.push(`               ${watch.waitingFor} is missing: the running config stays until it is back`);
  }
  return lines;
}

/** Exit codes: 0 running, 3 not running (LSB), 1 something else holds the port or the home is unsafe. */
export async function status(config: Config, json: boolean): Promise<number> {
  const home = openHome(config);
  if (home instanceof HomeError) {
    err(home.message);
    return 1;
  }
  const paths = home === 'missing' ? null : home;
  const { probe, token } = await probeWorker(config, homePaths(config.home).token, {
    timeoutMs: 2000,
    sameVersion: false,
  });
  const identity = probe.identity as { name?: string; version?: string; pid?: number } | undefined;
  if (probe.kind === 'unproven') {
    // Never an Authorization header to a worker that did not prove it holds our token.
    const message = unprovenMessage(config, probe);
    if (json) out(JSON.stringify({ running: false, port: config.port, unproven: true, message }));
    err(message);
    return 1;
  }
  if (probe.kind !== 'ours' || !identity) {
    const foreign = probe.kind === 'foreign';
    // Not running: the shared spawn breaker says whether launchers have given up starting it.
    const breaker = paths ? spawnBreaker(config, paths.spawnBreaker).toJSON() : null;
    if (json) out(JSON.stringify({ running: false, port: config.port, foreign, spawnBreaker: breaker }));
    else if (foreign) err(`${HOST}:${config.port} is held by another program (not a spawnguard-worker)`);
    else {
      out(`spawnguard-worker is not running (${HOST}:${config.port})`);
      if (breaker && breaker.state !== 'closed') {
        const wait = breaker.retryAfterMs === null ? '' : `; next try in ${Math.ceil(breaker.retryAfterMs / 1000)} s`;
        out(
          `  spawn breaker ${breaker.state} after ${breaker.failures} failed starts${wait} (see ${paths!.daemonOut})`,
        );
      }
    }
    return foreign ? 1 : 3;
  }
  const detail = token ? await call(config.port, '/status', { token, timeoutMs: 2000 }).catch(() => null) : null;
  const full = detail?.status === 200 ? (detail.json as Record<string, unknown>) : null;
  if (json) {
    out(JSON.stringify({ running: true, ...(full ?? identity), authorized: full !== null }));
    return 0;
  }
  if (!full) {
    out(`spawnguard-worker ${identity.version} running: pid ${identity.pid}, ${HOST}:${config.port}`);
    out(`  (no valid token in ${config.home}: details need the worker's token; is it using another --home?)`);
    return 0;
  }
  const s = full as {
    version: string;
    pid: number;
    instanceId: string;
    uptimeMs: number;
    reloads: number;
    naive: boolean;
    config: StatusConfig;
    servers: Array<{
      name: string;
      state: string;
      pid: number | null;
      starts: number;
      restarts: number;
      sessions: number;
      inFlight: number;
      rssBytes: number | null;
      lastError: { message: string } | null;
      /** `${NAME}` its entry uses: names only (daemon/mcp/unresolved-servers.ts). */
      variables?: string[];
      expansionError?: string | null;
      /** Filters and timeouts in force (unresolved-servers.ts). */
      filters?: Record<string, { allow?: string[]; deny?: string[] }> | null;
      requestTimeoutMs?: number | null;
      maxTimeoutsInARow?: number | null;
    }>;
    children: Array<{ pid: number; type: string }>;
    breakers: Record<string, { state?: string } | null>;
    leftoversReapedAtBoot: { killed: number[] } | null;
    registry: { ownership: { state: string; reason?: string; owner?: { pid: number } | null } } | null;
    events: { total: number };
  };
  const breakers = Object.entries(s.breakers)
    .map(([name, b]) => `${name} ${b?.state ?? 'off'}`)
    .join(', ');
  out(`spawnguard-worker ${s.version} running${s.naive ? ' (NAIVE MODE)' : ''}`);
  out(`  pid          ${s.pid} (instance ${s.instanceId}, reloads ${s.reloads})`);
  out(`  port         ${HOST}:${config.port}`);
  out(`  home         ${config.home}`);
  out(`  uptime       ${duration(s.uptimeMs)}`);
  out(
    `  config       ${s.config.source}${s.config.disabled.length ? ` (disabled: ${s.config.disabled.join(', ')})` : ''}`,
  );
  for (const line of configLines(s.config)) out(line);
  for (const v of s.servers) {
    // Names only: status never shows what a variable holds.
    const uses = v.variables?.length ? `; variables ${v.variables.join(', ')}` : '';
    const filters = Object.entries(v.filters ?? {})
      .map(([kind, f]) => `; ${kind} ${f.allow ? 'allow' : 'deny'} ${(f.allow ?? f.deny ?? []).join(', ')}`)
      .join('');
    const timeout = v.requestTimeoutMs
      ? `; timeout ${v.requestTimeoutMs} ms${v.maxTimeoutsInARow === 0 ? ' (no restart)' : v.maxTimeoutsInARow ? ` (restart after ${v.maxTimeoutsInARow} in a row)` : ''}`
      : '';
    if (v.expansionError) {
      out(`  mcp ${v.name.padEnd(8)} not started${uses}: ${v.expansionError}`);
      continue;
    }
    const rss = v.rssBytes === null ? '' : `, ${(v.rssBytes / 1024 / 1024).toFixed(1)} MB`;
    out(
      `  mcp ${v.name.padEnd(8)} ${v.state}${v.pid ? ` (pid ${v.pid}${rss})` : ''}, ${v.sessions} session${v.sessions === 1 ? '' : 's'}, ` +
        `${v.inFlight} in flight, ${v.starts} start${v.starts === 1 ? '' : 's'}, ${v.restarts} restart${v.restarts === 1 ? '' : 's'}` +
        `${uses}${filters}${timeout}${v.lastError ? `; last error: ${v.lastError.message.split('\n')[0]}` : ''}`,
    );
  }
  out(
    `  children     ${s.children.length}${s.children.length ? `: ${s.children.map((c) => `${c.pid} ${c.type}`).join(', ')}` : ''}`,
  );
  out(`  breakers     ${breakers}`);
  const ownership = s.registry?.ownership;
  if (ownership) {
    const who = ownership.owner ? ` (pid ${ownership.owner.pid})` : '';
    const detail =
      ownership.state === 'waiting'
        ? `waiting for the previous daemon${who} to exit`
        : ownership.state === 'not-owned'
          ? `NOT OWNED: ${ownership.reason}${who}; MCP servers cannot start until it is`
          : ownership.state;
    out(`  registry     ${detail}`);
  }
  const reaped = s.leftoversReapedAtBoot?.killed ?? [];
  out(
    `  reaped       ${reaped.length} leftover${reaped.length === 1 ? '' : 's'} at boot${reaped.length ? ` (pids ${reaped.join(', ')})` : ''}`,
  );
  out(`  events       ${s.events.total}`);
  return 0;
}
