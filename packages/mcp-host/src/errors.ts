/** Every error this package creates carries a `code` and the name of the server it concerns. */

import type { SessionEndReason } from './events.js';

const tail = (stderr: readonly string[]): string =>
  stderr.length === 0 ? 'no stderr output' : `last stderr lines:\n  ${stderr.join('\n  ')}`;

/** The backend did not start: spawn failed, it exited before answering `initialize`, or the handshake timed out. */
export class BackendStartError extends Error {
  readonly code = 'EBACKENDSTART';
  constructor(
    readonly server: string,
    readonly reason: string,
    readonly stderr: readonly string[],
    readonly pid: number | null = null,
    readonly exitCode: number | null = null,
    readonly exitSignal: NodeJS.Signals | null = null,
    options?: { cause?: unknown },
  ) {
    super(`MCP server "${server}" failed to start: ${reason}; ${tail(stderr)}`, options);
    this.name = 'BackendStartError';
  }
}

/** The backend exited while requests were in flight (they fail at once with this). */
export class BackendExitedError extends Error {
  readonly code = 'EBACKENDEXITED';
  constructor(
    readonly server: string,
    readonly pid: number,
    readonly exitCode: number | null,
    readonly exitSignal: NodeJS.Signals | null,
    readonly stderr: readonly string[],
  ) {
    super(
      `MCP server "${server}" (pid ${pid}) exited (${exitSignal ?? `code ${exitCode}`}); it is restarted on the next request; ${tail(stderr)}`,
    );
    this.name = 'BackendExitedError';
  }
}

/**
 * The server's circuit is open after repeated failed starts or crashes (an exit within
 * `crashWindowMs` of a start, or with requests in flight; a stop for not answering): requests fail fast until `retryAfterMs` has passed.
 */
export class ServerUnavailableError extends Error {
  readonly code = 'ESERVERUNAVAILABLE';
  constructor(
    readonly server: string,
    readonly retryAfterMs: number,
    readonly stderr: readonly string[],
    readonly lastError: string | null,
    options?: { cause?: unknown },
  ) {
    super(
      `MCP server "${server}" is not started again for ${Math.ceil(retryAfterMs)} ms after repeated failed starts or crashes` +
        `${lastError ? ` (last: ${lastError})` : ''}; fix the server or its config; ${tail(stderr)}`,
      options,
    );
    this.name = 'ServerUnavailableError';
  }
}

/**
 * The backend does not read its stdin fast enough: what the host has queued for it plus this
 * message would pass `maxBackendQueueBytes`, so the message is refused instead of buffered.
 */
export class BackendQueueFullError extends Error {
  readonly code = 'EBACKENDQUEUEFULL';
  constructor(
    readonly server: string,
    readonly pid: number,
    readonly maxBackendQueueBytes: number,
    readonly queuedBytes: number,
    readonly messageBytes: number,
  ) {
    super(
      `MCP server "${server}" (pid ${pid}) is not reading its stdin: ${queuedBytes} bytes are queued for it and this ` +
        `message (${messageBytes} bytes) would pass maxBackendQueueBytes=${maxBackendQueueBytes}; not sent`,
    );
    this.name = 'BackendQueueFullError';
  }
}

/** A `share: 'per-session'` server already runs `maxInstances` backends and none of their sessions can be evicted. */
export class MaxInstancesError extends Error {
  readonly code = 'EMAXINSTANCES';
  constructor(
    readonly server: string,
    readonly maxInstances: number,
  ) {
    super(
      `MCP server "${server}" already runs maxInstances=${maxInstances} per-session backends, each with a session in use (a request in flight or a connected client); close a session or raise maxInstances`,
    );
    this.name = 'MaxInstancesError';
  }
}

