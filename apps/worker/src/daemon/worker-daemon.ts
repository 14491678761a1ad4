import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { CircuitBreaker } from '@spawnguard/circuit-breaker';
import type { LeftoversResult, Registry } from '@spawnguard/process-registry';
import { processIdentity } from '@spawnguard/process-table';
import { type Config, WORKER_NAME } from '../config/config.js';
import { type HomePaths, keepToken, removeOwnPidRecord, writePidRecord } from '../config/home.js';
import { readServers, type ServersConfig } from '../config/servers-config.js';
import type { SearchResult } from '../helper/search-result.js';
import type { Backends, DaemonMode } from '../shared/daemon-mode.js';
import type { Logger } from '../shared/log.js';
import { VERSION } from '../shared/version.js';
import type { ConfigWatcher } from './config-watch.js';
import { createWorkerServer } from './daemon-server.js';
import { EventStore } from './events-store.js';
import { checkLingerLimits } from './lingering-close.js';
import { type HostedSource, hostedBackends, mcpEndpoint, notStartedStatus, searchFailure } from './mcp/endpoints.js';
import type { HostedStatus, Hosting } from './mcp/host.js';
import { refuseUnresolved, withVariables } from './mcp/unresolved-servers.js';
import { defineDaemonMetrics, Metrics } from './metrics.js';
import { leftoversSummary, registryForSpawns } from './registry.js';
import { createRequestHandler, type HealthBody } from './routes.js';
import { HttpError } from './security.js';
import { forceExit, installSignals, type Stoppable, stopInOrder } from './shutdown.js';

/** What asked for a reload: SIGHUP, the watcher, or a follow-up of reloads coalesced during one. */
export type ReloadTrigger = 'signal' | 'watch' | 'queued';

/** A refused reload, as status shows it until a reload succeeds. */
export interface ConfigError {
  message: string;
  code: string | null;
  /** When it was refused (ms since the epoch). */
  at: number;
  trigger: ReloadTrigger;
}

/** Status of a daemon that does not watch (SPAWNGUARD_WATCH=0, naive mode): SIGHUP only. */
const OFF = { state: 'off' } as const;

/**
 * One running daemon: its state, the boot steps in order (see boot.ts), and what the routes,
 * signals and metrics read from it. Each step's mechanics live in their own file: the mode
 * (defended-mode.ts or naive/naive.ts: bind, registry, breaker), mcp/ (the MCP host), shutdown.ts (stop).
 */
export class WorkerDaemon implements Stoppable {
  readonly instanceId = randomUUID();
  readonly startedAt = Date.now();
  readonly metrics = new Metrics();
  readonly events = new EventStore(100);
  startToken = '';
  token: string | null = null;
  reloads = 0;
  /** Reloads that were refused (the config did not parse, or could not be applied). */
  reloadFailures = 0;
  phase: 'booting' | 'ready' | 'reloading' | 'stopping' = 'booting';
  bound = false;
  server: Server;
  registry: Registry | null = null;
  spawnBreaker: CircuitBreaker | null = null;
  hosting: Hosting | null = null;
  /** What serves /search and /mcp: the host until the mode's start says otherwise. */
  #backends: Backends;
  leftovers: LeftoversResult | null = null;
  reloading: Promise<void> = Promise.resolve();
  stopping: Promise<void> | null = null;
  active = 0;
  /** Why the last reload was refused; null while the config in force is the file's last state. */
  #configError: ConfigError | null = null;
  #booted!: () => void;
  readonly booted = new Promise<void>((resolve) => {
    this.#booted = resolve;
  });
  readonly counters;
  readonly #hosted: HostedSource;

