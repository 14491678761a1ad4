import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { bindOrDie, createBindOrDieEvents, type ProbeResult } from '@spawnguard/bind-or-die';
import type { CircuitBreaker } from '@spawnguard/circuit-breaker';
import { type LeftoversResult, openRegistry, type Registry, type RegistryEvents } from '@spawnguard/process-registry';
import { processIdentity } from '@spawnguard/process-table';
import mitt from 'mitt';
import { spawnBreaker } from './breakers.js';
import { type Config, HOST, WORKER_NAME } from './config.js';
import { EventStore } from './events-store.js';
import { builtInServer } from './helper-server-args.js';
import {
  ensureHome,
  HomeError,
  type HomePaths,
  newToken,
  type PidRecord,
  readPidRecord,
  readToken,
  removeFile,
  writeSecureFile,
} from './home.js';
import { probeWorker, unprovenMessage } from './identity.js';
import { createLogger, type Logger } from './log.js';
import type { HostedStatus, Hosting, SearchResult } from './mcp-hosting.js';
import { defineDaemonMetrics, Metrics } from './metrics.js';
import type { NaiveHelper, NaiveMcp } from './naive.js';
import { createRequestHandler, type HealthBody, type McpEndpoint } from './routes.js';
import { HttpError } from './security.js';
import { readServers, type ServersConfig, ServersConfigError } from './servers-config.js';
import { unavailableToHttp } from './unavailable.js';
import { VERSION } from './version.js';

