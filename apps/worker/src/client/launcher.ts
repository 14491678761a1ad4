/**
 * Making sure a worker runs: the slow path of `hook`, and all of `start`.
 *   1. home folder checked (0700, ours);
 *   2. who holds the port? Only a worker that proves it holds this home's token (identity.ts) is
 *      ours → done. Another version of it → say so. A squatter, another user's or home's worker, or
 *      a foreign program → say so and spawn nothing (spawning would only make daemons that lose the
 *      bind, over and over).
 *   3. spawn-mutex's ensureSingleton: one launcher spawns, the others wait for health; guarded by the
 *      spawn breaker, whose state is in a file shared by every launcher.
 * In naive mode step 3 is a plain spawn, by every launcher that got here: the storm.
 */
import { spawn } from 'node:child_process';
import { closeSync, renameSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { openAppendStateFileSync } from '@spawnguard/internal';
import { isSameProcess } from '@spawnguard/process-table';
import { acquireSpawnLock, ensureSingleton } from '@spawnguard/spawn-mutex';
import { type Config, HOST } from '../config/config.js';
import { ensureHome, HomeError, type HomePaths, type PidRecord, readPidRecord } from '../config/home.js';
import { readServers, ServersConfigError } from '../config/servers-config.js';
import { spawnBreaker } from '../shared/breakers.js';
import { VERSION } from '../shared/version.js';
import { probeWorker, unprovenMessage, type WorkerProbe } from './identity.js';

export interface EnsureResult {
  ok: boolean;
  /** 'running' | spawn-mutex outcome ('already-running' | 'spawned' | 'waited') | 'naive-spawned' | why not. */
  via: string;
  message?: string;
}

const CLI_PATH = fileURLToPath(new URL('./cli.js', import.meta.url));

/**
 * V8 flags for the long-lived daemon. A 1 MB young generation (default up to 16 MB) costs an idle
 * daemon nothing in speed and keeps its RSS ~3 MB lower once it has served requests.
 */
const DAEMON_NODE_FLAGS = ['--max-semi-space-size=1'];

/**
 * daemon.out, opened for the child's stdout/stderr: never blocking or following a link (a FIFO or
 * symlink planted there is refused and the daemon starts with its output discarded; its structured
 * log still goes to worker.log), and rotated once to daemon.out.1 when it has grown past
 * `logMaxBytes`, so a crash-looping daemon cannot fill the disk with traces.
 */
function openDaemonOut(config: Config, paths: HomePaths): number | 'ignore' {
  try {
    if (statSync(paths.daemonOut).size > config.logMaxBytes) renameSync(paths.daemonOut, `${paths.daemonOut}.1`);
  } catch {}
  try {
    return openAppendStateFileSync(paths.daemonOut);
  } catch {
    return 'ignore';
  }
}

/**
 * Starts `spawnguard-worker daemon` detached, its stdout/stderr appended to daemon.out (0600). It runs
 * in the home folder, not in the hook's working directory: a daemon must not keep a project folder
 * (or a mount) busy, nor stop it from being deleted on Windows.
 */
export function spawnDaemon(config: Config, paths: HomePaths): number | undefined {
  const out = openDaemonOut(config, paths);
  try {
    const child = spawn(
      process.execPath,
      [
        ...DAEMON_NODE_FLAGS,
        CLI_PATH,
        'daemon',
        '--home',
        config.home,
        '--port',
        String(config.port),
        ...(config.configFile ? ['--config', config.configFile] : []),
        ...(config.naive ? ['--naive'] : []),
      ],
      { detached: true, stdio: ['ignore', out, out], env: process.env, cwd: paths.dir, windowsHide: true },
    );
    child.on('error', () => {});
    child.unref();
    return child.pid;
  } finally {
    if (out !== 'ignore') closeSync(out);
  }
}

/** true when something listens on 127.0.0.1:<port> (connect succeeded), false on refusal or timeout. */
export function acceptsConnections(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port });
    const done = (answer: boolean) => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Is the process a pid file names still that process (never a reused pid)? */
export function isRecordedWorkerAlive(record: PidRecord): Promise<boolean> {
  return isSameProcess({ pid: record.pid, startToken: record.startToken }).catch(() => false);
}

/** Our worker answers on the port and proves it holds this home's token (never a name check alone). */
export async function isOurWorkerHealthy(config: Config, paths: HomePaths, signal?: AbortSignal): Promise<boolean> {
  try {
    const { probe } = await probeWorker(config, paths.token, { timeoutMs: 1000, signal, sameVersion: false });
    return probe.kind === 'ours' && (probe.status ?? 0) >= 200 && (probe.status ?? 0) < 300;
  } catch {
    return false;
  }
}

/** Is a launcher (or the worker it handed the lock to) holding this home's spawn lock right now? */
async function isSpawnInProgress(paths: HomePaths): Promise<boolean> {
  try {
    const release = await acquireSpawnLock(paths.lock);
    if (release === null) return true; // a live owner holds it
    await release();
    return false;
  } catch {
    return false; // an unusable lock folder proves nothing: the port's holder stays a stranger
  }
}

async function waitHealthy(config: Config, paths: HomePaths, signal: AbortSignal): Promise<boolean> {
  for (let delay = 10; !signal.aborted; delay = Math.min(delay * 2, 200)) {
    if (await isOurWorkerHealthy(config, paths, signal)) return true;
    await new Promise((resolve) => setTimeout(resolve, delay + Math.random() * delay));
  }
  return false;
}

