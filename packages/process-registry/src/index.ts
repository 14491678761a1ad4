export type {
  ClaimOptions,
  OpenRegistryOptions,
  Registry,
  ShutdownOptions,
  SpawnResult,
  StopOptions,
  TakeoverOptions,
} from './api.js';
export { RegistryClosedError, RegistryFileError, RegistryNotOwnedError } from './errors.js';
export { FORMAT, VERSION } from './file.js';
export { openRegistry } from './open.js';
export { planSpawnOptions, type RegistrySpawnOptions } from './spawn-options.js';
export type {
  ClaimedEvent,
  CorruptReason,
  DropReason,
  Entry,
  GroupMember,
  LeftoversResult,
  NotOwnedReason,
  OwnerRecord,
  Ownership,
  OwnershipState,
  ReapedEntry,
  RegistryEvents,
  RegistryState,
  StopResult,
} from './types.js';
