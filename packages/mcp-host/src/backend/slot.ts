import { type ConnectionMemo, memoizeConnection } from '@spawnguard/connection-memo';
import { ensurePrivateDir } from '@spawnguard/internal';
import { BackendExitedError, BackendStartError, BackendUnresponsiveError, ServerUnavailableError } from '../errors.js';
import type { McpHostEvents, StopReason } from '../events.js';
import { type ClientHello, perSessionInitialize, sharedInitialize } from '../protocol/capabilities.js';
import { Router, type RouterLink } from '../routing/router.js';
import type { Session } from '../routing/session.js';
import { Backend, type ExitInfo } from './backend.js';
import type { ServerContext } from './server-context.js';

export interface SlotStats {
  instance: string;
  state: 'stopped' | 'starting' | 'running' | 'closed';
  pid: number | null;
  starts: number;
  restarts: number;
  sessions: number;
  inFlight: number;
  queued: number;
  /** Bytes queued for the backend's stdin that it has not read yet (bounded by maxBackendQueueBytes). */
  queuedBytes: number;
}

/**
 * Where a slot's backend is. `idle`: none (never started, stopped, or exited); `starting`: a start
 * is under way; `running`: `backend` is attached to the router; `closed`: final, no start again.
 * Changed only by `#to` (idle → starting → running → idle, and any → closed).
 */
export type SlotState =
  | { readonly kind: 'idle' }
  | { readonly kind: 'starting' }
  | { readonly kind: 'running'; readonly backend: Backend }
  | { readonly kind: 'closed' };

/**
 * One backend's lifecycle and its router: started lazily (connection-memo, through the server's
 * breaker), restarted on the next use after it died, stopped after `idleMs` without sessions
 * (shared) or with its session (per-session), its whole tree killed whenever it stops.
 */
export class Slot implements RouterLink {
  readonly router = new Router<Backend>(this);
  readonly server: string;
  readonly perSession: boolean;
  readonly serialize: boolean;
  starts = 0;
  restarts = 0;
  readonly #memo: ConnectionMemo<Backend>;
  #state: SlotState = { kind: 'idle' };
  /**
   * The memo's start in flight (and its retry check). It can outlive `starting`: the backend attaches
   * (running) inside it, and may even exit before it settles; no second start begins until it has.
   */
  #run: Promise<void> | null = null;
  #crashed = false;
  #idle: unknown = null;
  readonly #reasons = new WeakMap<Backend, StopReason>();
  /** Backends stopped for not answering (maxTimeoutsInARow): what their sessions were told, and the breaker records. */
  readonly #unresponsive = new WeakMap<Backend, BackendUnresponsiveError>();

