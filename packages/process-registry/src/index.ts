export { RegistryClosedError, RegistryFileError, RegistryNotOwnedError } from './errors.js';
export { FORMAT, VERSION } from './file.js';
export {
  type OpenRegistryOptions,
  openRegistry,
  type Registry,
  type SpawnResult,
  type StopOptions,
} from './registry.js';
export { planSpawnOptions, type RegistrySpawnOptions } from './spawn-options.js';
export type {
  CorruptReason,
  DropReason,
  Entry,
  LeftoversResult,
  NotOwnedReason,
  OwnerRecord,
  ReapedEntry,
  RegistryEvents,
  RegistryState,
  StopResult,
} from './types.js';
