import type { Emitter, EventType, Handler, WildcardHandler } from 'mitt';

export type ShareMode = 'shared' | 'per-session';

/** Why a backend stopped. `exited`: on its own (crash, kill by hand); the others: the host stopped it. */
export type StopReason = 'exited' | 'idle' | 'session-closed' | 'reconfigured' | 'closed';

/** Why a message could not be delivered; every one of them is also answered (never left hanging) where it was a request. */
export type RoutingReason =
  /** A server-to-client request arrived while zero or several sessions had requests in flight (stdio carries no tag). */
  | 'ambiguous'
  /** The session it belongs to did not declare the capability (sampling, elicitation, roots). */
  | 'capability-missing'
  /** A response, progress or cancellation for an id or token nobody owns (late, or after a restart). */
  | 'unknown-id'
  /** A notification of a kind the host does not route, on a backend with several sessions. */
  | 'unroutable'
  /** A message that is not JSON-RPC 2.0, from a session. */
  | 'invalid';

export type McpHostEvents = {
  backendStarted: { server: string; pid: number; instance: string; durationMs: number; restart: boolean };
  backendStartFailed: { server: string; instance: string; error: Error };
  backendStopped: {
    server: string;
    pid: number;
    instance: string;
    reason: StopReason;
    code: number | null;
    signal: NodeJS.Signals | null;
    stderr: readonly string[];
  };
  /** A line of the backend's stderr, or a line of its stdout that is not JSON-RPC (chroma-mcp prints some). */
  output: { server: string; pid: number; stream: 'stdout' | 'stderr'; line: string };
  sessionOpened: { server: string; sessionId: string; clientName: string; protocolVersion: string };
  sessionClosed: { server: string; sessionId: string; reason: 'closed' | 'expired' | 'host-closed' | 'reconfigured' };
  routingError: {
    server: string;
    sessionId: string | null;
    direction: 'to-session' | 'to-backend';
    reason: RoutingReason;
    method: string | null;
    detail: string;
  };
};

/** Emit like mitt does, but a throwing listener neither breaks the caller nor the other listeners: it becomes a warning. */
export function safeEmit<Events extends Record<EventType, unknown>, Key extends keyof Events>(
  emitter: Emitter<Events>,
  type: Key,
  payload: Events[Key],
): void {
  const handlers = emitter.all.get(type) as Handler<Events[Key]>[] | undefined;
  const wildcards = emitter.all.get('*') as WildcardHandler<Events>[] | undefined;
  if (!handlers?.length && !wildcards?.length) return;
  for (const handler of [...(handlers ?? [])]) guard(type, () => handler(payload));
  for (const handler of [...(wildcards ?? [])]) guard(type, () => handler(type, payload));
}

function guard(type: PropertyKey, call: () => void): void {
  try {
    call();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    process.emitWarning(`a '${String(type)}' listener threw: ${message}`, 'SpawnguardMcpHostWarning');
  }
}

/** Time and timers, injectable so tests can run idle and cooldown periods without waiting. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The real clock; its timers never keep the process alive. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const timer = setTimeout(fn, ms);
    timer.unref();
    return timer;
  },
  clearTimeout(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
};