  constructor(
    private readonly ctx: ServerContext,
    readonly instance: string,
    private readonly hello: ClientHello | null,
    private readonly onEmpty: (slot: Slot) => void,
  ) {
    this.server = ctx.config.name;
    this.perSession = hello !== null;
    this.serialize = ctx.config.serialize && hello === null;
    this.#memo = memoizeConnection<Backend>({
      connect: ({ signal }) => this.#start(signal),
      close: (backend) => backend.stop(ctx.killGraceMs),
      breaker: ctx.crashWindow,
      connectTimeoutMs: ctx.config.startTimeoutMs + ctx.killGraceMs + 5000,
    });
  }

  async #start(signal: AbortSignal): Promise<Backend> {
    const { ctx } = this;
    const { config } = ctx;
    const registry = await ctx.registry(signal);
    const restart = this.#crashed;
    this.starts++;
    ctx.totals.starts++;
    if (restart) {
      this.restarts++;
      ctx.totals.restarts++;
    }
    const began = ctx.clock.now();
    let backend: Backend;
    try {
      if (config.cwd === ctx.backendCwd) await this.#privateCwd(config.cwd);
      backend = await Backend.start(
        {
          server: config.name,
          instance: this.instance,
          command: config.command,
          args: config.args,
          env: ctx.env,
          cwd: config.cwd,
          windowsHide: config.windowsHide,
          startTimeoutMs: config.startTimeoutMs,
          maxLineBytes: ctx.maxLineBytes,
          maxQueueBytes: ctx.maxBackendQueueBytes,
          stderrLines: ctx.stderrLines,
          initialize: this.hello
            ? perSessionInitialize(this.hello)
            : sharedInitialize(config.clientCapabilities, ctx.clientInfo),
          onOutput: (stream, line, pid) => ctx.emit('output', { server: config.name, pid, stream, line }),
          onRefused: (message, error) =>
            this.routingError({
              sessionId: null,
              direction: 'to-backend',
              reason: 'queue-full',
              method: typeof message.method === 'string' ? message.method : null,
              detail: error.message,
            }),
        },
        registry,
        began,
        signal,
      );
    } catch (error) {
      if (error instanceof BackendStartError) {
        ctx.lastError = { message: error.message, at: ctx.clock.now(), stderr: error.stderr };
        ctx.emit('backendStartFailed', { server: config.name, instance: this.instance, error });
      }
      throw error;
    }
    this.#crashed = false;
    ctx.crashWindow.begin(backend);
    backend.onExit((info) => this.#exited(backend, info));
    ctx.emit('backendStarted', {
      server: config.name,
      pid: backend.pid,
      instance: this.instance,
      durationMs: ctx.clock.now() - began,
      restart,
    });
    this.#to({ kind: 'running', backend });
    this.router.attach(backend, this.starts > 1);
    return backend;
  }

  /** The default working directory: created empty and private, refused when it is a link, not ours, or open to others. */
  async #privateCwd(dir: string): Promise<void> {
    try {
      await ensurePrivateDir(dir);
    } catch (error) {
      throw new BackendStartError(
        this.server,
        `cannot use its working directory: ${(error as Error).message}`,
        [],
        null,
        null,
        null,
        { cause: error },
      );
    }
  }

  #exited(backend: Backend, info: ExitInfo): void {
    const reason = this.#reasons.get(backend) ?? 'exited';
    const unresponsive = this.#unresponsive.get(backend);
    const error = unresponsive ?? new BackendExitedError(this.server, backend.pid, info.code, info.signal, info.stderr);
    if (reason === 'exited') {
      this.#crashed = true;
      this.ctx.lastError = { message: error.message, at: this.ctx.clock.now(), stderr: info.stderr };
    }
    // Before the router fails what was in flight: an early exit, or one with requests in flight, is a breaker failure.
    this.ctx.crashWindow.ended(backend, {
      byItself: reason === 'exited',
      unresponsive: unresponsive !== undefined,
      inFlight: this.router.backend === backend ? this.router.inFlightCount : 0,
      error,
    });
    void this.#memo.invalidate(backend);
    if (this.#state.kind === 'running' && this.#state.backend === backend) this.#to({ kind: 'idle' });
    this.router.detach(backend, error);
    this.ctx.emit('backendStopped', {
      server: this.server,
      pid: backend.pid,
      instance: this.instance,
      reason,
      code: info.code,
      signal: info.signal,
      stderr: info.stderr,
    });
  }

  ensureBackend(): void {
    if (this.#state.kind !== 'idle' || this.#run) return;
    this.#to({ kind: 'starting' });
    // A failed start goes straight to the router: it holds the requests that waited for it.
    const run = this.#memo.get().then(
      () => {},
      (error: unknown) => {
        if (this.#state.kind === 'starting') this.#to({ kind: 'idle' });
        this.router.startFailed(this.#explain(error));
      },
    );
    this.#run = run.finally(() => {
      this.#run = null;
      if (this.#state.kind === 'starting') this.#to({ kind: 'idle' });
      if (!this.router.backend && this.router.waiting > 0) this.ensureBackend();
    });
  }

  /** The one place the state changes; `closed` is final. */
  #to(next: SlotState): void {
    if (this.#state.kind === 'closed') return;
    this.#state = next;
  }

  get state(): SlotState {
    return this.#state;
  }

  #explain(error: unknown): Error {
    const last = this.ctx.lastError;
    if ((error as { code?: unknown })?.code === 'EBROKENCIRCUIT') {
      const retryAfterMs = (error as { retryAfterMs?: number }).retryAfterMs ?? 0;
      return new ServerUnavailableError(this.server, retryAfterMs, last?.stderr ?? [], last?.message ?? null, {
        cause: error,
      });
    }
    if (error instanceof BackendStartError || error instanceof ServerUnavailableError) return error;
    const message = error instanceof Error ? error.message : String(error);
    return new BackendStartError(this.server, message, last?.stderr ?? [], null, null, null, { cause: error });
  }

  get filters() {
    return this.ctx.config.filters;
  }

  get requestTimeoutMs() {
    return this.ctx.config.requestTimeoutMs;
  }

  get clock() {
    return this.ctx.clock;
  }

  /** Reported; the `maxTimeoutsInARow`th in a row stops the backend as unresponsive. */
  requestTimedOut(report: Omit<McpHostEvents['requestTimeout'], 'server' | 'instance'>): void {
    this.ctx.emit('requestTimeout', { server: this.server, instance: this.instance, ...report });
    const max = this.ctx.config.maxTimeoutsInARow;
    if (max === 0 || report.inARow < max) return;
    const state = this.#state;
    if (state.kind !== 'running' || this.router.backend !== state.backend) return;
    this.#stopUnresponsive(state.backend, report.inARow, report.timeoutMs);
  }

  /**
   * A backend alive but not answering: stopped (whole tree) as a crash. Its requests in flight are
   * answered at once, not when the process is gone; requests not sent yet (and the next ones) wait
   * for a new backend, which the memo starts only once this one is stopped, through the breaker
   * that #exited has told of the failure by then.
   */
  #stopUnresponsive(backend: Backend, timeouts: number, timeoutMs: number): void {
    const error = new BackendUnresponsiveError(this.server, backend.pid, timeouts, timeoutMs, backend.stderrTail());
    this.#reasons.set(backend, 'unresponsive');
    this.#unresponsive.set(backend, error);
    this.#crashed = true;
    this.ctx.lastError = { message: error.message, at: this.ctx.clock.now(), stderr: error.stderr };
    void this.#memo.invalidate(backend); // first: a start the router asks for must not get this backend back
    this.#to({ kind: 'idle' });
    this.router.detach(backend, error);
  }

  routingError(event: Omit<McpHostEvents['routingError'], 'server'>): void {
    this.ctx.emit('routingError', { server: this.server, ...event });
  }

  sessionReady(session: Session): void {
    this.ctx.sessionReady(session);
  }

  initFailed(session: Session): void {
    this.ctx.initFailed(session);
  }

  sessionsChanged(count: number): void {
    if (this.#idle !== null) {
      this.ctx.clock.clearTimeout(this.#idle);
      this.#idle = null;
    }
    if (count > 0 || this.#state.kind === 'closed') return;
    if (this.perSession) {
      this.onEmpty(this);
      return;
    }
    const { idleMs } = this.ctx.config;
    if (idleMs === 0) return;
    this.#idle = this.ctx.clock.setTimeout(() => {
      this.#idle = null;
      if (this.router.sessions.size === 0) void this.stop('idle');
    }, idleMs);
  }

  /** Stops the backend (whole tree); the next use starts a new one. */
  async stop(reason: StopReason): Promise<void> {
    const current = this.#memo.current;
    if (current) this.#reasons.set(current, reason);
    await this.#memo.reset();
  }

  /** Final: stops the backend and refuses to start another. */
  async close(reason: StopReason): Promise<void> {
    if (this.#state.kind === 'closed') return;
    this.#to({ kind: 'closed' });
    if (this.#idle !== null) this.ctx.clock.clearTimeout(this.#idle);
    const current = this.#memo.current;
    if (current) this.#reasons.set(current, reason);
    await this.#memo.close();
  }

  get pid(): number | null {
    return this.router.backend?.pid ?? null;
  }

  stats(): SlotStats {
    const { kind } = this.#state;
    const state =
      kind === 'closed'
        ? 'closed'
        : kind === 'running'
          ? 'running'
          : kind === 'starting' || this.#run || this.#memo.state === 'connecting'
            ? 'starting'
            : 'stopped';
    return {
      instance: this.instance,
      state,
      pid: this.pid,
      starts: this.starts,
      restarts: this.restarts,
      sessions: this.router.sessions.size,
      inFlight: this.router.inFlightCount,
      queued: this.router.waiting,
      queuedBytes: this.router.backend?.queuedBytes ?? 0,
    };
  }
}
