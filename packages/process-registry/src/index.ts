export { RegistryClosedError, RegistryFileError, RegistryNotOwnedError } from './errors.js';
export { FORMAT, VERSION } from './file.js';
export {
  type ClaimOptions,
  type OpenRegistryOptions,
  openRegistry,
  type Registry,
  type ShutdownOptions,
  type SpawnResult,
  type StopOptions,
  type TakeoverOptions,
} from './registry.js';
export { planSpawnOptions, type RegistrySpawnOptions } from './spawn-options.js';
export type {
  ClaimedEvent,
  CorruptReason,
  DropReason,
  Entry,
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
