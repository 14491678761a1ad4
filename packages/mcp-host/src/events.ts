export type ShareMode = 'shared' | 'per-session';

/**
 * Why a backend stopped. `exited`: on its own (crash, kill by hand); `unresponsive`: the host
 * stopped it after `maxTimeoutsInARow` request timeouts in a row (counted as a crash); the others:
 * the host stopped it.
 */
export type StopReason = 'exited' | 'unresponsive' | 'idle' | 'session-closed' | 'reconfigured' | 'closed';

/** Why a message could not be delivered; every one of them is also answered (never left hanging) where it was a request. */
export type RoutingReason =
  /** A server-to-client request nothing proves the cause of (no task tag, shared backend without `serialize`, or nothing in flight). */
  | 'ambiguous'
  /** The session it belongs to did not declare the capability (sampling, elicitation, roots). */
  | 'capability-missing'
  /** A response, progress or cancellation for an id or token nobody owns (late, or after a restart). */
  | 'unknown-id'
  /** A notification of a kind the host does not route, on a backend with several sessions. */
  | 'unroutable'
  /** A message that is not JSON-RPC 2.0, from a session. */
  | 'invalid'
  /** A message to a backend that does not read its stdin: `maxBackendQueueBytes` would be passed (a request is answered with EBACKENDQUEUEFULL). */
  | 'queue-full';

/**
 * Why a session ended. `closed`: DELETE, `closeSession()`, or its transport closed; `expired`: no
 * request and no stream for `sessionIdleMs`; `disconnected`: it had a GET stream and its client held
 * no connection for `streamReconnectGraceMs`; `evicted`: a per-session server at `maxInstances` made
 * room for a new session; `host-closed`, `reconfigured`: the host or its server went.
 */
export type SessionEndReason = 'closed' | 'expired' | 'disconnected' | 'evicted' | 'host-closed' | 'reconfigured';

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
  sessionClosed: { server: string; sessionId: string; reason: SessionEndReason };
  /** A session request the backend did not answer within requestTimeoutMs (failed with EREQUESTTIMEOUT and cancelled at the backend). */
  requestTimeout: {
    server: string;
    instance: string;
    sessionId: string;
    method: string;
    timeoutMs: number;
    /** Timeouts since this backend last answered a request. */
    inARow: number;
  };
  routingError: {
    server: string;
    sessionId: string | null;
    direction: 'to-session' | 'to-backend';
    reason: RoutingReason;
    method: string | null;
    detail: string;
  };
};

export const PACKAGE = '@spawnguard/mcp-host';