/** A server already has `maxSessions` sessions: one more `initialize` (or `connect()`) is refused. */
export class MaxSessionsError extends Error {
  readonly code = 'EMAXSESSIONS';
  constructor(
    readonly server: string,
    readonly maxSessions: number,
  ) {
    super(
      `MCP server "${server}" already has maxSessions=${maxSessions} sessions; close a session (DELETE) or raise maxSessions`,
    );
    this.name = 'MaxSessionsError';
  }
}

export class UnknownServerError extends Error {
  readonly code = 'EUNKNOWNSERVER';
  constructor(readonly server: string) {
    super(`no MCP server named "${server}" is configured`);
    this.name = 'UnknownServerError';
  }
}

export class HostClosedError extends Error {
  readonly code = 'EHOSTCLOSED';
  constructor() {
    super('the MCP host is closed');
    this.name = 'HostClosedError';
  }
}

const ENDED: Record<SessionEndReason, string> = {
  closed: 'was closed',
  expired: 'expired (no request and no open stream for sessionIdleMs)',
  disconnected: 'ended: its client held no connection for streamReconnectGraceMs after it had a GET stream',
  evicted: 'was evicted to make room for a new session (maxInstances)',
  'host-closed': 'ended because the MCP host is closing',
  reconfigured: 'ended because its server was reconfigured (changed or removed)',
};

/** The session ended with this request queued or in flight: it is answered with this (and cancelled at the backend). */
export class SessionClosedError extends Error {
  readonly code = 'ESESSIONCLOSED';
  constructor(
    readonly server: string,
    readonly sessionId: string,
    readonly reason: SessionEndReason,
  ) {
    super(
      `MCP session ${sessionId} of server "${server}" ${ENDED[reason]}; the request was not answered by the server`,
    );
    this.name = 'SessionClosedError';
  }
}

/** A request named a tool, prompt or resource the server's filter leaves out: refused by the host, never sent to the server. */
export class FilteredError extends Error {
  readonly code = 'EFILTERED';
  constructor(
    readonly server: string,
    readonly kind: 'tool' | 'prompt' | 'resource',
    /** The tool or prompt name, or the resource URI. */
    readonly item: string,
    /** The config field: `tools`, `prompts` or `resources`. */
    readonly field: string,
    /** The filter in force, as `deny ["a","b*"]`. */
    readonly filter: string,
  ) {
    super(
      `${kind} ${JSON.stringify(item)} is not available on MCP server "${server}": its ${field} filter (${filter}) leaves it out`,
    );
    this.name = 'FilteredError';
  }
}

/** The server did not answer a session's request within `requestTimeoutMs`: the session gets this, the server a cancellation. */
export class RequestTimeoutError extends Error {
  readonly code = 'EREQUESTTIMEOUT';
  constructor(
    readonly server: string,
    readonly method: string,
    readonly timeoutMs: number,
  ) {
    super(
      `MCP server "${server}" did not answer ${method} within ${timeoutMs} ms (requestTimeoutMs); the request was cancelled at the server`,
    );
    this.name = 'RequestTimeoutError';
  }
}

/**
 * The backend got `maxTimeoutsInARow` request timeouts in a row with no answer between them: the
 * host took it for wedged and stopped it as a crash (a breaker failure). Its requests still in
 * flight are answered with this at once; the next request starts a new backend.
 */
export class BackendUnresponsiveError extends Error {
  readonly code = 'EBACKENDUNRESPONSIVE';
  constructor(
    readonly server: string,
    readonly pid: number,
    /** Timeouts in a row that made the host stop it. */
    readonly timeouts: number,
    readonly timeoutMs: number,
    readonly stderr: readonly string[],
  ) {
    super(
      `MCP server "${server}" (pid ${pid}) stopped answering: ${timeouts} request${timeouts === 1 ? '' : 's'} in a row got no answer within ${timeoutMs} ms ` +
        `(requestTimeoutMs, maxTimeoutsInARow=${timeouts}); it was stopped and is restarted on the next request; ${tail(stderr)}`,
    );
    this.name = 'BackendUnresponsiveError';
  }
}

