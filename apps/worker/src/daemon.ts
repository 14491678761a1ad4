import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { bindOrDie, createBindOrDieEvents, type ProbeResult } from '@spawnguard/bind-or-die';
import type { CircuitBreaker, CircuitState } from '@spawnguard/circuit-breaker';
import { type LeftoversResult, openRegistry, type Registry, type RegistryEvents } from '@spawnguard/process-registry';
import { processIdentity } from '@spawnguard/process-table';
import mitt from 'mitt';
import { helperBreaker, spawnBreaker } from './breakers.js';
import { type Config, HOST, WORKER_NAME } from './config.js';
import { EventStore } from './events-store.js';
import { createHelperClient, type HelperClient } from './helper-client.js';
import {
  ensureHome,
  HomeError,
  type HomePaths,
  newToken,
  type PidRecord,
  readPidRecord,
  removeFile,
  writeSecureFile,
} from './home.js';
import { probeWorker, unprovenMessage } from './identity.js';
import { createLogger, type Logger } from './log.js';
import { Metrics } from './metrics.js';
import { createRequestHandler, type HealthBody } from './routes.js';
import { HttpError } from './security.js';
import { VERSION } from './version.js';

/**
 * The daemon, in boot order:
 *   1. bind-or-die on the literal 127.0.0.1: the loser exits 0 here, before any background work;
 *   2. only then write the pid/identity file and the token (0600, in the 0700 home);
 *   3. process-registry with takeover: wait (bounded, by identity) for a previous daemon that is still
 *      draining, then take the file over and kill what it left running (a SIGKILLed one's leftovers);
 *      every helper spawn waits for that claim;
 *   4. serve, and warm the helper (connection-memo + circuit-breaker + registry spawn).
 * SIGTERM/SIGINT: stop accepting, drain (bounded), kill the helper tree, registry.shutdown(), remove files.
 *   A second SIGTERM/SIGINT: SIGKILL every recorded tree at once (registry.shutdown({ force })) and exit.
 * SIGHUP: restart in place (same pid, same port): helper tree killed, registry shut down and reopened,
 *   token rotated, breakers reset; the helper is re-spawned lazily by the next /search.
 * --naive: every step above that is a defence is skipped (see README).
 */
