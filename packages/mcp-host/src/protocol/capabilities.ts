import {
  type ClientCapabilities,
  type InitializeResult,
  LATEST_PROTOCOL_VERSION,
  SUPPORTED_PROTOCOL_VERSIONS,
} from '@modelcontextprotocol/sdk/types.js';

/** What a session declared in its `initialize`. */
export interface ClientHello {
  protocolVersion: string;
  capabilities: ClientCapabilities;
  clientInfo: { name: string; version: string; [key: string]: unknown };
}

/** Reads a session's initialize params; null when they are not an initialize request's. */
export function readHello(params: unknown): ClientHello | null {
  if (params === null || typeof params !== 'object') return null;
  const p = params as Record<string, unknown>;
  if (typeof p.protocolVersion !== 'string') return null;
  const capabilities =
    p.capabilities && typeof p.capabilities === 'object' ? (p.capabilities as ClientCapabilities) : {};
  const info = p.clientInfo && typeof p.clientInfo === 'object' ? (p.clientInfo as Record<string, unknown>) : {};
  return {
    protocolVersion: p.protocolVersion,
    capabilities,
    clientInfo: {
      ...info,
      name: typeof info.name === 'string' ? info.name : 'unknown',
      version: typeof info.version === 'string' ? info.version : '',
    },
  };
}

/**
 * The protocol version a session gets: the one it asked for when the SDK knows it and the backend
 * speaks it or something newer; otherwise the backend's (the client then decides whether it can
 * speak that, as the spec says). Versions are dates, so they compare as strings.
 */
export function negotiateVersion(requested: string, backend: string): string {
  if ((SUPPORTED_PROTOCOL_VERSIONS as readonly string[]).includes(requested) && requested <= backend) return requested;
  return backend;
}

/** The initialize result one session receives: the backend's, with that session's negotiated version. */
export function sessionInitResult(backend: InitializeResult, hello: ClientHello): InitializeResult {
  return { ...backend, protocolVersion: negotiateVersion(hello.protocolVersion, backend.protocolVersion) };
}

/** The initialize a shared backend gets: the host's client info and the capabilities it always declares. */
export function sharedInitialize(capabilities: object, clientInfo: { name: string; version: string }) {
  return { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities, clientInfo };
}

/** A per-session backend is initialized exactly as its session asked (version, capabilities, client info). */
export function perSessionInitialize(hello: ClientHello) {
  const protocolVersion = (SUPPORTED_PROTOCOL_VERSIONS as readonly string[]).includes(hello.protocolVersion)
    ? hello.protocolVersion
    : LATEST_PROTOCOL_VERSION;
  return { protocolVersion, capabilities: hello.capabilities, clientInfo: hello.clientInfo };
}

/**
 * Whether a session can answer a server-to-client request: the capability the method needs
 * (sampling, elicitation in the requested mode, roots) must be in what it declared. Methods the
 * spec does not tie to a capability are allowed.
 */
export function canAnswer(capabilities: ClientCapabilities, method: string, params: unknown): boolean {
  switch (method) {
    case 'sampling/createMessage': {
      if (!capabilities.sampling) return false;
      const p = params as { tools?: unknown; includeContext?: unknown } | undefined;
      const sampling = capabilities.sampling as { tools?: unknown; context?: unknown };
      if (p?.tools !== undefined && !sampling.tools) return false;
      if (p?.includeContext !== undefined && p.includeContext !== 'none' && !sampling.context) return false;
      return true;
    }
    case 'elicitation/create': {
      const elicitation = capabilities.elicitation as { form?: unknown; url?: unknown } | undefined;
      if (!elicitation) return false;
      const mode = (params as { mode?: unknown } | undefined)?.mode ?? 'form';
      // An empty elicitation object is form support (the 2025-06-18 shape).
      if (mode === 'url') return elicitation.url !== undefined;
      return elicitation.form !== undefined || Object.keys(elicitation).length === 0;
    }
    case 'roots/list':
      return capabilities.roots !== undefined;
    default:
      return true;
  }
}

export const LOG_LEVELS = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
const RANK = new Map<string, number>(LOG_LEVELS.map((level, i) => [level, i]));

export const levelRank = (level: unknown): number | undefined =>
  typeof level === 'string' ? RANK.get(level) : undefined;
