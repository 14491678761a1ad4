export {
  CircuitBreaker,
  type CircuitBreakerJSON,
  circuitBreaker,
  type ExecuteContext,
  type ExecuteOptions,
  type IsolationHandle,
} from './breaker.js';
export {
  BrokenCircuitError,
  type BrokenCircuitInit,
  type BrokenState,
  CircuitStoreError,
  type StoreProblem,
} from './errors.js';
export type { CircuitBreakerEvents, CircuitState } from './events.js';
export {
  FILE_FORMAT,
  FILE_VERSION,
  type FileStore,
  type FileStoreOptions,
  fileStore,
} from './file-store.js';
export { memoryStore } from './memory-store.js';
export type { CircuitBreakerOptions } from './options.js';
export type { CircuitSnapshot, CircuitStore, ProbeClaim, ProbeLease } from './snapshot.js';
export type { FileStoreFs } from './store-fs.js';