export async function runDaemon(config: Config): Promise<number> {
  let paths: HomePaths;
  try {
    paths = ensureHome(config.home);
  } catch (error) {
    if (error instanceof HomeError) {
      process.stderr.write(`spawnguard-worker: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
  // The daemon never keeps the folder it was started from busy (a project, a mount).
  process.chdir(paths.dir);
  const log = createLogger({
    file: paths.log,
    maxBytes: config.logMaxBytes,
    base: { pid: process.pid, ...(config.naive ? { naive: true } : {}) },
    echo: process.stderr.isTTY ? process.stderr : undefined,
  });
  if (process.env.SPAWNGUARD_DAEMON_CRASH === 'always') {
    // Drill for the spawn breaker: a daemon that dies at boot, before it binds.
    log.error('boot.crash', { reason: 'SPAWNGUARD_DAEMON_CRASH=always' });
    process.stderr.write('spawnguard-worker: crashing at boot (SPAWNGUARD_DAEMON_CRASH=always)\n');
    return 1;
  }
  if (config.bootDelayMs > 0) {
    // Drill: a slow boot, before the port is taken, widens the window in which hooks find nothing.
    log.log('boot.delay', { ms: config.bootDelayMs });
    await new Promise((resolve) => setTimeout(resolve, config.bootDelayMs));
  }
  const daemon = new Daemon(config, paths, log);
  try {
    await daemon.boot();
  } catch (error) {
    log.error('boot.failed', { error });
    process.stderr.write(`spawnguard-worker: daemon failed to start: ${(error as Error).message}\n`);
    return 1;
  }
  return -1; // keeps running on its server, helper and signal handlers
}

const STATE_VALUES: CircuitState[] = ['closed', 'halfOpen', 'open'];
const OWNERSHIP_STATES = ['owned', 'waiting', 'claiming', 'not-owned', 'closed'] as const;

class Daemon {
  readonly instanceId = randomUUID();
  readonly startedAt = Date.now();
  readonly metrics = new Metrics();
  readonly events = new EventStore(100);
  startToken = '';
  token: string | null = null;
  restarts = 0;
  phase: 'booting' | 'ready' | 'reloading' | 'stopping' = 'booting';
  bound = false;
  server: Server;
  registry: Registry | null = null;
  helperBreaker: CircuitBreaker | null = null;
  spawnBreaker: CircuitBreaker | null = null;
  helper!: HelperClient;
  leftovers: LeftoversResult | null = null;
  reloading: Promise<void> = Promise.resolve();
  /** Held while SIGHUP replaces the registry: a helper connect waits for it instead of racing the swap. */
  registryReady: Promise<void> = Promise.resolve();
  stopping: Promise<void> | null = null;
  active = 0;
  #booted!: () => void;
  readonly booted = new Promise<void>((resolve) => {
    this.#booted = resolve;
  });

  readonly spawns = this.metrics.counter('spawnguard_helper_spawns_total', 'Helper processes spawned.');
  readonly connects = this.metrics.counter(
    'spawnguard_helper_connections_total',
    'MCP connections to a helper, by result (ok, error).',
  );
  readonly transitions = this.metrics.counter(
    'spawnguard_breaker_transitions_total',
    'Circuit breaker state changes, by breaker, from and to.',
  );
  readonly reaped = this.metrics.counter(
    'spawnguard_reaped_processes_total',
    'Processes killed: leftovers of a dead daemon at boot, or this daemon’s children at shutdown/reload.',
  );
  readonly requests = this.metrics.counter('spawnguard_http_requests_total', 'HTTP requests, by route and status.');

  constructor(
    readonly config: Config,
    readonly paths: HomePaths,
    readonly log: Logger,
  ) {
    this.server = createServer(
      { requestTimeout: 30_000, headersTimeout: 10_000, keepAliveTimeout: 5000, maxHeaderSize: 16 * 1024 },
      this.#handler(),
    );
    this.server.maxConnections = 1024;
    this.server.on('clientError', (_error, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
    this.#defineGauges();
  }

  health(): HealthBody {
    return {
      name: WORKER_NAME,
      version: VERSION,
      pid: process.pid,
      startToken: this.startToken,
      instanceId: this.instanceId,
      naive: this.config.naive,
    };
  }

  async boot(): Promise<void> {
    const { config, log } = this;
    log.log('boot.begin', { port: config.port, home: config.home, version: VERSION });
    if (config.naive) log.warn('naive.mode', { message: 'NAIVE MODE: every defence is off (demo only)' });
    // Signals first: a SIGTERM during boot must still end in an orderly shutdown, not a half-boot.
    this.#installSignals();
    this.startToken = (await processIdentity(process.pid).catch(() => null))?.startToken ?? '';

    // 1. Bind, or lose quietly before doing anything else.
    if (config.naive) await this.#bindNaively();
    else await this.#bindOrDie();
    if (this.stopping) return;

    // 2. Only the winner writes files that point at it.
    if (this.bound) this.#writeFiles();

    // 3. Reap what a previous daemon left behind (proven by identity, never by name).
    if (!config.naive) {
      // Never waits here: a previous daemon still draining is waited for in the background, and
      // every helper spawn waits for that claim (so nothing is spawned next to its leftovers).
      this.registry = await this.#openRegistry();
      log.log('boot.registry', { ownership: this.registry.ownership });
      this.helperBreaker = helperBreaker(config);
      this.#watchBreaker(this.helperBreaker);
      this.spawnBreaker = spawnBreaker(config, this.paths.spawnBreaker);
      this.#watchBreaker(this.spawnBreaker);
      if (this.stopping) {
        await this.registry.shutdown({ graceMs: config.killGraceMs }).catch(() => null);
        return;
      }
    }

    // 4. Serve, and start the helper the way the field's workers did: at boot.
    this.helper = createHelperClient({
      config,
      registry: () => this.registry,
      breaker: this.helperBreaker ?? null,
      whenReady: () => this.#helperMaySpawn(),
      log,
      onSpawn: () => this.spawns.inc(),
      onConnect: (ok) => this.connects.inc({ result: ok ? 'ok' : 'error' }),
    });
    this.#booted();
    if (this.stopping) return;
    this.phase = 'ready';
    this.helper.warm();
    if (config.naive) {
      setTimeout(() => void this.shutdown(`naive TTL of ${config.naiveTtlMs} ms`), config.naiveTtlMs).unref();
    }
    log.log('boot.ready', { port: config.port, bound: this.bound, instanceId: this.instanceId });
  }

  async #bindOrDie(): Promise<void> {
    const events = createBindOrDieEvents();
    let lastProbe: ProbeResult | null = null;
    await bindOrDie(
      this.server,
      { port: this.config.port, host: HOST },
      {
        events,
        verifyTimeoutMs: 2000,
        // The winner must prove it holds this home's token: a squatter that copies /health is not
        // "our worker", and exiting 0 in front of it would leave this home without one, silently.
        verifyWinner: async ({ signal }) => {
          const { probe } = await probeWorker(this.config, this.paths.token, {
            signal,
            timeoutMs: 500,
            sameVersion: false,
          });
          lastProbe = probe;
          return probe.kind === 'ours';
        },
        onLost: ({ address, winnerVerified }) => {
          if (winnerVerified) {
            // Losing the race is success: the other worker of this home serves.
            this.log.log('bind.lost', { address, winnerVerified });
            process.exit(0);
          }
          const probe = lastProbe as ProbeResult | null;
          const message =
            probe?.kind === 'unproven'
              ? unprovenMessage(this.config, probe)
              : `${address} is taken by a process that did not prove it is this home's worker within 2000 ms` +
                `${probe ? ` (${probe.reason})` : ''}; use --port or SPAWNGUARD_PORT`;
          this.log.error('bind.lost_to_unproven', { address, reason: probe?.reason ?? null });
          process.stderr.write(`spawnguard-worker: ${message}\n`);
          process.exit(1);
        },
      },
    );
    this.bound = true;
    this.log.log('bind.ok', { address: `${HOST}:${this.config.port}` });
  }

  /** The field bug: a worker that loses the port logs it and keeps running (and starts its helper anyway). */
  async #bindNaively(): Promise<void> {
    await new Promise<void>((resolve) => {
      const onError = (error: NodeJS.ErrnoException) => {
        this.log.warn('naive.bind_failed', { code: error.code, message: 'keeping on running anyway (naive mode)' });
        resolve();
      };
      this.server.once('error', onError);
      this.server.listen(this.config.port, HOST, () => {
        this.server.off('error', onError);
        this.bound = true;
        resolve();
      });
    });
  }

  #writeFiles(): void {
    this.token = newToken();
    writeSecureFile(this.paths.token, `${this.token}\n`);
    this.#writePidRecord();
  }

  #writePidRecord(): void {
    const record: PidRecord & { restarts: number } = {
      name: WORKER_NAME,
      pid: process.pid,
      startToken: this.startToken,
      port: this.config.port,
      version: VERSION,
      instanceId: this.instanceId,
      startedAt: this.startedAt,
      naive: this.config.naive,
      restarts: this.restarts,
    };
    writeSecureFile(this.paths.pidFile, `${JSON.stringify(record)}\n`);
  }

  #handler() {
    const handle = createRequestHandler({
      port: this.config.port,
      health: () => this.health(),
      token: () => this.token,
      ready: () => this.phase === 'ready',
      booted: this.booted,
      events: this.events,
      search: (query, signal) => this.search(query, signal),
      status: async () => this.status(),
      shutdown: (reason) => void this.shutdown(reason),
      metrics: this.metrics,
      requests: this.requests,
      log: this.log,
    });
    return (req: Parameters<typeof handle>[0], res: Parameters<typeof handle>[1]) => {
      this.active++;
      res.once('close', () => this.active--);
      handle(req, res);
    };
  }

  async search(query: string, signal: AbortSignal): Promise<unknown> {
    await this.reloading;
    if (this.phase === 'stopping') throw new HttpError(503, 'the worker is shutting down');
    try {
      return await this.helper.search(query, signal);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === 'EBROKENCIRCUIT') {
        const retryAfterMs = (error as { retryAfterMs?: number }).retryAfterMs ?? this.config.breakerCooldownMs;
        throw new HttpError(
          503,
          `helper circuit is open after repeated failures; retry in ${Math.ceil(retryAfterMs / 1000)} s`,
          {
            'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))),
          },
        );
      }
      throw new HttpError(502, `helper failed: ${(error as Error).message}`);
    }
  }

  status(): Record<string, unknown> {
    const breaker = (b: CircuitBreaker | null) => (b ? b.toJSON() : null);
    return {
      ...this.health(),
      port: this.config.port,
      home: this.config.home,
      phase: this.phase,
      bound: this.bound,
      startedAt: this.startedAt,
      uptimeMs: Date.now() - this.startedAt,
      restarts: this.restarts,
      helper: { state: this.helper?.state, pid: this.helper?.pid ?? null, spawns: this.spawns.get() },
      children: this.registry?.entries() ?? [],
      registry: this.registry ? { path: this.registry.path, ownership: this.registry.ownership } : null,
      breakers: { helper: breaker(this.helperBreaker), spawn: breaker(this.spawnBreaker) },
      leftoversReapedAtBoot: this.leftovers
        ? {
            killed: this.leftovers.killed.map((e) => e.pid),
            dropped: this.leftovers.dropped.map((e) => e.pid),
            skipped: this.leftovers.skipped.map((s) => ({ pid: s.entry.pid, reason: s.reason })),
          }
        : null,
      events: { total: this.events.total },
    };
  }

  /** After a SIGHUP's registry swap, and once the registry is ours (or the wait for it ended). */
  async #helperMaySpawn(): Promise<void> {
    await this.registryReady;
    const registry = this.registry;
    const state = registry?.ownership.state;
    if (registry && (state === 'waiting' || state === 'claiming')) await registry.claim().catch(() => undefined);
  }

  /**
   * The registry, taken over from a previous daemon if there is one: a daemon that boots while the
   * last one drains waits for it to exit (as long as that one's own forced-exit bound), then reaps
   * what it left. Listeners first: the claim may fire its events inside openRegistry.
   */
  async #openRegistry(): Promise<Registry> {
    const { config } = this;
    const events = mitt<RegistryEvents>();
    this.#watchRegistry(events);
    return openRegistry(this.paths.registry, {
      events,
      takeover: { waitMs: config.drainMs + config.killGraceMs * 2 + 10_000, graceMs: config.killGraceMs },
    });
  }

  #watchRegistry(events: Registry['events']): void {
    events.on('claimed', ({ previousOwner, waitedMs, leftovers }) => {
      this.leftovers = leftovers;
      this.log.log('registry.claimed', {
        previousOwner,
        waitedMs,
        killed: leftovers.killed.map((e) => e.pid),
        dropped: leftovers.dropped.map((e) => e.pid),
        skipped: leftovers.skipped.map((s) => ({ pid: s.entry.pid, reason: s.reason })),
      });
    });
    events.on('ownerWait', ({ owner, waitMs }) => this.log.log('registry.owner_wait', { owner, waitMs }));
    events.on('notClaimed', (e) => this.log.warn('registry.not_claimed', e));
    events.on('claimError', (e) => this.log.error('registry.claim_error', e));
    events.on('reaped', ({ entry, result, leftover }) => {
      const n = result.terminated.length + result.killed.length;
      if (n > 0) this.reaped.inc({ phase: leftover ? 'boot' : 'shutdown' }, n);
      this.log.log('registry.reaped', { helperPid: entry.pid, leftover, ...result });
    });
    events.on('corruptFile', (e) => this.log.warn('registry.corrupt_file', e));
    events.on('writeError', (e) => this.log.error('registry.write_error', e));
  }

  #watchBreaker(breaker: CircuitBreaker): void {
    breaker.events.on('stateChange', ({ circuit, from, to }) => {
      this.transitions.inc({ breaker: circuit ?? 'unnamed', from, to });
      this.log.log('breaker.state', { breaker: circuit, from, to });
    });
  }

  #defineGauges(): void {
    const m = this.metrics;
    m.gauge('spawnguard_info', 'Worker identity.', () => [[{ version: VERSION, naive: String(this.config.naive) }, 1]]);
    m.gauge(
      'spawnguard_uptime_seconds',
      'Seconds since the daemon started.',
      () => (Date.now() - this.startedAt) / 1000,
    );
    m.gauge('spawnguard_breaker_state', 'Circuit state, one series per state (1 = current).', () => {
      const rows: Array<[Record<string, string>, number]> = [];
      for (const b of [this.helperBreaker, this.spawnBreaker]) {
        if (!b) continue;
        const current = b.state;
        for (const state of STATE_VALUES)
          rows.push([{ breaker: b.name ?? 'unnamed', state }, state === current ? 1 : 0]);
      }
      return rows;
    });
    m.gauge('spawnguard_helper_connected', 'Whether a helper connection is cached (1) or not (0).', () =>
      this.helper?.state === 'connected' ? 1 : 0,
    );
    m.gauge(
      'spawnguard_children',
      'Children recorded in the process registry.',
      () => this.registry?.entries().length ?? 0,
    );
    m.gauge(
      'spawnguard_registry_ownership',
      'Who holds the process registry file, one series per state (1 = current): owned, waiting for a draining predecessor, claiming its leftovers, not-owned, closed.',
      () => {
        const current = this.registry?.ownership.state;
        return OWNERSHIP_STATES.map((state): [Record<string, string>, number] => [
          { state },
          state === current ? 1 : 0,
        ]);
      },
    );
    m.gauge('spawnguard_http_connections', 'Open HTTP requests being served.', () => this.active);
    m.gauge('spawnguard_events_received', 'Events received by POST /events since boot.', () => this.events.total);
  }

  #installSignals(): void {
    // The first SIGTERM/SIGINT is an orderly shutdown; one that arrives while stopping (a second
    // Ctrl-C, an impatient service manager) must not wait for the drain: force it.
    const onStop = (signal: 'SIGTERM' | 'SIGINT') => {
      if (this.stopping) void this.forceExit(signal);
      else void this.shutdown(signal);
    };
    process.on('SIGTERM', () => onStop('SIGTERM'));
    process.on('SIGINT', () => onStop('SIGINT'));
    process.on('SIGHUP', () => void this.reload());
    process.on('uncaughtException', (error) => {
      this.log.error('uncaught_exception', { error });
      void this.shutdown('uncaught exception');
    });
    process.on('unhandledRejection', (error) => this.log.error('unhandled_rejection', { error }));
  }

  /** SIGHUP: restart in place. Same pid, same port; helper and children gone; helper re-spawned lazily. */
  reload(): Promise<void> {
    if (this.phase === 'stopping' || this.phase === 'booting') return this.reloading;
    if (this.phase === 'reloading') return this.reloading;
    this.phase = 'reloading';
    let registryReplaced!: () => void;
    this.registryReady = new Promise((resolve) => {
      registryReplaced = resolve;
    });
    this.reloading = (async () => {
      this.log.log('reload.begin');
      try {
        await this.helper.reset();
        if (this.registry) {
          const result = await this.registry.shutdown({ graceMs: this.config.killGraceMs });
          this.log.log('reload.registry_shutdown', { reaped: result.reaped.length, failed: result.failed.length });
          this.registry = await this.#openRegistry();
        }
        registryReplaced();
        this.helperBreaker?.reset();
        if (this.bound) this.#writeFiles(); // rotates the token; same pid, port and instance
        this.restarts++;
        if (this.bound) this.#writePidRecord();
        this.log.log('reload.done', { restarts: this.restarts });
      } catch (error) {
        this.log.error('reload.failed', { error });
      } finally {
        registryReplaced();
        if (this.phase === 'reloading') this.phase = 'ready';
      }
    })();
    return this.reloading;
  }

  /**
   * A second signal: every recorded tree gets SIGKILL at once (start tokens still checked; a
   * graceful registry shutdown in progress is escalated), the files are removed, and the process
   * exits within about a second, whatever the drain or a helper close is still waiting for.
   */
  async forceExit(signal: 'SIGTERM' | 'SIGINT'): Promise<never> {
    const code = 128 + (signal === 'SIGINT' ? 2 : 15);
    this.log.warn('shutdown.forced_by_signal', { signal });
    setTimeout(() => process.exit(code), 1500).unref();
    this.server.closeAllConnections();
    const forced = this.registry?.shutdown({ force: true }).catch((error: unknown) => {
      this.log.error('shutdown.force_failed', { error });
      return null;
    });
    const result = await Promise.race([forced, new Promise<null>((r) => setTimeout(() => r(null), 1200).unref())]);
    if (result) this.log.log('shutdown.forced', { killed: result.reaped.length, failed: result.failed.length });
    this.#removeFiles();
    process.exit(code);
  }

  #removeFiles(): void {
    if (!this.bound) return;
    const record = readPidRecord(this.paths.pidFile);
    if (record?.instanceId === this.instanceId) {
      removeFile(this.paths.pidFile);
      removeFile(this.paths.token);
    }
  }

  shutdown(reason: string): Promise<void> {
    if (this.stopping) return this.stopping;
    this.phase = 'stopping';
    const { config, log } = this;
    const bound = config.drainMs + config.killGraceMs * 2 + 10_000;
    setTimeout(() => {
      log.error('shutdown.forced', { afterMs: bound });
      process.exit(1);
    }, bound).unref();
    this.stopping = (async () => {
      log.log('shutdown.begin', { reason, active: this.active });
      this.server.close();
      this.server.closeIdleConnections();
      const deadline = Date.now() + config.drainMs;
      while (this.active > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      if (this.active > 0) log.warn('shutdown.drain_timeout', { active: this.active });
      this.server.closeAllConnections();
      await this.reloading;
      try {
        await this.helper?.close();
      } catch (error) {
        log.error('shutdown.helper_failed', { error });
      }
      if (this.registry) {
        const result = await this.registry.shutdown({ graceMs: config.killGraceMs }).catch((error: unknown) => {
          log.error('shutdown.registry_failed', { error });
          return null;
        });
        if (result) log.log('shutdown.registry', { reaped: result.reaped.length, failed: result.failed.length });
      }
      this.#removeFiles();
      log.log('shutdown.done', { reason });
      process.exit(0);
    })();
    return this.stopping;
  }
}
