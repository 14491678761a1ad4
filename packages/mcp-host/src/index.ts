export type { Clock } from './clock.js';
export { backendEnv, DEFAULT_ENV_KEYS } from './env.js';
export {
  BackendExitedError,
  BackendQueueFullError,
  BackendStartError,
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
export { type FilterSpec, NameFilter } from './name-filter.js';
export {
  type ClientCapabilities,
  DEFAULT_CLIENT_CAPABILITIES,
  type McpHostOptions,
  type ServerConfig,
} from './options.js';
export { DEFAULT_REGISTRY_FILE, type RegistryLike } from './registry.js';
export type { SessionTransport } from './session.js';
export type { SlotStats as InstanceStats } from './slot.js';
export type { ServerStats } from './stats.js';
