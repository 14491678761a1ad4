export { backendEnv, DEFAULT_ENV_KEYS } from './backend/env.js';
export { DEFAULT_REGISTRY_FILE, type RegistryLike } from './backend/registry.js';
export type { SlotStats as InstanceStats } from './backend/slot.js';
export type { Clock } from './clock.js';
export { type FilterSpec, NameFilter } from './config/name-filter.js';
export {
  type ClientCapabilities,
  DEFAULT_CLIENT_CAPABILITIES,
  type McpHostOptions,
  type ServerConfig,
} from './config/options.js';
export {
  BackendExitedError,
  BackendQueueFullError,
  BackendStartError,
  BackendUnresponsiveError,
  FilteredError,
  HostClosedError,
  JSONRPC,
  MaxInstancesError,
  MaxSessionsError,
  type McpHostError,
  RequestTimeoutError,
  ServerUnavailableError,
  SessionClosedError,
  UnknownServerError,
} from './errors.js';
export type { McpHostEvents, RoutingReason, SessionEndReason, ShareMode, StopReason } from './events.js';
export { createMcpHost, McpHost, type ReconfigureResult, type SessionCloseReason } from './host.js';
export type { SessionTransport } from './routing/session.js';
export type { ServerStats } from './stats.js';