/**
 * The daemon, in boot order:
 *   0. the servers config is read and checked: a bad one exits 2 before anything else;
 *   1. bind-or-die on the literal 127.0.0.1: the loser exits 0 here, before any background work;
 *   2. only then write the pid/identity file and the token (0600, in the 0700 home);
 *   3. process-registry with takeover: wait (bounded, by identity) for a previous daemon that is still
 *      draining, then take the file over and kill what it left running (a SIGKILLed one's leftovers);
 *      every backend spawn waits for that claim;
 *   4. serve: the MCP host (one backend per configured server, started on first use) at /mcp/<name>,
 *      and /search through it on the built-in demo server.
 * SIGTERM/SIGINT: stop accepting, drain (bounded), close the host (every backend tree killed),
 *   registry.shutdown(), remove files. A second SIGTERM/SIGINT: SIGKILL every recorded tree at once
 *   (registry.shutdown({ force })) and exit.
 * SIGHUP: reload the servers config in place (same pid, port and token): only changed servers
 *   restart, removed ones stop; the spawn breaker is left to its cooldown.
 * --naive (naive.ts): every step above that is a defence is skipped.
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
  let servers: ServersConfig;
  try {
    servers = readServers(config, paths);
  } catch (error) {
    if (!(error instanceof ServersConfigError)) throw error;
    log.error('boot.bad_config', { error });
    process.stderr.write(`spawnguard-worker: ${error.message}\n`);
    return 2;
  }
  for (const warning of servers.warnings) log.warn('config.warning', { warning });
  if (config.bootDelayMs > 0) {
    // Drill: a slow boot, before the port is taken, widens the window in which hooks find nothing.
    log.log('boot.delay', { ms: config.bootDelayMs });
    await new Promise((resolve) => setTimeout(resolve, config.bootDelayMs));
  }
  const daemon = new Daemon(config, paths, log, servers);
  try {
    await daemon.boot();
  } catch (error) {
    log.error('boot.failed', { error });
    process.stderr.write(`spawnguard-worker: daemon failed to start: ${(error as Error).message}\n`);
    return 1;
  }
  return -1; // keeps running on its server, backends and signal handlers
}

class Daemon {
  readonly instanceId = randomUUID();
  readonly startedAt = Date.now();
  readonly metrics = new Metrics();
  readonly events = new EventStore(100);
  startToken = '';
  token: string | null = null;
  reloads = 0;
  phase: 'booting' | 'ready' | 'reloading' | 'stopping' = 'booting';
  bound = false;
  server: Server;
  registry: Registry | null = null;
  spawnBreaker: CircuitBreaker | null = null;
  hosting: Hosting | null = null;
  naiveHelper: NaiveHelper | null = null;
  naiveMcp: NaiveMcp | null = null;
  leftovers: LeftoversResult | null = null;
  reloading: Promise<void> = Promise.resolve();
  stopping: Promise<void> | null = null;
  active = 0;
  #booted!: () => void;
  readonly booted = new Promise<void>((resolve) => {
    this.#booted = resolve;
  });
  readonly counters;

  constructor(
    readonly config: Config,
    readonly paths: HomePaths,
    readonly log: Logger,
    public servers: ServersConfig,
  ) {
    this.counters = defineDaemonMetrics(this.metrics, {
      naive: config.naive,
      startedAt: this.startedAt,
      breakers: () => [this.spawnBreaker],
      servers: () => this.serverStatus(),
      children: () => this.registry?.entries().length ?? 0,
      ownership: () => this.registry?.ownership.state ?? null,
      connections: () => this.active,
      eventsReceived: () => this.events.total,
    });
    this.server = createServer(
      { requestTimeout: 30_000, headersTimeout: 10_000, keepAliveTimeout: 5000, maxHeaderSize: 16 * 1024 },
      this.#handler(),
    );
    this.server.maxConnections = 1024;
    this.server.on('clientError', (_error, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
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
    log.log('boot.begin', { port: config.port, home: config.home, version: VERSION, servers: this.servers.source });
    if (config.naive) log.warn('naive.mode', { message: 'NAIVE MODE: every defence is off (demo only)' });
    // Signals first: a SIGTERM during boot must still end in an orderly shutdown, not a half-boot.
    this.#installSignals();
    this.startToken = (await processIdentity(process.pid).catch(() => null))?.startToken ?? '';

    // 1. Bind, or lose quietly before doing anything else.
    const naive = config.naive ? await import('./naive.js') : null;
    if (naive) this.bound = await naive.bindNaively(this.server, config, log);
    else await this.#bindOrDie();
    if (this.stopping) return;

    // 2. Only the winner writes files that point at it.
    if (this.bound) this.#writeFiles();

    if (naive) {
      // 3-4, the field's way: a helper at boot (kept), a copy of every server per MCP session.
      this.naiveHelper = naive.createNaiveHelper(builtInServer(config), config, log);
      this.naiveMcp = naive.createNaiveMcp(this.servers.servers, config, log);
      this.#booted();
      this.phase = 'ready';
      this.naiveHelper.warm();
      setTimeout(() => void this.shutdown(`naive TTL of ${config.naiveTtlMs} ms`), config.naiveTtlMs).unref();
      log.log('boot.ready', { port: config.port, bound: this.bound, instanceId: this.instanceId });
      return;
    }

    // 3. The registry: never waits here (a predecessor still draining is waited for in the
    // background, and every backend spawn waits for that claim, so nothing starts next to its leftovers).
    this.registry = await this.#openRegistry();
    log.log('boot.registry', { ownership: this.registry.ownership });
    this.spawnBreaker = spawnBreaker(config, this.paths.spawnBreaker);
    this.#watchBreaker(this.spawnBreaker);
    if (this.stopping) {
      await this.registry.shutdown({ graceMs: config.killGraceMs }).catch(() => null);
      return;
    }

    // 4. Serve. The MCP host (and the SDK) load with the first /mcp or /search request, and
    // backends start on first use: an idle daemon carries neither.
    this.#booted();
    if (this.stopping) return;
    this.phase = 'ready';
    log.log('boot.ready', {
      port: config.port,
      bound: this.bound,
      instanceId: this.instanceId,
      servers: Object.keys(this.servers.servers),
    });
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

  /**
   * The token survives daemon restarts (a client configured with it keeps working); a missing or
   * unusable one is replaced. Delete the file and restart to rotate it.
   */
  #writeFiles(): void {
    this.token = readToken(this.paths.token) ?? newToken();
    writeSecureFile(this.paths.token, `${this.token}\n`);
    this.#writePidRecord();
  }

  #writePidRecord(): void {
    const record: PidRecord & { reloads: number } = {
      name: WORKER_NAME,
      pid: process.pid,
      startToken: this.startToken,
      port: this.config.port,
      version: VERSION,
      instanceId: this.instanceId,
      startedAt: this.startedAt,
      naive: this.config.naive,
      reloads: this.reloads,
    };
    writeSecureFile(this.paths.pidFile, `${JSON.stringify(record)}\n`);
  }

  #handler() {
    const mcp: McpEndpoint = {
      has: (name) => (this.naiveMcp ? this.naiveMcp.has(name) : Object.hasOwn(this.servers.servers, name)),
      unavailable: (name) => {
        const stats = this.serverStatus().find((s) => s.name === name);
        if (stats?.state !== 'open') return null;
        return unavailableToHttp(
          {
            data: { code: 'ESERVERUNAVAILABLE' },
            message: stats.lastError?.message ?? `MCP server "${name}" is failing`,
          },
          this.config.breakerCooldownMs,
        );
      },
      handle: (name, req, res, body) =>
        this.naiveMcp
          ? this.naiveMcp.handleRequest(name, req, res, body)
          : this.#hostingReady().then((hosting) => hosting.host.handleRequest(name, req, res, body)),
    };
    const handle = createRequestHandler({
      port: this.config.port,
      health: () => this.health(),
      token: () => this.token,
      ready: () => this.phase === 'ready',
      booted: this.booted,
      events: this.events,
      search: (query, signal) => this.search(query, signal),
      mcp,
      status: async () => this.status(),
      shutdown: (reason) => void this.shutdown(reason),
      metrics: this.metrics,
      requests: this.counters.requests,
      log: this.log,
    });
    return (req: Parameters<typeof handle>[0], res: Parameters<typeof handle>[1]) => {
      this.active++;
      res.once('close', () => this.active--);
      handle(req, res);
    };
  }

  async search(query: string, signal: AbortSignal): Promise<SearchResult> {
    await this.reloading;
    if (this.phase === 'stopping') throw new HttpError(503, 'the worker is shutting down');
    try {
      if (this.naiveHelper) return await this.naiveHelper.search(query, signal);
      return await (await this.#hostingReady()).search(query, signal);
    } catch (error) {
      if ((error as { code?: string }).code === 'ENOTHOSTED') {
        throw new HttpError(
          404,
          `/search needs the built-in demo server, and ${this.servers.source} does not define "demo"`,
        );
      }
      throw (
        unavailableToHttp(error, this.config.breakerCooldownMs) ??
        new HttpError(502, `search failed: ${(error as Error).message}`)
      );
    }
  }

  status(): Record<string, unknown> {
    return {
      ...this.health(),
      port: this.config.port,
      home: this.config.home,
      phase: this.phase,
      bound: this.bound,
      startedAt: this.startedAt,
      uptimeMs: Date.now() - this.startedAt,
      reloads: this.reloads,
      config: { source: this.servers.source, disabled: this.servers.disabled, warnings: this.servers.warnings },
      servers: this.serverStatus(),
      children: this.registry?.entries() ?? [],
      registry: this.registry ? { path: this.registry.path, ownership: this.registry.ownership } : null,
      breakers: { spawn: this.spawnBreaker?.toJSON() ?? null },
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

  #hostingLoad: Promise<Hosting> | null = null;

  /** The MCP host, created on first use (one dynamic import, single flight). */
  #hostingReady(): Promise<Hosting> {
    this.#hostingLoad ??= import('./mcp-hosting.js').then(({ createHosting }) => {
      this.hosting = createHosting({
        config: this.config,
        servers: this.servers,
        registry: () => this.#registryForSpawns(),
        log: this.log,
      });
      return this.hosting;
    });
    return this.#hostingLoad;
  }

  /** Per server, as the host reports it; before the host is loaded, every configured server is stopped. */
  serverStatus(): HostedStatus[] {
    if (this.hosting) return this.hosting.status();
    return Object.keys(this.servers.servers).map((name) => ({
      name,
      share: this.servers.servers[name]!.share ?? 'shared',
      state: 'stopped',
      breaker: 'closed',
      pid: null,
      pids: [],
      starts: 0,
      restarts: 0,
      sessions: 0,
      inFlight: 0,
      queued: 0,
      lastError: null,
      rssBytes: null,
    }));
  }

  /** The registry, once it is ours (or the wait for it has ended): backend spawns wait for it. */
  async #registryForSpawns(): Promise<Registry> {
    const registry = this.registry!;
    const state = registry.ownership.state;
    if (state === 'waiting' || state === 'claiming') await registry.claim().catch(() => undefined);
    return registry;
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
      if (n > 0) this.counters.reaped.inc({ phase: leftover ? 'boot' : 'shutdown' }, n);
      this.log.log('registry.reaped', { childPid: entry.pid, session: entry.session, leftover, ...result });
    });
    events.on('corruptFile', (e) => this.log.warn('registry.corrupt_file', e));
    events.on('writeError', (e) => this.log.error('registry.write_error', e));
  }

  #watchBreaker(breaker: CircuitBreaker): void {
    breaker.events.on('stateChange', ({ circuit, from, to }) => {
      this.counters.transitions.inc({ breaker: circuit ?? 'unnamed', from, to });
      this.log.log('breaker.state', { breaker: circuit, from, to });
    });
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

  /**
   * SIGHUP: reload the servers config in place. Same pid, port and token; sessions of unchanged
   * servers go on. A config that does not parse is logged and the old one kept (a typo must not
   * stop servers that work).
   */
  reload(): Promise<void> {
    if (this.phase !== 'ready') return this.reloading;
    this.phase = 'reloading';
    this.reloading = (async () => {
      this.log.log('reload.begin');
      try {
        const next = readServers(this.config, this.paths);
        for (const warning of next.warnings) this.log.warn('config.warning', { warning });
        // Not loaded yet: nothing runs, the next first use reads the new config.
        const result = this.#hostingLoad ? await (await this.#hostingLoad).reload(next) : null;
        this.servers = next;
        this.reloads++;
        if (this.bound) this.#writePidRecord();
        this.log.log('reload.done', { reloads: this.reloads, ...result });
      } catch (error) {
        this.log.error('reload.failed', { error });
      } finally {
        if (this.phase === 'reloading') this.phase = 'ready';
      }
    })();
    return this.reloading;
  }

  /**
   * A second signal: every recorded tree gets SIGKILL at once (start tokens still checked; a
   * graceful registry shutdown in progress is escalated), the files are removed, and the process
   * exits within about a second, whatever the drain or a backend close is still waiting for.
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
    // The token stays: it outlives daemons (clients configured with it keep working).
    if (record?.instanceId === this.instanceId) removeFile(this.paths.pidFile);
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
        const hosting = await this.#hostingLoad?.catch(() => null);
        await hosting?.close();
        await this.naiveMcp?.close();
      } catch (error) {
        log.error('shutdown.host_failed', { error });
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