export type McpHostError =
  | BackendStartError
  | BackendExitedError
  | BackendUnresponsiveError
  | ServerUnavailableError
  | BackendQueueFullError
  | MaxInstancesError
  | MaxSessionsError
  | UnknownServerError
  | HostClosedError
  | SessionClosedError
  | FilteredError
  | RequestTimeoutError;

/** JSON-RPC error codes the host answers with (besides the standard ones). */
export const JSONRPC = {
  /** The SDK's ConnectionClosed: the backend is gone (exited, or stopped as unresponsive), could not start, its circuit is open, or it reads too slowly (queue full); or the session ended. */
  backendUnavailable: -32000,
  /** The SDK's RequestTimeout: the server did not answer within `requestTimeoutMs`. */
  requestTimeout: -32001,
  /** HTTP: a request the transport refuses (method, media type, size, headers), as the SDK's transport does. */
  serverError: -32000,
  /** HTTP: no such session (the SDK's Streamable HTTP transport answers an unknown session id so). */
  sessionNotFound: -32001,
  /** The request was made before `initialize`. */
  notInitialized: -32002,
  /** A request the session may not make now (a second `initialize`, an id already in use). */
  invalidRequest: -32600,
  /** The body is not JSON, or not a JSON-RPC message. */
  parseError: -32700,
  methodNotFound: -32601,
  invalidParams: -32602,
  internal: -32603,
} as const;

/** The `error` member of a JSON-RPC response. */
export interface JsonRpcError {
  code: number;
  message: string;
  data?: unknown;
}

/** The `error` member of a JSON-RPC response for one of our errors: `data` names the server and carries the stderr tail. */
export function toJsonRpcError(error: unknown): { code: number; message: string; data?: Record<string, unknown> } {
  if (
    error instanceof BackendStartError ||
    error instanceof BackendExitedError ||
    error instanceof ServerUnavailableError
  ) {
    const data: Record<string, unknown> = { code: error.code, server: error.server, stderr: error.stderr };
    if (error instanceof ServerUnavailableError) data.retryAfterMs = error.retryAfterMs;
    return { code: JSONRPC.backendUnavailable, message: error.message, data };
  }
  if (error instanceof BackendUnresponsiveError) {
    const { code, server, pid, timeouts, timeoutMs, stderr } = error;
    return {
      code: JSONRPC.backendUnavailable,
      message: error.message,
      data: { code, server, pid, timeouts, timeoutMs, stderr },
    };
  }
  if (error instanceof SessionClosedError) {
    return {
      code: JSONRPC.backendUnavailable,
      message: error.message,
      data: { code: error.code, server: error.server, reason: error.reason },
    };
  }
  if (error instanceof MaxSessionsError) {
    const data = { code: error.code, server: error.server, maxSessions: error.maxSessions };
    return { code: JSONRPC.backendUnavailable, message: error.message, data };
  }
  if (error instanceof BackendQueueFullError) {
    const { code, server, maxBackendQueueBytes, queuedBytes, messageBytes } = error;
    return {
      code: JSONRPC.backendUnavailable,
      message: error.message,
      data: { code, server, maxBackendQueueBytes, queuedBytes, messageBytes },
    };
  }
  if (error instanceof FilteredError) {
    return {
      code: JSONRPC.invalidParams,
      message: error.message,
      data: { code: error.code, server: error.server, kind: error.kind, name: error.item, filter: error.filter },
    };
  }
  if (error instanceof RequestTimeoutError) {
    return {
      code: JSONRPC.requestTimeout,
      message: error.message,
      data: { code: error.code, server: error.server, method: error.method, timeoutMs: error.timeoutMs },
    };
  }
  if (error instanceof MaxInstancesError || error instanceof UnknownServerError || error instanceof HostClosedError) {
    return { code: JSONRPC.backendUnavailable, message: error.message, data: { code: error.code } };
  }
  return { code: JSONRPC.internal, message: error instanceof Error ? error.message : String(error) };
}