  constructor(
    readonly config: Config,
    readonly paths: HomePaths,
    readonly log: Logger,
    public servers: ServersConfig,
    /** How it binds and what it runs once bound: defended-mode.ts, or naive/naive.ts. */
    readonly mode: DaemonMode,
    /** Live reload (config-watch.ts); null when off (SPAWNGUARD_WATCH=0, naive mode). */
    readonly watcher: ConfigWatcher | null = null,
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
      configValid: () => this.#configError === null,
      reloads: () => ({ applied: this.reloads, refused: this.reloadFailures }),
      watching: () => this.watcher?.status().state === 'watching',
    });
    this.#hosted = {
      servers: () => this.servers,
      hosting: () => this.#hostingReady(),
      loadedHosting: () => this.#hostingLoad,
      serverStatus: () => this.serverStatus(),
      backends: () => this.#backends,
      breakerCooldownMs: config.breakerCooldownMs,
    };
    this.#backends = hostedBackends(this.#hosted);
    this.server = createWorkerServer(this.#handler(), { headersTimeoutMs: config.headersTimeoutMs });
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
    // Signals first: a SIGTERM during boot must still end in an orderly shutdown, not a half-boot.
    installSignals({
      isStopping: () => this.stopping !== null,
      stop: (reason) => void this.shutdown(reason),
      forceExit: (signal) => void forceExit(this, signal),
      reload: () => void this.reload('signal'),
      log,
    });
    this.startToken = (await processIdentity(process.pid).catch(() => null))?.startToken ?? '';

    // 1. Bind, or lose quietly before doing anything else.
    this.bound = await this.mode.bind(this.server);
    if (this.stopping) return;

    // 2. Only the winner writes files that point at it.
    if (this.bound) {
      this.token = keepToken(this.paths.token);
      this.#writePidRecord();
      // Live reload from here on: what changes while booting is queued like a SIGHUP (one reload once
      // ready), and what changed since the config was read above is handed on at once.
      this.watcher?.start(() => void this.reload('watch'));
    }

    // 3. The mode's own steps: the defended one opens the registry (takeover) and the spawn breaker.
    const started = await this.mode.start({
      isStopping: () => this.stopping !== null,
      stop: (reason) => void this.shutdown(reason),
      onReaped: (phase, count) => this.counters.reaped.inc({ phase }, count),
      onClaimed: (leftovers) => {
        this.leftovers = leftovers;
      },
      onBreaker: (breaker) => this.#watchBreaker(breaker),
      hosted: this.#backends,
    });
    if (!started) return;
    this.registry = started.registry;
    this.spawnBreaker = started.spawnBreaker;
    this.#backends = started.backends;

    // 4. Serve. The MCP host (and the SDK) load with the first /mcp or /search request, and
    // backends start on first use: an idle daemon carries neither.
    this.#booted();
    if (this.stopping) return;
    this.phase = 'ready';
    started.ready();
    log.log('boot.ready', {
      port: config.port,
      bound: this.bound,
      instanceId: this.instanceId,
      servers: Object.keys(this.servers.servers),
    });
    this.#reloadIfQueued();
  }

  /** A SIGHUP during the boot: the config read before it may be stale. */
  #reloadIfQueued(): void {
    if (this.#reloadAgain) void this.reload('queued');
  }

  #writePidRecord(): void {
    writePidRecord(this.paths.pidFile, {
      name: WORKER_NAME,
      pid: process.pid,
      startToken: this.startToken,
      port: this.config.port,
      version: VERSION,
      instanceId: this.instanceId,
      startedAt: this.startedAt,
      naive: this.config.naive,
      reloads: this.reloads,
    });
  }

  #handler() {
    const mcp = refuseUnresolved(mcpEndpoint(this.#hosted), () => this.servers);
    const handle = createRequestHandler({
      port: this.config.port,
      health: () => this.health(),
      token: () => this.token,
      ready: () => this.phase === 'ready',
      booted: this.booted,
      events: this.events,
      search: (query, signal) => this.search(query, signal),
      mcp,
      breakerCooldownMs: this.config.breakerCooldownMs,
      status: async () => this.status(),
      shutdown: (reason) => void this.shutdown(reason),
      metrics: this.metrics,
      requests: this.counters.requests,
      linger: checkLingerLimits({ ms: this.config.lingerMs, bytes: this.config.lingerBytes }),
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
      return await this.#backends.search(query, signal);
    } catch (error) {
      throw searchFailure(error, this.#hosted);
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
      config: {
        source: this.servers.source,
        disabled: this.servers.disabled,
        warnings: this.servers.warnings,
        valid: this.#configError === null,
        error: this.#configError,
        reloadFailures: this.reloadFailures,
        watch: this.watcher?.status() ?? OFF,
      },
      servers: this.serverStatus(),
      children: this.registry?.entries() ?? [],
      registry: this.registry ? { path: this.registry.path, ownership: this.registry.ownership } : null,
      breakers: { spawn: this.spawnBreaker?.toJSON() ?? null },
      leftoversReapedAtBoot: this.leftovers ? leftoversSummary(this.leftovers) : null,
      events: { total: this.events.total },
    };
  }

  #hostingLoad: Promise<Hosting> | null = null;

  /** The MCP host, created on first use (one dynamic import, single flight). */
  #hostingReady(): Promise<Hosting> {
    this.#hostingLoad ??= import('./mcp/host.js').then(({ createHosting }) => {
      this.hosting = createHosting({
        config: this.config,
        servers: this.servers,
        registry: () => registryForSpawns(this.registry!),
        log: this.log,
      });
      return this.hosting;
    });
    return this.#hostingLoad;
  }

  /** Per server, as the host reports it; before the host is loaded, every configured server is stopped. */
  serverStatus(): HostedStatus[] {
    return withVariables(this.servers, this.hosting?.status() ?? notStartedStatus(this.servers));
  }

  #watchBreaker(breaker: CircuitBreaker): void {
    breaker.events.on('stateChange', ({ circuit, from, to }) => {
      this.counters.transitions.inc({ breaker: circuit ?? 'unnamed', from, to });
      this.log.log('breaker.state', { breaker: circuit, from, to });
    });
  }

  /** A SIGHUP arrived while booting or reloading: one more reload once that is over. */
  #reloadAgain = false;

  /**
   * SIGHUP, or a change the watcher saw: reload the servers config in place. Same pid, port and
   * token; sessions of unchanged servers go on. A config that does not parse is logged, kept in
   * status and /metrics until a reload succeeds, and the old one kept (a typo must not stop servers
   * that work). Reloads asked for during a reload (or the boot) are coalesced: once it is over the
   * config is read once more, however many arrived, so the file's last state is in force; the
   * returned promise resolves after that follow-up too.
   */
  reload(trigger: ReloadTrigger = 'signal'): Promise<void> {
    if (this.phase === 'reloading' || this.phase === 'booting') {
      if (!this.#reloadAgain) this.log.log('reload.queued', { during: this.phase, trigger });
      this.#reloadAgain = true;
      return this.phase === 'reloading' ? this.reloading : Promise.resolve();
    }
    if (this.phase !== 'ready') return this.reloading;
    this.phase = 'reloading';
    this.reloading = (async () => {
      try {
        let next = trigger;
        do {
          this.#reloadAgain = false;
          await this.#reloadOnce(next);
          next = 'queued';
        } while (this.#reloadAgain && this.phase === 'reloading');
      } finally {
        if (this.phase === 'reloading') this.phase = 'ready';
      }
    })();
    return this.reloading;
  }

  async #reloadOnce(trigger: ReloadTrigger): Promise<void> {
    this.log.log('reload.begin', { trigger });
    // Before the read: a change made while it runs is then a change to the watcher (one more reload).
    this.watcher?.snapshot();
    try {
      const next = readServers(this.config, this.paths);
      for (const warning of next.warnings) this.log.warn('config.warning', { warning });
      // Not loaded yet: nothing runs, the next first use reads the new config.
      const result = this.#hostingLoad ? await (await this.#hostingLoad).reload(next) : null;
      this.servers = next;
      this.reloads++;
      if (this.bound) this.#writePidRecord();
      this.log.log('reload.done', { reloads: this.reloads, ...result });
      if (this.#configError) this.log.log('config.fixed', { since: this.#configError.at });
      this.#configError = null;
    } catch (error) {
      this.reloadFailures++;
      const { message, code } = error as { message?: unknown; code?: unknown };
      this.#configError = {
        message: String(message ?? error),
        code: typeof code === 'string' ? code : null,
        at: Date.now(),
        trigger,
      };
      this.log.error('reload.failed', { error, trigger, keeping: this.servers.source });
    }
  }

  async closeHosts(): Promise<void> {
    await this.#backends.close();
  }

  removeFiles(): void {
    // The token stays: it outlives daemons (clients configured with it keep working).
    if (this.bound) removeOwnPidRecord(this.paths.pidFile, this.instanceId);
  }

  shutdown(reason: string): Promise<void> {
    this.phase = 'stopping';
    this.watcher?.close();
    this.stopping ??= stopInOrder(this, reason);
    return this.stopping;
  }
}
