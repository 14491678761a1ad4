import { CircuitBreaker } from '@spawnguard/circuit-breaker';
import type { Clock } from '../clock.js';
import type { ResolvedHost, ResolvedServer } from '../config/options.js';
import { BackendExitedError, BackendStartError, BackendUnresponsiveError } from '../errors.js';
import type { McpHostEvents } from '../events.js';
import type { Session } from '../routing/session.js';
import { CrashWindow } from './crash-window.js';
import { backendEnv } from './env.js';
import type { RegistryLike } from './registry.js';

/** What every backend of one server shares: its config, its breaker, the host's settings. */
export interface ServerContext {
  readonly config: ResolvedServer;
  readonly env: Record<string, string>;
  readonly breaker: CircuitBreaker;
  /** The breaker as the slots' memos use it: a start's verdict waits for its crash window. */
  readonly crashWindow: CrashWindow;
  readonly clock: Clock;
  readonly killGraceMs: number;
  readonly maxLineBytes: number;
  readonly maxBackendQueueBytes: number;
  /** The host's private default working directory: created (and checked) before a start that uses it. */
  readonly backendCwd: string;
  readonly stderrLines: number;
  readonly clientInfo: { name: string; version: string };
  registry(signal: AbortSignal): Promise<RegistryLike>;
  emit<K extends keyof McpHostEvents>(type: K, payload: McpHostEvents[K]): void;
  sessionReady(session: Session): void;
  initFailed(session: Session): void;
  /** The last failed start or crash of any of this server's backends, for errors and stats. */
  lastError: { message: string; at: number; stderr: readonly string[] } | null;
  /** Counted over every backend this server ever had (per-session slots come and go). */
  readonly totals: { starts: number; restarts: number };
}

export function serverBreaker(name: string, failureThreshold: number, cooldownMs: number, clock: Clock) {
  return new CircuitBreaker({
    name: `mcp:${name}`,
    failureThreshold,
    cooldownMs,
    now: () => clock.now(),
    // A backend that could not start, died on its own soon after (or with requests in flight: see
    // crash-window.ts), or stopped answering (maxTimeoutsInARow); a start the host itself aborted or
    // stopped (closing) does not count.
    isFailure: (error) =>
      error instanceof BackendStartError ||
      error instanceof BackendExitedError ||
      error instanceof BackendUnresponsiveError,
  });
}

/** One server's context, from the host's settings; `host` is how its slots reach back into the host. */
export function serverContext(
  config: ResolvedServer,
  opts: ResolvedHost,
  clock: Clock,
  host: Pick<ServerContext, 'registry' | 'emit' | 'initFailed'>,
): ServerContext {
  const breaker = serverBreaker(config.name, opts.failureThreshold, opts.cooldownMs, clock);
  return {
    config,
    env: backendEnv(process.platform, opts.baseEnv, config.env),
    breaker,
    crashWindow: new CrashWindow(breaker, clock, opts.crashWindowMs),
    clock,
    killGraceMs: opts.killGraceMs,
    maxLineBytes: opts.maxLineBytes,
    maxBackendQueueBytes: opts.maxBackendQueueBytes,
    backendCwd: opts.backendCwd,
    stderrLines: opts.stderrLines,
    clientInfo: opts.clientInfo,
    registry: host.registry,
    emit: host.emit,
    sessionReady: (session) =>
      host.emit('sessionOpened', {
        server: config.name,
        sessionId: session.id,
        clientName: session.hello?.clientInfo.name ?? 'unknown',
        protocolVersion: session.hello?.protocolVersion ?? '',
      }),
    initFailed: host.initFailed,
    lastError: null,
    totals: { starts: 0, restarts: 0 },
  };
}