/** What a probe that got an HTTP answer says about the port's holder; null: nobody answered. */
function knownHolder(config: Config, probe: WorkerProbe['probe']): EnsureResult | null {
  const where = `${HOST}:${config.port}`;
  if (probe.kind === 'ours') return { ok: true, via: 'running' };
  if (probe.kind === 'unproven') return { ok: false, via: 'unproven', message: unprovenMessage(config, probe) };
  if (probe.kind === 'other-version' || probe.kind === 'other-instance') {
    const other = probe.identity;
    return {
      ok: false,
      via: 'other-version',
      message:
        `a spawnguard-worker of version ${other?.version ?? '?'} (pid ${other?.pid ?? '?'}) holds ${where}; ` +
        `this is version ${VERSION}. Run \`spawnguard-worker restart\` to replace it.`,
    };
  }
  if (probe.kind === 'foreign') {
    return {
      ok: false,
      via: 'foreign',
      message: `${where} is held by another program (${probe.reason}); not starting a worker. Use --port or SPAWNGUARD_PORT.`,
    };
  }
  return null;
}

export async function ensureWorker(
  config: Config,
  { signal, budgetMs }: { signal: AbortSignal; budgetMs: number },
): Promise<EnsureResult> {
  const t0 = Date.now();
  let paths: HomePaths;
  try {
    paths = ensureHome(config.home);
  } catch (error) {
    if (error instanceof HomeError) return { ok: false, via: 'home', message: error.message };
    throw error;
  }

  const where = `${HOST}:${config.port}`;
  const { probe } = await probeWorker(config, paths.token, { timeoutMs: Math.min(1000, budgetMs), signal });
  if (probe.kind === 'ours') return { ok: true, via: 'running' };
  // A daemon started on a bad servers config would exit 2 in the background, again and again: say it here.
  try {
    readServers(config, paths);
  } catch (error) {
    if (error instanceof ServersConfigError) return { ok: false, via: 'config', message: error.message };
    throw error;
  }
  const holder = knownHolder(config, probe);
  if (holder) return holder;

  // Naive, like the field's hooks: nothing answered /health, so spawn, whatever holds the port.
  if (config.naive) {
    spawnDaemon(config, paths);
    const ok = await waitHealthy(config, paths, signal);
    return ok
      ? { ok: true, via: 'naive-spawned' }
      : { ok: false, via: 'timeout', message: `naive worker not healthy on ${where} within the budget` };
  }

  // Unreachable over HTTP. If something still accepts TCP connections there, a new daemon would
  // only lose the bind: spawn nothing. If it is our own worker (the pid file names a live process
  // of ours on this port), it is booting or busy on a loaded machine: wait for it, within the budget.
  if (await acceptsConnections(config.port, Math.min(500, budgetMs))) {
    const record = readPidRecord(paths.pidFile);
    if (record?.port === config.port && (await isRecordedWorkerAlive(record))) {
      if (await waitHealthy(config, paths, signal)) return { ok: true, via: 'running' };
      return {
        ok: false,
        via: 'busy',
        message: `the worker on ${where} (pid ${record.pid}) is running but did not answer within the budget`,
      };
    }
    // No pid file: the worker another launcher is starting binds a moment before it writes one (only
    // the winner of the bind may), and answers only after. That launcher holds the spawn lock until
    // the worker answers (or hands the lock to it): wait for it too. A stranger on the port holds no lock.
    if (await isSpawnInProgress(paths)) {
      if (await waitHealthy(config, paths, signal)) return { ok: true, via: 'waited' };
      return {
        ok: false,
        via: 'busy',
        message: `the worker being started on ${where} did not answer within the budget`,
      };
    }
    // One probe that timed out proves little on a loaded machine (a worker busy for a second, a
    // slow stranger): ask once more with what is left of the budget before calling the port silent.
    const left = budgetMs - (Date.now() - t0) - 250;
    if (left >= 1000) {
      const again = await probeWorker(config, paths.token, { timeoutMs: Math.min(left, 5000), signal });
      const known = knownHolder(config, again.probe);
      if (known) return known;
    }
    return {
      ok: false,
      via: 'silent',
      message: `${where} accepts connections but does not answer HTTP (another program, or a hung worker); not starting a worker. Use --port or SPAWNGUARD_PORT.`,
    };
  }

  // Leave a margin so a failed start is recorded by the breaker before the caller's budget ends.
  const remaining = Math.max(1, budgetMs - (Date.now() - t0) - 250);
  const breaker = spawnBreaker(config, paths.spawnBreaker);
  try {
    const result = await ensureSingleton({
      lockPath: paths.lock,
      // Proven health: a squatter that copies /health never counts as the daemon we are waiting for.
      isHealthy: ({ signal: s }) => isOurWorkerHealthy(config, paths, s),
      // The pid lets spawn-mutex hand the lock to a daemon still booting when this hook's budget
      // ends, so the next hook waits for it instead of starting a second one.
      spawn: () => spawnDaemon(config, paths),
      waitTimeoutMs: remaining,
      breaker,
      // No caller signal on purpose: an aborted spawn counts as nothing in the breaker, so a budget that
      // ends mid-wait would let the next launcher spawn again. waitTimeoutMs ends first and counts.
    });
    return { ok: true, via: result.outcome };
  } catch (error) {
    const e = error as { code?: string; retryAfterMs?: number; message: string };
    if (e.code === 'EBROKENCIRCUIT') {
      const seconds = Math.ceil((e.retryAfterMs ?? config.breakerCooldownMs) / 1000);
      return {
        ok: false,
        via: 'breaker-open',
        message: `the worker failed to start ${config.breakerThreshold} times in a row; not starting it again for ${seconds} s (see ${paths.daemonOut})`,
      };
    }
    return { ok: false, via: 'error', message: `could not start the worker on ${where}: ${e.message}` };
  }
}
